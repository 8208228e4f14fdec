#include <gtest/gtest.h>

#include <fstream>

#include "environment.hpp"
#include "sandbox/policy_schema.hpp"
#include "sandbox/policy_set.hpp"

namespace tenex::sandbox {
namespace {

constexpr const char* kOwner = "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e";
constexpr const char* kOtherOwner =
    "25a23fd25ed8d99a994ba7bff2f44748acc499f6d2ae491f88499f54d69643d8";

ProjectRef project(const std::string& owner, const std::string& d) {
    return ProjectRef{.owner = owner, .d = d};
}

class PolicyDir : public ::testing::Test {
  protected:
    void write(const std::string& name, const std::string& text) {
        std::ofstream(dir_.path() / name) << text;
    }
    LoadedSet load() { return load_policy_dir(dir_.path()); }
    std::string path(const std::string& name) { return (dir_.path() / name).string(); }
    test::TempDir dir_;
};

TEST_F(PolicyDir, MergesKeyByKeyAndRecordsWhichFileSetEachValue) {
    write("default.yaml",
          "image: base:1\nresources:\n  memory: 1Gi\n  cpus: 1\nenv:\n  A: from-default\n  B: b\n");
    write("by-d.yaml", "match:\n  d: web\nresources:\n  memory: 4Gi\nenv:\n  A: from-d\n");
    const LoadedSet loaded = load();
    ASSERT_TRUE(loaded.diagnostics.empty()) << format_diagnostic(loaded.diagnostics[0]);
    const ResolvedPolicy r = resolve_policy(loaded.set, project(kOwner, "web"));
    EXPECT_TRUE(r.diagnostics.empty());
    EXPECT_EQ(r.policy.image, "base:1");
    EXPECT_EQ(r.policy.resources.memory_bytes, 4LL << 30);
    EXPECT_EQ(r.policy.resources.nano_cpus, 1'000'000'000);
    EXPECT_EQ(r.policy.env.at("A"), "from-d");
    EXPECT_EQ(r.policy.env.at("B"), "b");
    EXPECT_EQ(r.provenance.at("resources.memory").to_string(), path("by-d.yaml") + ":4:11");
    EXPECT_EQ(r.provenance.at("resources.cpus").to_string(), path("default.yaml") + ":4:9");
    EXPECT_EQ(r.provenance.at("env.A").file, path("by-d.yaml"));
    EXPECT_EQ(r.provenance.at("env.B").file, path("default.yaml"));
    EXPECT_EQ(r.provenance.count("resources.pids"), 0u);  // built-in default
    EXPECT_EQ(r.applied, (std::vector<std::string>{path("default.yaml"), path("by-d.yaml")}));

    // Another project gets only the default.
    const ResolvedPolicy other = resolve_policy(loaded.set, project(kOwner, "api"));
    EXPECT_EQ(other.policy.resources.memory_bytes, 1LL << 30);
    EXPECT_EQ(other.applied.size(), 1u);
}

TEST_F(PolicyDir, MostSpecificMatchWinsRegardlessOfFileNames) {
    write("default.yaml", "resources:\n  pids: 100\n");
    write("a-address.yaml",
          std::string("match:\n  address: 31933:") + kOwner + ":web\nresources:\n  pids: 400\n");
    write("b-d.yaml", "match:\n  d: web\nresources:\n  pids: 300\n  nofile: 3000\n");
    write("c-owner.yaml",
          "match:\n  owner: npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg\n"
          "resources:\n  pids: 200\n  nofile: 2000\n  memory: 3Gi\n");
    const LoadedSet loaded = load();
    ASSERT_TRUE(loaded.diagnostics.empty());
    EXPECT_EQ(loaded.set.overrides.size(), 3u);

    const ResolvedPolicy all = resolve_policy(loaded.set, project(kOwner, "web"));
    EXPECT_EQ(all.policy.resources.pids, 400);                // address beats d and owner
    EXPECT_EQ(all.policy.resources.nofile, 3000);             // d beats owner
    EXPECT_EQ(all.policy.resources.memory_bytes, 3LL << 30);  // only the owner file sets it
    EXPECT_EQ(all.applied, (std::vector<std::string>{path("default.yaml"), path("c-owner.yaml"),
                                                     path("b-d.yaml"), path("a-address.yaml")}));

    const ResolvedPolicy other_owner = resolve_policy(loaded.set, project(kOtherOwner, "web"));
    EXPECT_EQ(other_owner.policy.resources.pids, 300);  // d matches any owner

    const ResolvedPolicy owner_only = resolve_policy(loaded.set, project(kOwner, "cli"));
    EXPECT_EQ(owner_only.policy.resources.pids, 200);

    const ResolvedPolicy bare_d = resolve_policy(loaded.set, project("", "web"));
    EXPECT_EQ(bare_d.policy.resources.pids, 300);  // no owner: owner/address files do not apply
    EXPECT_EQ(bare_d.policy.resources.memory_bytes, 2LL << 30);
}

TEST_F(PolicyDir, ListsAreReplacedWholeNotAppended) {
    write("default.yaml", "security:\n  cap_add: [CHOWN, KILL]\nargs: [a, b]\n");
    write("x.yaml", "match: {d: x}\nsecurity:\n  cap_add: [SETUID]\n");
    const ResolvedPolicy r = resolve_policy(load().set, project(kOwner, "x"));
    EXPECT_EQ(r.policy.security.cap_add, (std::vector<std::string>{"SETUID"}));
    EXPECT_EQ(r.policy.args, (std::vector<std::string>{"a", "b"}));
}

TEST_F(PolicyDir, DirectoryRules) {
    write("default.yaml", "match: {d: x}\n");
    write("orphan.yaml", "image: a\n");
    write("broken.yml", "resources:\n  memory: 2GB\n");
    write("notes.txt", "not a policy");
    const LoadedSet loaded = load();
    ASSERT_EQ(loaded.diagnostics.size(), 3u);
    EXPECT_EQ(format_diagnostic(loaded.diagnostics[0]),
              path("broken.yml") +
                  ":2:11: resources.memory: invalid memory unit \"GB\" in \"2GB\": "
                  "use Ki, Mi, Gi, Ti (1024) or k, M, G, T (1000)");
    EXPECT_EQ(loaded.diagnostics[1].key_path, "match");
    EXPECT_NE(loaded.diagnostics[1].message.find("takes no match"), std::string::npos);
    EXPECT_EQ(loaded.diagnostics[2].file, path("orphan.yaml"));
    EXPECT_NE(loaded.diagnostics[2].message.find("must say which projects"), std::string::npos);
    EXPECT_FALSE(loaded.set.defaults.has_value());
    EXPECT_TRUE(loaded.set.overrides.empty());
}

TEST_F(PolicyDir, MissingDirectoryIsADiagnostic) {
    const LoadedSet loaded = load_policy_dir(dir_.path() / "nope");
    ASSERT_EQ(loaded.diagnostics.size(), 1u);
    EXPECT_NE(loaded.diagnostics[0].message.find("cannot read the policies directory"),
              std::string::npos);
}

TEST_F(PolicyDir, RulesThatSpanKeysPointAtTheLaterKey) {
    write("default.yaml", "resources:\n  memory: 2Gi\nnetwork:\n  mode: none\n");
    write("swap.yaml", "match: {d: s}\nresources:\n  memory_swap: 1Gi\n");
    write("egress.yaml", "match: {d: e}\nnetwork:\n  mode: egress\n");
    write("both.yaml", "match: {d: b}\nenv:\n  KEY: x\nsecrets:\n  KEY: /run/key\n");
    write("backoff.yaml", "match: {d: o}\nlifecycle:\n  backoff_initial: 10m\n  backoff_max: 1m\n");
    write("reserve.yaml", "match: {d: r}\nresources:\n  reservations: {memory: 3Gi}\n");
    const LoadedSet loaded = load();
    ASSERT_TRUE(loaded.diagnostics.empty());
    auto only_error = [&](const std::string& d) {
        const ResolvedPolicy r = resolve_policy(loaded.set, project(kOwner, d));
        EXPECT_EQ(r.diagnostics.size(), 1u) << d;
        return r.diagnostics.empty() ? std::string() : format_diagnostic(r.diagnostics[0]);
    };
    EXPECT_EQ(only_error("s"), path("swap.yaml") +
                                   ":3:16: resources.memory_swap: memory_swap "
                                   "(memory + swap) 1Gi is below memory 2Gi");
    EXPECT_EQ(only_error("e"), path("egress.yaml") +
                                   ":3:9: network.mode: mode egress needs at "
                                   "least one host:port in network.allow (or relays: true)");
    EXPECT_EQ(only_error("b"),
              path("both.yaml") + ":5:8: secrets.KEY: the same variable is also set in env");
    EXPECT_EQ(only_error("o"), path("backoff.yaml") +
                                   ":4:16: lifecycle.backoff_max: backoff_max is "
                                   "shorter than backoff_initial");
    EXPECT_EQ(only_error("r"), path("reserve.yaml") +
                                   ":3:26: resources.reservations.memory: reservation "
                                   "3Gi is above the memory limit 2Gi");
}

TEST_F(PolicyDir, WarningsDoNotFail) {
    write("default.yaml", "network:\n  allow: [a.b:443]\nresources:\n  disk: 10G\n");
    const ResolvedPolicy r = resolve_policy(load().set, project(kOwner, "x"));
    ASSERT_EQ(r.diagnostics.size(), 2u);
    EXPECT_FALSE(has_errors(r.diagnostics));
    EXPECT_EQ(r.diagnostics[0].key_path, "network.allow");
    EXPECT_EQ(r.diagnostics[1].key_path, "resources.disk");
    EXPECT_NE(r.diagnostics[1].message.find("xfs"), std::string::npos);
}

TEST_F(PolicyDir, RelaysWithModeNoneSayWhyTheGatewayIsOutOfReach) {
    write("default.yaml", "network:\n  mode: none\n  relays: true\n");
    const ResolvedPolicy r = resolve_policy(load().set, project(kOwner, "x"));
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_FALSE(has_errors(r.diagnostics));
    EXPECT_EQ(r.diagnostics[0].key_path, "network.relays");
    EXPECT_EQ(r.diagnostics[0].message,
              "ignored: mode none has no network, so the container cannot reach the daemon's Nostr "
              "gateway; use mode isolated or egress with relays: true");
}

TEST_F(PolicyDir, RelaysWithModeIsolatedAreTheGatewayAndNeedNoWarning) {
    write("default.yaml",
          "network:\n  mode: isolated\n  relays: true\n  relay_writes_per_second: 5\n");
    const ResolvedPolicy r = resolve_policy(load().set, project(kOwner, "x"));
    for (const auto& d : r.diagnostics) ADD_FAILURE() << format_diagnostic(d);
    bool shown = false;
    for (const auto& [k, v] : describe_policy(r.policy))
        if (k == "network.relays") {
            shown = true;
            EXPECT_EQ(v, "true (the daemon's relay gateway, the one thing the container reaches)");
        }
    EXPECT_TRUE(shown);
}

TEST_F(PolicyDir, RelaysWithModeOpenSayWhyThereIsNoGateway) {
    write("default.yaml", "network:\n  mode: open\n  relays: true\n  relay_write_burst: 5\n");
    const ResolvedPolicy r = resolve_policy(load().set, project(kOwner, "x"));
    ASSERT_EQ(r.diagnostics.size(), 2u);
    EXPECT_FALSE(has_errors(r.diagnostics));
    EXPECT_EQ(r.diagnostics[0].key_path, "network.relays");
    EXPECT_EQ(r.diagnostics[0].message,
              "ignored: mode open gets no Nostr gateway: its container is on the shared default "
              "bridge, where the gateway's forwarder (and its secret, in plain text) would be "
              "reachable by every container on that bridge, and it reaches relays directly anyway, "
              "so the gateway could not be its only Nostr peer; use mode isolated or egress with "
              "relays: true");
    EXPECT_EQ(r.diagnostics[1].key_path, "network.relay_write_burst");
    EXPECT_EQ(r.diagnostics[1].message,
              "ignored: the container has no relay gateway (needs mode isolated or egress with "
              "relays: true)");
}

TEST(PolicySet, BuiltInDefaultsAreTheSafeOnes) {
    const ResolvedPolicy r = resolve_policy(PolicySet{}, project(kOwner, "x"));
    EXPECT_TRUE(r.diagnostics.empty());
    EXPECT_EQ(r.policy.network.mode, NetworkMode::none);
    EXPECT_TRUE(r.policy.security.read_only_root);
    EXPECT_TRUE(r.policy.security.cap_add.empty());
    EXPECT_EQ(r.policy.security.user, "1000:1000");
    EXPECT_GT(r.policy.resources.memory_bytes, 0);
    EXPECT_GT(r.policy.resources.pids, 0);
}

TEST(PolicySet, ShippedPoliciesLoadAndMeanWhatTheySay) {
    const LoadedSet loaded = load_policy_dir(test::source_dir() / "policies");
    for (const auto& d : loaded.diagnostics) ADD_FAILURE() << format_diagnostic(d);
    ASSERT_TRUE(loaded.set.defaults.has_value());
    ASSERT_EQ(loaded.set.overrides.size(), 2u);
    EXPECT_EQ(loaded.set.defaults->settings.size(),
              resolve_policy(loaded.set, project(kOtherOwner, "x")).provenance.size());

    const ResolvedPolicy def = resolve_policy(loaded.set, project(kOtherOwner, "anything"));
    EXPECT_EQ(def.policy.image, "tenex-runtime:latest");
    EXPECT_EQ(def.policy.network.mode, NetworkMode::none);
    EXPECT_TRUE(def.diagnostics.empty());

    const ResolvedPolicy strict =
        resolve_policy(loaded.set, project(kOtherOwner, "untrusted-experiment"));
    EXPECT_EQ(strict.policy.network.mode, NetworkMode::none);
    EXPECT_EQ(strict.policy.resources.memory_bytes, 512LL << 20);
    EXPECT_EQ(strict.policy.lifecycle.restart, RestartMode::never);

    const ResolvedPolicy net = resolve_policy(loaded.set, project(kOwner, "anything"));
    EXPECT_TRUE(net.diagnostics.empty());
    EXPECT_EQ(net.policy.network.mode, NetworkMode::egress);
    std::vector<std::string> allow;
    for (const auto& a : net.policy.network.allow) allow.push_back(a.to_string());
    EXPECT_NE(std::find(allow.begin(), allow.end(), "relay.tenex.chat:443"), allow.end());
    EXPECT_NE(std::find(allow.begin(), allow.end(), "api.anthropic.com:443"), allow.end());
}

TEST(PolicySet, DescribeListsEveryLeaf) {
    Policy p;
    p.env["X"] = "1";
    auto rows = describe_policy(p);
    std::vector<std::string> paths;
    for (const auto& [k, v] : rows) paths.push_back(k);
    for (const char* key : {"image", "resources.memory", "resources.memory_swap", "network.mode",
                            "lifecycle.max_lifetime", "lifecycle.on_policy_change",
                            "security.tmpfs./tmp", "security.runtime", "env.X"})
        EXPECT_NE(std::find(paths.begin(), paths.end(), key), paths.end()) << key;
    // Every schema leaf is shown (dynamic maps by their entries).
    for (const auto& leaf : schema_leaf_paths()) {
        if (leaf.ends_with(".*")) continue;
        EXPECT_NE(std::find(paths.begin(), paths.end(), leaf), paths.end()) << leaf;
    }
    auto value = [&](const std::string& key) {
        for (const auto& [k, v] : rows)
            if (k == key) return v;
        return std::string("(missing)");
    };
    EXPECT_EQ(value("lifecycle.on_policy_change"), "next-trigger");
    p.lifecycle.on_policy_change = PolicyChange::immediately;
    rows = describe_policy(p);
    EXPECT_EQ(value("lifecycle.on_policy_change"), "immediately");
}

}  // namespace
}  // namespace tenex::sandbox
