// The network side that needs no engine: the egress plan built from a policy and the
// daemon's relays, and relay URL routes (forwarder addresses and the public-address check:
// tests/unit/hostnet/network_address_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>

#include "sandbox/sandbox_spec.hpp"

namespace tenex::sandbox {
namespace {

SpecContext context(std::vector<std::string> relays = {}) {
    SpecContext ctx;
    ctx.project = ProjectRef{.owner = std::string(64, 'a'), .d = "web"};
    ctx.project_dir = "/srv/projects/web";
    ctx.daemon_id = "d";
    ctx.secrets = SecretMode::redact;
    ctx.relays = std::move(relays);
    return ctx;
}

bool has_env(const SandboxSpec& s, const std::string& kv) {
    return std::find(s.container.env.begin(), s.container.env.end(), kv) != s.container.env.end();
}

TEST(NetworkPlan, BridgeNameFitsTheKernelLimitAndDiffersPerProject) {
    const ProjectRef a{.owner = std::string(64, 'a'), .d = "web"};
    const ProjectRef b{.owner = std::string(64, 'b'), .d = "web"};
    EXPECT_EQ(bridge_name(a).size(), 15u);
    EXPECT_TRUE(bridge_name(a).starts_with("tnx-"));
    EXPECT_NE(bridge_name(a), bridge_name(b));
    EXPECT_EQ(bridge_name(a), bridge_name(a));
}

TEST(NetworkPlan, EgressForwardsAllowEntriesAndRelaysOnlyWhenAsked) {
    Policy p;
    p.network.mode = NetworkMode::egress;
    p.network.allow = {{"api.anthropic.com", 443}, {"relay.tenex.chat", 443}};
    const std::vector<std::string> relays{"ws://127.0.0.1:7777", "wss://relay.tenex.chat"};
    auto s = build_sandbox_spec(p, context(relays));
    ASSERT_TRUE(s);
    EXPECT_EQ(s->network.bridge, bridge_name(context().project));
    ASSERT_EQ(s->network.forwards.size(), 2u);
    EXPECT_FALSE(s->network.forwards[0].trusted);
    EXPECT_TRUE(s->network.relay_urls.empty());
    for (const auto& e : s->container.env) EXPECT_FALSE(e.starts_with("TENEX_RELAYS=")) << e;

    p.network.relays = true;
    s = build_sandbox_spec(p, context(relays));
    ASSERT_TRUE(s);
    // relay.tenex.chat:443 is listed once (as the allow entry, untrusted); the loopback relay
    // gets a synthetic, trusted name.
    ASSERT_EQ(s->network.forwards.size(), 3u);
    const Forward& local = s->network.forwards[2];
    EXPECT_EQ(local.name, "tenex-relay-1");
    EXPECT_EQ(local.port, 7777);
    EXPECT_EQ(local.target_host, "127.0.0.1");
    EXPECT_TRUE(local.trusted);
    EXPECT_TRUE(has_env(*s, "TENEX_RELAYS=ws://tenex-relay-1:7777,wss://relay.tenex.chat"));

    // The policy's own TENEX_RELAYS wins.
    p.env["TENEX_RELAYS"] = "wss://mine.example";
    s = build_sandbox_spec(p, context(relays));
    ASSERT_TRUE(s);
    EXPECT_TRUE(has_env(*s, "TENEX_RELAYS=wss://mine.example"));
}

TEST(NetworkPlan, RelaysChangeTheDigest) {
    Policy p;
    p.network.mode = NetworkMode::egress;
    p.network.relays = true;
    auto a = build_sandbox_spec(p, context({"ws://127.0.0.1:1"}));
    auto b = build_sandbox_spec(p, context({"ws://127.0.0.1:2"}));
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->digest, b->digest);
}

TEST(NetworkPlan, WithAGatewayRelaysMeansTheGatewayOnly) {
    Policy p;
    p.network.mode = NetworkMode::egress;
    p.network.allow = {{"api.anthropic.com", 443}};
    p.network.relays = true;
    auto ctx = context({"ws://127.0.0.1:7777", "wss://relay.tenex.chat"});
    ctx.gateway_port = 7879;
    auto redacted = build_sandbox_spec(p, ctx);
    ASSERT_TRUE(redacted);
    ASSERT_EQ(redacted->network.forwards.size(), 2u);
    const Forward& gw = redacted->network.forwards[1];
    EXPECT_EQ(gw, (Forward{.name = "tenex-gateway",
                           .port = 7879,
                           .target_host = "127.0.0.1",
                           .target_port = 7879,
                           .trusted = true}));
    EXPECT_EQ(redacted->network.relay_urls,
              std::vector<std::string>{"ws://tenex-gateway:7879/<gateway secret>"});
    EXPECT_TRUE(has_env(*redacted, "TENEX_RELAYS=ws://tenex-gateway:7879/<gateway secret>"));
    // A start: the container gets its secret; the digest is the same whatever the secret.
    ctx.secrets = SecretMode::read;
    ctx.gateway_secret = std::string(64, 'e');
    auto started = build_sandbox_spec(p, ctx);
    ASSERT_TRUE(started);
    EXPECT_TRUE(has_env(*started, "TENEX_RELAYS=ws://tenex-gateway:7879/" + std::string(64, 'e')));
    ctx.gateway_secret = std::string(64, 'f');
    auto again = build_sandbox_spec(p, ctx);
    ASSERT_TRUE(again);
    EXPECT_EQ(started->digest, redacted->digest);
    EXPECT_EQ(again->digest, redacted->digest);
    for (const auto& e : redacted->container.env)
        EXPECT_EQ(e.find(std::string(64, 'e')), std::string::npos);
    // No secret at a start is an error, not a container without Nostr.
    ctx.gateway_secret.clear();
    EXPECT_FALSE(build_sandbox_spec(p, ctx));
    // The policy's own TENEX_RELAYS still wins.
    p.env["TENEX_RELAYS"] = "wss://mine.example";
    auto own = build_sandbox_spec(p, ctx);
    ASSERT_TRUE(own);
    EXPECT_TRUE(has_env(*own, "TENEX_RELAYS=wss://mine.example"));
}

TEST(NetworkPlan, OtherModesHaveNoForwards) {
    for (auto mode : {NetworkMode::none, NetworkMode::isolated, NetworkMode::open}) {
        for (std::uint16_t gateway_port : {0, 7879}) {
            if (mode == NetworkMode::isolated && gateway_port != 0) continue;  // below
            Policy p;
            p.network.mode = mode;
            p.network.relays = true;
            p.network.allow = {{"a.example", 443}};
            auto ctx = context({"ws://127.0.0.1:7777"});
            ctx.gateway_port = gateway_port;
            auto s = build_sandbox_spec(p, ctx);
            ASSERT_TRUE(s);
            EXPECT_TRUE(s->network.forwards.empty()) << to_string(mode);
            EXPECT_TRUE(s->network.relay_urls.empty()) << to_string(mode);
            for (const auto& e : s->container.env)
                EXPECT_FALSE(e.starts_with("TENEX_RELAYS=")) << e;
            EXPECT_EQ(s->network.bridge.empty(), mode != NetworkMode::isolated);
        }
    }
}

TEST(NetworkPlan, IsolatedWithRelaysGetsTheGatewayAndNothingElse) {
    Policy p;
    p.network.mode = NetworkMode::isolated;
    p.network.relays = true;
    p.network.allow = {{"a.example", 443}};  // ignored in isolated (policy check warns)
    auto ctx = context({"ws://127.0.0.1:7777", "wss://relay.tenex.chat"});
    ctx.gateway_port = 7879;
    auto redacted = build_sandbox_spec(p, ctx);
    ASSERT_TRUE(redacted) << redacted.error().message;
    EXPECT_TRUE(redacted->network.internal);
    EXPECT_EQ(redacted->network.network_name, network_name(ctx.project));
    EXPECT_TRUE(redacted->network.allow.empty());
    EXPECT_EQ(redacted->network.forwards, (std::vector<Forward>{{.name = "tenex-gateway",
                                                                 .port = 7879,
                                                                 .target_host = "127.0.0.1",
                                                                 .target_port = 7879,
                                                                 .trusted = true}}));
    EXPECT_EQ(redacted->network.relay_urls,
              std::vector<std::string>{"ws://tenex-gateway:7879/<gateway secret>"});
    EXPECT_TRUE(has_env(*redacted, "TENEX_RELAYS=ws://tenex-gateway:7879/<gateway secret>"));
    ctx.secrets = SecretMode::read;
    ctx.gateway_secret = std::string(64, 'e');
    auto started = build_sandbox_spec(p, ctx);
    ASSERT_TRUE(started);
    EXPECT_TRUE(has_env(*started, "TENEX_RELAYS=ws://tenex-gateway:7879/" + std::string(64, 'e')));
    EXPECT_EQ(started->container_relays,
              std::vector<std::string>{"ws://tenex-gateway:7879/" + std::string(64, 'e')});
    EXPECT_EQ(started->digest, redacted->digest);
    ctx.gateway_secret.clear();
    EXPECT_FALSE(build_sandbox_spec(p, ctx));
    // Without relays: nothing, and a different digest (the forwarder is part of the plan).
    p.network.relays = false;
    ctx.secrets = SecretMode::redact;
    auto without = build_sandbox_spec(p, ctx);
    ASSERT_TRUE(without);
    EXPECT_TRUE(without->network.forwards.empty());
    EXPECT_NE(without->digest, redacted->digest);
}

TEST(RelayRoute, SplitsUrls) {
    auto r = relay_route("wss://Relay.Example.com/path?x=1", 1);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->forward.name, "relay.example.com");
    EXPECT_EQ(r->forward.port, 443);
    EXPECT_EQ(r->inside_url, "wss://Relay.Example.com/path?x=1");
    r = relay_route("ws://localhost:8080/", 3);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->forward.name, "tenex-relay-3");
    EXPECT_EQ(r->forward.target_host, "localhost");
    EXPECT_EQ(r->inside_url, "ws://tenex-relay-3:8080/");
    r = relay_route("ws://[::1]:9000", 2);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->forward.target_host, "::1");
    EXPECT_EQ(r->forward.port, 9000);
    EXPECT_EQ(r->forward.name, "tenex-relay-2");
    EXPECT_FALSE(relay_route("http://x", 1));
    EXPECT_FALSE(relay_route("ws://user:pw@x", 1));
    EXPECT_FALSE(relay_route("ws://x:0", 1));
    EXPECT_FALSE(relay_route("ws://:80", 1));
}

}  // namespace
}  // namespace tenex::sandbox
