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

TEST(SwarmPolicy, EgressIsRefusedNoneIsolatedAndTheGatewayRun) {
    Policy egress = open_policy();
    egress.network.mode = NetworkMode::egress;
    egress.network.relays = true;
    auto diags = swarm_policy_diagnostics(egress, "f");
    ASSERT_EQ(keys(diags, Severity::error), std::set<std::string>{"network.mode"});
    EXPECT_NE(diags[0].message.find("not on swarm yet"), std::string::npos) << diags[0].message;
    // none and isolated are internal overlays there (SWARM.md).
    for (auto mode : {NetworkMode::none, NetworkMode::isolated, NetworkMode::open}) {
        Policy p = open_policy();
        p.network.mode = mode;
        EXPECT_TRUE(keys(swarm_policy_diagnostics(p, "f"), Severity::error).empty())
            << to_string(mode);
    }
    // The gateway through a forwarder service: a warning naming what the daemon needs and
    // that the secret crosses the cluster network in clear.
    Policy gateway = open_policy();
    gateway.network.mode = NetworkMode::isolated;
    gateway.network.relays = true;
    diags = swarm_policy_diagnostics(gateway, "f");
    EXPECT_TRUE(keys(diags, Severity::error).empty());
    ASSERT_TRUE(keys(diags, Severity::warning).count("network.relays"));
    for (const auto& d : diags)
        if (d.key_path == "network.relays") {
            EXPECT_NE(d.message.find("gateway.advertise"), std::string::npos) << d.message;
            EXPECT_NE(d.message.find("in clear"), std::string::npos) << d.message;
        }
}

ForwarderSpec forwarder() {
    return ForwarderSpec{.project_network = "tenex-net-abc",
                         .uplink_network = uplink_network_name("daemon-1"),
                         .listen_port = 7879,
                         .gateway = SwarmGateway{.image = "10.0.0.1:5000/tenex-forwarder:latest",
                                                 .target_ip = "10.0.0.254",
                                                 .target_port = 7889},
                         .daemon_id = "daemon-1",
                         .labels = {{kLabelManagedBy, kManagedByValue},
                                    {kLabelDaemon, "daemon-1"},
                                    {kLabelProject, "31933:ab:p"}}};
}

TEST(SwarmGatewayForwarder, OnTheProjectOverlayAsTenexGatewayAndOnTheUplink) {
    const auto spec = forwarder_service_spec(forwarder());
    EXPECT_EQ(spec["Name"], forwarder_service_name("tenex-net-abc"));
    EXPECT_EQ(spec["Mode"]["Replicated"]["Replicas"], 1);
    EXPECT_EQ(spec["EndpointSpec"]["Mode"], "dnsrr");  // no VIP (no IPVS on every kernel)
    const auto& nets = spec["TaskTemplate"]["Networks"];
    ASSERT_EQ(nets.size(), 2u);
    EXPECT_EQ(nets[0]["Target"], "tenex-net-abc");
    EXPECT_EQ(nets[0]["Aliases"], nlohmann::json::array({"tenex-gateway"}));
    EXPECT_EQ(nets[1]["Target"], uplink_network_name("daemon-1"));
    EXPECT_FALSE(nets[1].contains("Aliases"));  // tenex-gateway only where the project is
    // Swarm restarts it (it holds nothing); the project's own service has condition none.
    EXPECT_EQ(spec["TaskTemplate"]["RestartPolicy"]["Condition"], "any");
}

TEST(SwarmGatewayForwarder, ForwardsTheGatewayPortToTheAdvertisedAddressOnly) {
    const auto spec = forwarder_service_spec(forwarder());
    const auto& c = spec["TaskTemplate"]["ContainerSpec"];
    EXPECT_EQ(c["Image"], "10.0.0.1:5000/tenex-forwarder:latest");
    EXPECT_EQ(c["Args"], nlohmann::json::array({"7879", "10.0.0.254", "7889"}));
    EXPECT_FALSE(c.contains("Env"));  // no secret of any kind
    EXPECT_EQ(c["User"], "65534:65534");
    EXPECT_TRUE(c["ReadOnly"].get<bool>());
    EXPECT_EQ(c["CapabilityDrop"], nlohmann::json::array({"ALL"}));
    const auto& limits = spec["TaskTemplate"]["Resources"]["Limits"];
    EXPECT_GT(limits["MemoryBytes"].get<std::int64_t>(), 0);
    EXPECT_GT(limits["NanoCPUs"].get<std::int64_t>(), 0);
    EXPECT_GT(limits["Pids"].get<std::int64_t>(), 0);
}

TEST(SwarmGatewayForwarder, LabelledForTeardownButNeverAsAProjectContainer) {
    const auto spec = forwarder_service_spec(forwarder());
    for (const auto* where : {&spec["Labels"], &spec["TaskTemplate"]["ContainerSpec"]["Labels"]}) {
        const auto& l = *where;
        EXPECT_EQ(l[kLabelForwarderOf], "tenex-net-abc");
        EXPECT_EQ(l[kLabelForwarderDaemon], "daemon-1");
        EXPECT_EQ(l[kLabelProject], "31933:ab:p");
        EXPECT_EQ(l["tenex.gateway-target"], "10.0.0.254:7889");
        EXPECT_EQ(l[kLabelForwarderConfig],
                  "7879 10.0.0.254:7889 10.0.0.1:5000/tenex-forwarder:latest");
        // The orchestrator lists its containers by these two: a forwarder is none of them.
        EXPECT_FALSE(l.contains(kLabelManagedBy)) << l.dump();
        EXPECT_FALSE(l.contains(kLabelDaemon)) << l.dump();
    }
}

TEST(SwarmGatewayForwarder, NamesFitSwarmAndDifferPerNetworkAndDaemon) {
    EXPECT_NE(forwarder_service_name("tenex-net-a"), forwarder_service_name("tenex-net-b"));
    EXPECT_NE(uplink_network_name("d1"), uplink_network_name("d2"));
    EXPECT_LE(forwarder_service_name(std::string(200, 'x')).size(), 63u);
    EXPECT_LE(uplink_network_name(std::string(200, 'x')).size(), 63u);
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
