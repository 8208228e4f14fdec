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

TEST(SwarmPolicy, EveryNetworkModeRunsEgressIsWarnedAboutItsForwarders) {
    for (auto mode :
         {NetworkMode::none, NetworkMode::isolated, NetworkMode::open, NetworkMode::egress}) {
        Policy p = open_policy();
        p.network.mode = mode;
        if (mode == NetworkMode::egress)
            p.network.allow = {{.host = "api.example.com", .port = 443}};
        EXPECT_TRUE(keys(swarm_policy_diagnostics(p, "f"), Severity::error).empty())
            << to_string(mode);
    }
    Policy egress = open_policy();
    egress.network.mode = NetworkMode::egress;
    egress.network.relays = true;
    egress.network.allow = {{.host = "api.example.com", .port = 443}};
    auto diags = swarm_policy_diagnostics(egress, "f");
    EXPECT_TRUE(keys(diags, Severity::error).empty());
    ASSERT_TRUE(keys(diags, Severity::warning).count("network.mode"));
    for (const auto& d : diags) {
        if (d.key_path == "network.mode") {
            EXPECT_NE(d.message.find("public addresses only"), std::string::npos) << d.message;
        }
    }
    EXPECT_TRUE(keys(diags, Severity::warning).count("network.relays"));  // the gateway's

    // One name on two ports: one forwarder (one address) per name there.
    egress.network.allow.push_back({.host = "api.example.com", .port = 80});
    diags = swarm_policy_diagnostics(egress, "f");
    ASSERT_EQ(keys(diags, Severity::error), std::set<std::string>{"network"});
    for (const auto& d : diags) {
        if (d.severity == Severity::error) {
            EXPECT_NE(d.message.find("one port"), std::string::npos) << d.message;
        }
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

const std::map<std::string, std::string> kNetworkLabels = {
    {kLabelManagedBy, kManagedByValue}, {kLabelDaemon, "daemon-1"}, {kLabelProject, "31933:ab:p"}};

ForwarderSpec forwarder() {
    return ForwarderSpec{.project_network = "tenex-net-abc",
                         .uplink_network = uplink_network_name("daemon-1"),
                         .alias = kGatewayName,
                         .listen_port = 7879,
                         .target = "10.0.0.254",
                         .target_port = 7889,
                         .private_ok = false,
                         .image = "10.0.0.1:5000/tenex-forwarder:latest",
                         .daemon_id = "daemon-1",
                         .labels = kNetworkLabels};
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

// An egress plan as build_sandbox_spec makes it: the gateway, an allow-list name, the policy's
// own LLM endpoint by name and by address.
NetworkPlan egress_plan() {
    NetworkPlan plan;
    plan.mode = NetworkMode::egress;
    plan.network_name = "tenex-net-abc";
    plan.internal = true;
    plan.forwards = {{.name = kGatewayName,
                      .port = 7879,
                      .target_host = "127.0.0.1",
                      .target_port = 7879,
                      .trusted = true},
                     {.name = "api.example.com",
                      .port = 443,
                      .target_host = "api.example.com",
                      .target_port = 443,
                      .trusted = false},
                     {.name = "ollama.lan",
                      .port = 11434,
                      .target_host = "ollama.lan",
                      .target_port = 11434,
                      .trusted = true},
                     {.name = "tenex-llm",
                      .port = 8080,
                      .target_host = "10.1.2.3",
                      .target_port = 8080,
                      .trusted = true}};
    return plan;
}
const SwarmGateway kGateway{.target_ip = "10.0.0.254", .target_port = 7889};

TEST(SwarmForwarders, OnePerDestinationTheGatewayToItsAdvertisedAddress) {
    auto fw = plan_forwarders(egress_plan(), "fwd:1", kGateway, "daemon-1", kNetworkLabels);
    ASSERT_TRUE(fw) << fw.error().message;
    ASSERT_EQ(fw->size(), 4u);
    const auto& gw = (*fw)[0];
    EXPECT_EQ(gw.alias, kGatewayName);
    EXPECT_EQ(gw.target, "10.0.0.254");  // not the host's loopback of the single-engine plan
    EXPECT_EQ(gw.target_port, 7889);
    EXPECT_EQ(gw.listen_port, 7879);
    // An allow-list name: resolved by the forwarder, public addresses only.
    EXPECT_EQ((*fw)[1].alias, "api.example.com");
    EXPECT_EQ((*fw)[1].target, "api.example.com");
    EXPECT_FALSE((*fw)[1].private_ok);
    // The policy's own endpoint by name may be private (the operator named it); by address it
    // is used as it is.
    EXPECT_TRUE((*fw)[2].private_ok);
    EXPECT_EQ((*fw)[3].target, "10.1.2.3");
    EXPECT_FALSE((*fw)[3].private_ok);
    for (const auto& f : *fw) {
        EXPECT_EQ(f.image, "fwd:1");
        EXPECT_EQ(f.project_network, "tenex-net-abc");
        EXPECT_EQ(f.uplink_network, uplink_network_name("daemon-1"));
    }
    // Each its own service (its own address on the overlay: names sharing a port never
    // collide), the gateway's named as before egress existed (adopted across an upgrade).
    std::set<std::string> names;
    for (const auto& f : *fw) names.insert(forwarder_service_name(f.project_network, f.alias));
    EXPECT_EQ(names.size(), 4u);
    EXPECT_EQ(forwarder_service_name("tenex-net-abc", kGatewayName).substr(0, 9), "tenex-gw-");
    EXPECT_EQ(forwarder_service_name("tenex-net-abc", "api.example.com").substr(0, 9), "tenex-eg-");
    EXPECT_LE(forwarder_service_name(std::string(200, 'x'), std::string(300, 'y')).size(), 63u);
}

TEST(SwarmForwarders, WhatNoSwarmTaskReachesIsRefusedWithTheReason) {
    auto refused = [](const NetworkPlan& plan, const std::string& image, const SwarmGateway& gw) {
        auto fw = plan_forwarders(plan, image, gw, "daemon-1", kNetworkLabels);
        return fw ? std::string("accepted") : fw.error().message;
    };
    // The daemon's loopback (a local Ollama, the embedded relay with the gateway off).
    for (const std::string host : {"127.0.0.1", "localhost", "::1"}) {
        NetworkPlan plan = egress_plan();
        plan.forwards[2].target_host = host;
        EXPECT_NE(refused(plan, "fwd:1", kGateway).find("loopback"), std::string::npos) << host;
    }
    NetworkPlan two_ports = egress_plan();
    two_ports.forwards.push_back({.name = "api.example.com",
                                  .port = 80,
                                  .target_host = "api.example.com",
                                  .target_port = 80});
    EXPECT_NE(refused(two_ports, "fwd:1", kGateway).find("one port"), std::string::npos);
    EXPECT_NE(refused(egress_plan(), "fwd:1", SwarmGateway{}).find("gateway.advertise"),
              std::string::npos);
    EXPECT_NE(refused(egress_plan(), "", kGateway).find("forwarder_image"), std::string::npos);
    NetworkPlan isolated = egress_plan();
    isolated.mode = NetworkMode::isolated;
    EXPECT_NE(refused(isolated, "fwd:1", kGateway).find("nothing but the project gateway"),
              std::string::npos);
    // Nothing to forward needs neither image nor gateway.
    NetworkPlan nothing = egress_plan();
    nothing.forwards.clear();
    EXPECT_EQ(refused(nothing, "", SwarmGateway{}), "accepted");
}

TEST(SwarmForwarders, AnEgressForwarderResolvesItsNameAndCarriesItAsItsAlias) {
    ForwarderSpec f = forwarder();
    f.alias = "ollama.lan";
    f.listen_port = 11434;
    f.target = "ollama.lan";
    f.target_port = 11434;
    f.private_ok = true;
    const auto spec = forwarder_service_spec(f);
    EXPECT_EQ(spec["Name"], forwarder_service_name("tenex-net-abc", "ollama.lan"));
    const auto& c = spec["TaskTemplate"]["ContainerSpec"];
    EXPECT_EQ(c["Args"], nlohmann::json::array({"--private-ok", "11434", "ollama.lan", "11434"}));
    EXPECT_EQ(spec["TaskTemplate"]["Networks"][0]["Aliases"],
              nlohmann::json::array({"ollama.lan"}));
    EXPECT_EQ(spec["Labels"]["tenex.egress-target"], "ollama.lan:11434");
    EXPECT_EQ(spec["Labels"][kLabelForwarderConfig],
              "11434 ollama.lan:11434 any 10.0.0.1:5000/tenex-forwarder:latest");
    f.private_ok = false;
    EXPECT_EQ(forwarder_service_spec(f)["TaskTemplate"]["ContainerSpec"]["Args"],
              nlohmann::json::array({"11434", "ollama.lan", "11434"}));
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

TEST(SwarmSeed, OneShotAsRootWithOwnershipCapabilitiesOnlyOnTheUplink) {
    const SeedSpec seed{.service = "tenex-a-1",
                        .image = "registry:5000/tenex-forwarder@sha256:abc",
                        .url = "http://10.0.0.2:7796/seed/" + std::string(64, 'f'),
                        .owner = "1000:1000",
                        .volumes = {"tenex-nl-aaa", "tenex-nl-bbb"},
                        .replace = {"1"},
                        .constraints = {"node.role==worker"},
                        .spread = {"node.labels.zone"},
                        .reserve_nano_cpus = 1'000'000'000,
                        .reserve_memory_bytes = 1LL << 30,
                        .uplink_network = "tenex-uplink-123",
                        .daemon_id = "d1"};
    const auto spec = seed_service_spec(seed);
    EXPECT_EQ(spec["Name"], seed_service_name("tenex-a-1"));
    EXPECT_NE(seed_service_name("tenex-a-1"), seed_service_name("tenex-b-2"));
    EXPECT_EQ(spec["Mode"]["Replicated"]["Replicas"], 1);
    const auto& task = spec["TaskTemplate"];
    EXPECT_EQ(task["RestartPolicy"]["Condition"], "none");  // one attempt; the daemon retries
    const auto& c = task["ContainerSpec"];
    EXPECT_EQ(c["Image"], seed.image);
    EXPECT_EQ(c["Args"], nlohmann::json({"seed", "--owner", "1000:1000", "--replace", "1", seed.url,
                                         "/seed"}));
    EXPECT_EQ(c["User"], "0:0");
    EXPECT_EQ(c["ReadOnly"], true);
    EXPECT_EQ(c["CapabilityDrop"], nlohmann::json({"ALL"}));
    EXPECT_EQ(c["CapabilityAdd"], nlohmann::json({"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"}));
    ASSERT_EQ(c["Mounts"].size(), 2u);
    EXPECT_EQ(c["Mounts"][1]["Source"], "tenex-nl-bbb");
    EXPECT_EQ(c["Mounts"][1]["Target"], "/seed/1");
    EXPECT_EQ(c["Mounts"][1]["Type"], "volume");
    EXPECT_EQ(task["Networks"], nlohmann::json::parse(R"([{"Target": "tenex-uplink-123"}])"));
    EXPECT_EQ(task["Placement"]["Constraints"], nlohmann::json({"node.role==worker"}));
    EXPECT_EQ(task["Placement"]["Preferences"][0]["Spread"]["SpreadDescriptor"],
              "node.labels.zone");
    // Not a project container: reconcile and adoption never take it for one.
    EXPECT_FALSE(spec["Labels"].contains(kLabelManagedBy));
    EXPECT_EQ(spec["Labels"]["tenex.seed-of"], "tenex-a-1");
    EXPECT_LE(task["Resources"]["Limits"]["MemoryBytes"].get<std::int64_t>(), 64LL << 20);
    // Placed where the project fits: its reservations.
    EXPECT_EQ(task["Resources"]["Reservations"],
              nlohmann::json({{"NanoCPUs", 1'000'000'000}, {"MemoryBytes", 1LL << 30}}));
}

}  // namespace
}  // namespace tenex::sandbox
