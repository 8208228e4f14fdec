// `policy check --engine swarm`: what a policy loses on a swarm, by policy key.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "sandbox/swarm_engine.hpp"

namespace tenex::sandbox {
namespace {

using namespace std::chrono_literals;

std::set<std::string> keys(const std::vector<Diagnostic>& diags, Severity severity) {
    std::set<std::string> out;
    for (const auto& d : diags)
        if (d.severity == severity) out.insert(d.key_path);
    return out;
}

Policy open_policy() {
    Policy p;
    p.image = "tenex-probe:latest";
    p.network.mode = NetworkMode::open;
    p.lifecycle.pause_after = 0ms;  // the default pauses; PauseAfterIsIgnored looks at it
    return p;
}

TEST(SwarmPolicy, HardeningTheServiceApiLacksIsWarnedNotDropped) {
    Policy p = open_policy();
    p.resources.cpuset = "0";
    p.security.runtime = "runsc";
    const auto diags = swarm_policy_diagnostics(p, "default.yaml");
    EXPECT_TRUE(keys(diags, Severity::error).empty());
    // no-new-privileges and the seccomp profile (always set), swap off (the default: swap ==
    // memory), the tmpfs flags, cpuset and runtime.
    const std::set<std::string> want = {"security", "resources.memory_swap", "security.tmpfs",
                                        "resources.cpuset", "security.runtime"};
    EXPECT_EQ(keys(diags, Severity::warning), want);
    bool nnp = false, seccomp = false;
    for (const auto& d : diags) {
        EXPECT_EQ(d.file, "default.yaml");
        nnp = nnp || d.message.find("no-new-privileges") != std::string::npos;
        seccomp = seccomp || d.message.find("seccomp") != std::string::npos;
    }
    EXPECT_TRUE(nnp);
    EXPECT_TRUE(seccomp);
}

TEST(SwarmPolicy, PauseAfterIsIgnored) {
    Policy p = open_policy();
    p.lifecycle.pause_after = 30s;
    p.lifecycle.idle_timeout = 10min;
    EXPECT_TRUE(
        keys(swarm_policy_diagnostics(p, "f"), Severity::warning).count("lifecycle.pause_after"));
}

TEST(SwarmPolicy, EgressAndTheGatewayAreRefusedNoneAndIsolatedRun) {
    Policy egress = open_policy();
    egress.network.mode = NetworkMode::egress;
    egress.network.relays = true;
    auto diags = swarm_policy_diagnostics(egress, "f");
    ASSERT_EQ(keys(diags, Severity::error), std::set<std::string>{"network.mode"});
    EXPECT_NE(diags[0].message.find("not on swarm yet"), std::string::npos) << diags[0].message;
    // none and isolated are internal overlays there (SWARM.md); the gateway is not reachable.
    for (auto mode : {NetworkMode::none, NetworkMode::isolated, NetworkMode::open}) {
        Policy p = open_policy();
        p.network.mode = mode;
        EXPECT_TRUE(keys(swarm_policy_diagnostics(p, "f"), Severity::error).empty())
            << to_string(mode);
    }
    Policy gateway = open_policy();
    gateway.network.mode = NetworkMode::isolated;
    gateway.network.relays = true;
    diags = swarm_policy_diagnostics(gateway, "f");
    ASSERT_EQ(keys(diags, Severity::error), std::set<std::string>{"network.relays"});
    EXPECT_NE(diags[0].message.find("gateway"), std::string::npos) << diags[0].message;
}

TEST(SwarmPolicy, SecretsAreNamedAsFilesOnSwarm) {
    Policy p = open_policy();
    p.secrets = {{"API_KEY", "/etc/tenex-sandbox/secrets/key"}};
    const auto diags = swarm_policy_diagnostics(p, "f");
    ASSERT_TRUE(keys(diags, Severity::warning).count("secrets.API_KEY"));
    for (const auto& d : diags) {
        if (d.key_path == "secrets.API_KEY") {
            EXPECT_NE(d.message.find("/run/secrets/API_KEY"), std::string::npos);
        }
    }
    EXPECT_TRUE(keys(diags, Severity::error).empty());
}

}  // namespace
}  // namespace tenex::sandbox
