// The gateway in one process over loopback: the embedded relay upstream, the daemon's pool,
// the gateway, and a second RelayPool as the in-container client.
#include "gateway/server.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <mutex>
#include <thread>

#include "nostr/keys.hpp"
#include "relay/pool.hpp"
#include "relay/server.hpp"
#include "upstream_fixture.hpp"

namespace tenex::gateway {
namespace {

using namespace std::chrono_literals;

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

nostr::Event sign(const nostr::Keys& k, std::uint32_t kind, std::vector<nostr::Tag> tags,
                  std::string content = "x", std::optional<std::int64_t> at = {}) {
    nostr::UnsignedEvent u;
    u.kind = kind;
    u.tags = std::move(tags);
    u.content = std::move(content);
    u.created_at = at ? *at : now_s();
    auto e = nostr::sign_event(std::move(u), k);
    if (!e) throw std::runtime_error(e.error().message);
    return *e;
}

struct Seen {
    std::recursive_mutex mu;
    std::vector<nostr::Event> events;
    bool eose{false};
    void add(const nostr::Event& e) {
        std::lock_guard lk(mu);
        events.push_back(e);
    }
    std::set<std::string> contents() {
        std::lock_guard lk(mu);
        std::set<std::string> out;
        for (const auto& e : events) out.insert(e.content);
        return out;
    }
    bool wait(std::function<bool()> pred, std::chrono::milliseconds t = 5s) {
        auto end = std::chrono::steady_clock::now() + t;
        while (std::chrono::steady_clock::now() < end) {
            {
                std::lock_guard lk(mu);
                if (pred()) return true;
            }
            std::this_thread::sleep_for(10ms);
        }
        std::lock_guard lk(mu);
        return pred();
    }
};

// A container's client: a pool with the gateway URL as its only relay.
struct Client {
    std::unique_ptr<relay::RelayPool> pool = std::make_unique<relay::RelayPool>();
    explicit Client(const std::string& url) { EXPECT_TRUE(pool->add_relay(url)); }
    bool connected() { return pool->wait_connected(1, 3s); }
    void sub(Seen& seen, const std::string& filter, const std::string& id = "s") {
        auto f = nostr::Filter::parse(filter);
        ASSERT_TRUE(f) << f.error().message;
        ASSERT_TRUE(pool->subscribe(
            id, {*f}, [&seen](const relay::DeliveredEvent& d) { seen.add(d.event); },
            [&seen](const std::string&, const std::string&) {
                std::lock_guard lk(seen.mu);
                seen.eose = true;
            }));
    }
    relay::RelayOk publish(const nostr::Event& e) {
        auto r = pool->publish(e, 5s).get();
        return r.relays.empty() ? relay::RelayOk{} : r.relays.front();
    }
    std::string last_error() {
        auto s = pool->status();
        return s.empty() ? "" : s.front().last_error;
    }
    std::uint64_t notices() {
        auto s = pool->status();
        return s.empty() ? 0 : s.front().notices;
    }
};

class GatewayTest : public UpstreamRelayTest {
  protected:
    void SetUp() override {
        UpstreamRelayTest::SetUp();
        if (HasFatalFailure()) return;
        start_gateway();
        alpha = nostr::Address{31933, owner.pub.hex(), "alpha"};
        beta = nostr::Address{31933, owner.pub.hex(), "beta"};
        secret_a = gw->open_project(ProjectKeys{alpha, {agent_a.pub.hex()}, {}});
        secret_b = gw->open_project(ProjectKeys{beta, {agent_b.pub.hex()}, {}});
        // The owner's material upstream.
        direct = std::make_unique<Client>(upstream->url());
        ASSERT_TRUE(direct->connected());
        for (const auto& e : {sign(owner, 31933, {{"d", "alpha"}}, "project alpha"),
                              sign(owner, 31933, {{"d", "beta"}}, "project beta"),
                              sign(owner, 1, {{"a", alpha.to_string()}}, "to alpha"),
                              sign(owner, 1, {{"a", beta.to_string()}}, "to beta"),
                              sign(owner, 1, {{"p", agent_b.pub.hex()}}, "to beta's agent"),
                              sign(owner, 1, {}, "to nobody")})
            ASSERT_TRUE(direct->publish(e).accepted);
    }
    void start_gateway(std::filesystem::path db = {}, double burst = 50, double rate = 10) {
        GatewayOptions o;
        o.write_rate_per_s = rate;
        o.bindings_db = std::move(db);
        o.write_burst = burst;
        o.max_subscriptions = 4;
        o.eose_timeout = 2000ms;
        auto g = Gateway::start(o, pool);
        ASSERT_TRUE(g) << g.error().message;
        gw = std::move(*g);
        gw->set_reserved_keys({owner.pub.hex()});
    }
    std::string url(const std::string& secret) { return gw->url_for("127.0.0.1", secret); }

    nostr::Keys owner = nostr::Keys::generate();
    nostr::Keys agent_a = nostr::Keys::generate();
    nostr::Keys agent_b = nostr::Keys::generate();
    nostr::Keys stranger = nostr::Keys::generate();
    nostr::Address alpha, beta;
    std::string secret_a, secret_b;
    std::unique_ptr<Gateway> gw;
    std::unique_ptr<Client> direct;
};

TEST_F(GatewayTest, EachProjectSeesOnlyItsOwnStoredAndLiveEvents) {
    Client a(url(secret_a)), b(url(secret_b));
    ASSERT_TRUE(a.connected());
    ASSERT_TRUE(b.connected());
    Seen sa, sb;
    a.sub(sa, R"({"kinds":[0,1,31933]})");
    b.sub(sb, R"({"kinds":[0,1,31933]})");
    ASSERT_TRUE(sa.wait([&] { return sa.eose; }));
    ASSERT_TRUE(sb.wait([&] { return sb.eose; }));
    EXPECT_EQ(sa.contents(), (std::set<std::string>{"project alpha", "to alpha"}));
    EXPECT_EQ(sb.contents(), (std::set<std::string>{"project beta", "to beta", "to beta's agent"}));
    // A third party a-tags alpha upstream: it reaches alpha live, and beta never.
    ASSERT_TRUE(
        direct->publish(sign(stranger, 1, {{"a", alpha.to_string()}}, "live for alpha")).accepted);
    ASSERT_TRUE(
        direct->publish(sign(stranger, 1, {{"a", beta.to_string()}}, "live for beta")).accepted);
    EXPECT_TRUE(sa.wait([&] { return sa.events.size() == 3; }));
    EXPECT_TRUE(sb.wait([&] { return sb.events.size() == 4; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(sa.contents(),
              (std::set<std::string>{"project alpha", "to alpha", "live for alpha"}));
    EXPECT_EQ(sb.contents().count("live for alpha"), 0u);
    EXPECT_GT(gw->stats().events_hidden, 0u);
}

// Live events are routed through an index of the subscriptions' filters: every shape of
// filter still gets exactly what it matches (no condition, ids, two tag letters, kinds), and a
// closed subscription gets nothing more.
TEST_F(GatewayTest, LiveEventsReachEveryShapeOfSubscription) {
    Client a(url(secret_a));
    ASSERT_TRUE(a.connected());
    const auto by_id = sign(stranger, 1, {{"a", alpha.to_string()}}, "by id");
    Seen any, ids, two, kind;
    a.sub(any, R"({"limit":0})", "any");
    a.sub(ids, R"({"ids":[")" + by_id.id + R"("],"limit":0})", "ids");
    a.sub(two,
          R"({"#a":[")" + alpha.to_string() + R"("],"#p":[")" + agent_a.pub.hex() +
              R"("],"limit":0})",
          "two");
    a.sub(kind, R"({"kinds":[7],"limit":0})", "kind");
    for (Seen* s : {&any, &ids, &two, &kind}) ASSERT_TRUE(s->wait([&] { return s->eose; }));
    ASSERT_TRUE(direct->publish(by_id).accepted);
    ASSERT_TRUE(direct
                    ->publish(sign(stranger, 1,
                                   {{"a", alpha.to_string()}, {"p", agent_a.pub.hex()}}, "both"))
                    .accepted);
    ASSERT_TRUE(
        direct->publish(sign(stranger, 7, {{"a", alpha.to_string()}}, "reaction")).accepted);
    ASSERT_TRUE(
        direct->publish(sign(stranger, 7, {{"a", beta.to_string()}}, "beta's reaction")).accepted);
    EXPECT_TRUE(any.wait([&] {
        return any.contents() == std::set<std::string>{"by id", "both", "reaction"};
    })) << any.contents().size();
    EXPECT_TRUE(kind.wait([&] { return kind.contents() == std::set<std::string>{"reaction"}; }));
    EXPECT_EQ(ids.contents(), std::set<std::string>{"by id"});
    EXPECT_EQ(two.contents(), std::set<std::string>{"both"});
    // Closed: the index forgets it.
    a.pool->unsubscribe("any");
    std::this_thread::sleep_for(200ms);
    ASSERT_TRUE(
        direct->publish(sign(stranger, 7, {{"a", alpha.to_string()}}, "late reaction")).accepted);
    EXPECT_TRUE(kind.wait([&] { return kind.contents().count("late reaction") == 1; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(any.contents().count("late reaction"), 0u);
    EXPECT_EQ(any.contents().count("beta's reaction"), 0u);
}

TEST_F(GatewayTest, AnUpstreamRestartResubscribesAndLosesNothingTagged) {
    Client a(url(secret_a));
    ASSERT_TRUE(a.connected());
    Seen sa;
    a.sub(sa, R"({"kinds":[1],"#a":[")" + alpha.to_string() + R"("],"limit":0})");
    ASSERT_TRUE(sa.wait([&] { return sa.eose; }));
    // The upstream relay goes away and comes back on the same port (empty: memory only).
    const auto port = upstream->port();
    upstream.reset();
    std::this_thread::sleep_for(300ms);
    relay::RelayServerOptions ro;
    ro.port = port;
    auto r = relay::EmbeddedRelay::start(ro);
    ASSERT_TRUE(r) << r.error().message;
    upstream = std::move(*r);
    // Published at once, most likely before the daemon's pool is back: the resubscription
    // (since the newest seen, limit dropped) brings it anyway.
    Client third(upstream->url());
    ASSERT_TRUE(third.connected());
    EXPECT_TRUE(
        third.publish(sign(stranger, 1, {{"a", alpha.to_string()}}, "after the restart")).accepted);
    EXPECT_TRUE(sa.wait([&] { return sa.contents().count("after the restart") == 1; }, 15s));
    EXPECT_EQ(sa.contents().count("to alpha"), 0u);  // limit 0: live only
}

// A message that wakes a project arrives before its runtime subscribes, and the runtime asks
// only for new events (limit 0): the gateway holds it and hands it to the first subscription
// that matches, once, after EOSE. Held events keep to the scope rule, and one the project
// already received live is not held.
TEST_F(GatewayTest, TheMessageThatWokeAProjectReachesItsFirstSubscription) {
    const auto wake = sign(owner, 1, {{"a", alpha.to_string()}}, "wake alpha");
    ASSERT_TRUE(direct->publish(wake).accepted);
    gw->hold_for_project(alpha.to_string(), wake);
    // Routed to alpha, but it a-tags beta too: the scope rule never lets it out.
    const auto both =
        sign(owner, 1, {{"a", alpha.to_string()}, {"a", beta.to_string()}}, "to both");
    gw->hold_for_project(alpha.to_string(), both);
    std::this_thread::sleep_for(100ms);

    Client a(url(secret_a));
    ASSERT_TRUE(a.connected());
    Seen other, sa;
    a.sub(other, R"({"kinds":[7]})", "reactions");  // matches nothing held
    a.sub(sa, R"({"#a":[")" + alpha.to_string() + R"("],"limit":0})", "tagged");
    ASSERT_TRUE(sa.wait([&] { return sa.eose; }));
    // Alpha has an agent key: the runtime has not booted the project until that agent speaks
    // (a TENEX backend would drop a message it gets before), so nothing is handed over yet.
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(sa.contents().empty());
    ASSERT_TRUE(a.publish(sign(agent_a, 0, {}, "agent profile")).accepted);
    ASSERT_TRUE(sa.wait([&] { return sa.events.size() == 1; }));
    EXPECT_EQ(sa.contents(), (std::set<std::string>{"wake alpha"}));
    EXPECT_TRUE(other.contents().empty());
    // Delivered once: a second subscription gets nothing held.
    Seen again;
    a.sub(again, R"({"#a":[")" + alpha.to_string() + R"("],"limit":0})", "again");
    ASSERT_TRUE(again.wait([&] { return again.eose; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(again.contents().empty());
    EXPECT_EQ(gw->stats().events_replayed, 1u);  // "to both" was held, and hidden by the scope rule
    EXPECT_EQ(sa.contents().count("to both"), 0u);

    // While a live subscription matches, a routed event comes live and is not held again.
    const auto live = sign(owner, 1, {{"a", alpha.to_string()}}, "live");
    gw->hold_for_project(alpha.to_string(), live);
    ASSERT_TRUE(direct->publish(live).accepted);
    ASSERT_TRUE(sa.wait([&] { return sa.contents().count("live") == 1; }));
    Seen later;
    a.sub(later, R"({"#a":[")" + alpha.to_string() + R"("],"limit":0})", "later");
    ASSERT_TRUE(later.wait([&] { return later.eose; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(later.contents().empty());
    // Another project never receives what was held for alpha.
    Client b(url(secret_b));
    ASSERT_TRUE(b.connected());
    Seen sb;
    gw->hold_for_project(alpha.to_string(),
                         sign(owner, 1, {{"a", alpha.to_string()}}, "held for alpha"));
    b.sub(sb, R"({"kinds":[1],"limit":0})");
    ASSERT_TRUE(sb.wait([&] { return sb.eose; }));
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(sb.contents().empty());
}

// The upstream relay allows 5 subscriptions per connection (strfry allows 20): 30 projects
// with 3 live subscriptions each all receive their own events, because the gateway sends one
// live union upstream and routes locally.
TEST_F(GatewayTest, ManyProjectsShareTheUpstreamSubscriptions) {
    relay::RelayServerOptions ro;
    ro.port = 0;
    ro.max_subscriptions = 5;
    auto small = relay::EmbeddedRelay::start(ro);
    ASSERT_TRUE(small) << small.error().message;
    relay::RelayPool daemon_pool;
    ASSERT_TRUE(daemon_pool.add_relay((*small)->url()));
    ASSERT_TRUE(daemon_pool.wait_connected(1, 3s));
    auto g = Gateway::start(GatewayOptions{}, daemon_pool);
    ASSERT_TRUE(g) << g.error().message;
    struct P {
        std::string addr;
        nostr::Keys agent = nostr::Keys::generate();
        std::unique_ptr<Client> client;
        Seen seen;
    };
    std::vector<std::unique_ptr<P>> ps;
    for (int i = 0; i < 30; ++i) {
        auto p = std::make_unique<P>();
        const nostr::Address a{31933, owner.pub.hex(), "many-" + std::to_string(i)};
        p->addr = a.to_string();
        const auto secret = (*g)->open_project(ProjectKeys{a, {p->agent.pub.hex()}, {}});
        p->client = std::make_unique<Client>((*g)->url_for("127.0.0.1", secret));
        ASSERT_TRUE(p->client->connected());
        p->client->sub(p->seen, R"({"#a":[")" + p->addr + R"("],"limit":0})", "tagged");
        p->client->sub(p->seen, R"({"#p":[")" + p->agent.pub.hex() + R"("],"limit":0})",
                       "mentions");
        p->client->sub(p->seen,
                       R"({"kinds":[31933,24020],"authors":[")" + owner.pub.hex() + R"("]})",
                       "static");
        ps.push_back(std::move(p));
    }
    for (auto& p : ps) ASSERT_TRUE(p->seen.wait([&] { return p->seen.eose; })) << p->addr;
    Client third((*small)->url());
    ASSERT_TRUE(third.connected());
    for (auto& p : ps) {
        ASSERT_TRUE(third.publish(sign(stranger, 1, {{"a", p->addr}}, "to " + p->addr)).accepted);
        ASSERT_TRUE(
            third.publish(sign(stranger, 1, {{"p", p->agent.pub.hex()}}, "mention " + p->addr))
                .accepted);
    }
    for (auto& p : ps)
        EXPECT_TRUE(p->seen.wait([&] {
            return p->seen.contents() ==
                   std::set<std::string>{"to " + p->addr, "mention " + p->addr};
        })) << p->addr
            << " got " << p->seen.contents().size() << " events";
    EXPECT_EQ((*g)->stats().connections, 30u);
}

TEST_F(GatewayTest, WritesAreScopedAndKeysBoundOnFirstUse) {
    Client a(url(secret_a)), b(url(secret_b));
    ASSERT_TRUE(a.connected());
    ASSERT_TRUE(b.connected());
    auto runtime_key = nostr::Keys::generate();  // made by the runtime: unknown to the daemon
    auto ok = a.publish(sign(runtime_key, 1, {{"a", alpha.to_string()}}, "hello from alpha"));
    EXPECT_TRUE(ok.accepted) << ok.message;
    EXPECT_EQ(gw->bindings().at(runtime_key.pub.hex()), alpha.to_string());
    // Into the other's scope.
    ok = a.publish(sign(runtime_key, 1, {{"a", beta.to_string()}}, "x"));
    EXPECT_FALSE(ok.accepted);
    EXPECT_EQ(ok.message, "restricted: a-tags another project");
    ok = a.publish(sign(runtime_key, 1, {{"p", agent_b.pub.hex()}}, "x"));
    EXPECT_EQ(ok.message, "restricted: addressed to another project");
    // With the other's key (bound, and listed).
    ok = b.publish(sign(runtime_key, 1, {{"a", beta.to_string()}}, "x"));
    EXPECT_FALSE(ok.accepted);
    EXPECT_EQ(ok.message, "restricted: author belongs to another project");
    ok = b.publish(sign(agent_a, 1, {{"a", beta.to_string()}}, "x"));
    EXPECT_EQ(ok.message, "restricted: author belongs to another project");
    // The owner's key is never bound; forged and oversized events are refused.
    ok = a.publish(sign(owner, 1, {{"a", alpha.to_string()}}, "x"));
    EXPECT_EQ(ok.message, "restricted: this key cannot write through a project gateway");
    auto forged = sign(agent_a, 1, {{"a", alpha.to_string()}}, "x");
    forged.content = "changed";
    ok = a.publish(forged);
    EXPECT_FALSE(ok.accepted);
    EXPECT_EQ(ok.message.rfind("invalid:", 0), 0u) << ok.message;
    ok = a.publish(sign(agent_a, 1, {{"a", alpha.to_string()}}, std::string(70 * 1024, 'x')));
    EXPECT_EQ(ok.message.rfind("invalid: event too large", 0), 0u) << ok.message;
    ok = a.publish(sign(agent_a, 31933, {{"d", "alpha"}}, "x"));
    EXPECT_EQ(ok.message, "restricted: a project container cannot publish project events");
    auto st = gw->stats();
    EXPECT_EQ(st.writes_accepted, 1u);
    EXPECT_EQ(st.writes_refused["out_of_scope"], 2u);
    EXPECT_EQ(st.writes_refused["foreign_key"], 2u);
    EXPECT_EQ(st.writes_refused["reserved_key"], 1u);
    EXPECT_EQ(st.writes_refused["invalid"], 1u);
    EXPECT_EQ(st.writes_refused["too_large"], 1u);
    EXPECT_EQ(st.writes_refused["project_event"], 1u);
    // What alpha wrote reached the upstream relay, and beta does not see it.
    Seen up;
    direct->sub(up, R"({"authors":[")" + runtime_key.pub.hex() + R"("]})", "up");
    EXPECT_TRUE(up.wait([&] { return up.contents().count("hello from alpha") == 1; }));
}

// What the daemon's idle timer reads: accepted writes count per project, the runtime's
// periodic status (kind 24010) and refused writes do not.
TEST_F(GatewayTest, ActivityCountsAcceptedWorkButNotTheRuntimesStatus) {
    Client a(url(secret_a));
    ASSERT_TRUE(a.connected());
    EXPECT_TRUE(gw->activity().empty());
    ASSERT_TRUE(a.publish(sign(agent_a, kActivityIgnoredKind, {{"a", alpha.to_string()}}, "status"))
                    .accepted);
    EXPECT_EQ(gw->activity().count(alpha.to_string()), 0u);
    ASSERT_TRUE(a.publish(sign(agent_a, 1, {{"a", alpha.to_string()}}, "working")).accepted);
    ASSERT_TRUE(a.publish(sign(agent_a, 24133, {{"a", alpha.to_string()}}, "typing")).accepted);
    EXPECT_FALSE(a.publish(sign(agent_a, 1, {{"a", beta.to_string()}}, "out of scope")).accepted);
    auto activity = gw->activity();
    EXPECT_EQ(activity[alpha.to_string()], 2u);
    EXPECT_EQ(activity.count(beta.to_string()), 0u);
}

TEST_F(GatewayTest, WrongOrMissingSecretGetsANoticeAndNothingElse) {
    for (const std::string& path : {std::string(64, '0'), std::string(""), secret_a + "x"}) {
        Client c("ws://127.0.0.1:" + std::to_string(gw->port()) + "/" + path);
        Seen s;
        c.sub(s, R"({"kinds":[1]})");
        // The pool logs the NOTICE (restricted: unknown gateway secret) and counts it.
        EXPECT_TRUE(s.wait([&] { return c.notices() > 0; })) << c.last_error();
        std::this_thread::sleep_for(200ms);
        EXPECT_TRUE(s.contents().empty());
    }
    EXPECT_GE(gw->stats().refused_connections, 3u);
}

TEST_F(GatewayTest, RotationRevokesTheOldSecret) {
    Client old_client(url(secret_a));
    ASSERT_TRUE(old_client.connected());
    const std::string fresh = gw->open_project(ProjectKeys{alpha, {agent_a.pub.hex()}, {}});
    ASSERT_NE(fresh, secret_a);
    ASSERT_EQ(fresh.size(), 64u);
    Seen old_seen;
    old_client.sub(old_seen, R"({"kinds":[31933]})");
    // NOTICE restricted: gateway secret revoked, then the connection is closed.
    EXPECT_TRUE(old_seen.wait([&] { return old_client.notices() > 0; })) << old_client.last_error();
    Client stale(url(secret_a));
    EXPECT_TRUE(old_seen.wait([&] { return stale.notices() > 0; }));
    EXPECT_FALSE(stale.connected() && stale.notices() == 0);
    Client now(url(fresh));
    ASSERT_TRUE(now.connected());
    Seen s;
    now.sub(s, R"({"kinds":[31933]})");
    EXPECT_TRUE(s.wait([&] { return s.contents() == std::set<std::string>{"project alpha"}; }));
    // Closing the project revokes it too.
    gw->close_project(alpha.to_string());
    EXPECT_TRUE(s.wait([&] { return now.notices() > 0; }));
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(old_seen.contents().empty());
}

TEST_F(GatewayTest, LimitsAndLimitCounting) {
    Client a(url(secret_a));
    ASSERT_TRUE(a.connected());
    Seen s[5];
    for (int i = 0; i < 5; ++i) a.sub(s[i], R"({"kinds":[1],"limit":1})", "s" + std::to_string(i));
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(s[i].wait([&] { return s[i].eose; }));
    // The fifth is over max_subscriptions: CLOSED, which the client reports.
    EXPECT_TRUE(s[4].wait([&] {
        return a.last_error().find("too many subscriptions") != std::string::npos;
    })) << a.last_error();
    // limit 1: the newest stored event in scope (upstream, newer ones out of scope exist).
    EXPECT_EQ(s[0].contents(), std::set<std::string>{"to alpha"});
    auto big = std::string(R"({"kinds":[1],"#t":[)");
    for (int i = 0; i < 2000; ++i) big += (i ? ",\"" : "\"") + std::string(10, 'a') + "\"";
    big += "]}";
    Seen b;
    a.sub(b, big, "s0");
    EXPECT_TRUE(b.wait([&] {
        return a.last_error().find("filter too large") != std::string::npos;
    })) << a.last_error();
}

TEST_F(GatewayTest, WritesAreRateLimitedPerProject) {
    gw.reset();
    start_gateway({}, 2, 0.01);
    secret_a = gw->open_project(ProjectKeys{alpha, {agent_a.pub.hex()}, {}});
    Client a(url(secret_a));
    ASSERT_TRUE(a.connected());
    EXPECT_TRUE(a.publish(sign(agent_a, 1, {{"a", alpha.to_string()}}, "1")).accepted);
    EXPECT_TRUE(a.publish(sign(agent_a, 1, {{"a", alpha.to_string()}}, "2")).accepted);
    auto ok = a.publish(sign(agent_a, 1, {{"a", alpha.to_string()}}, "3"));
    EXPECT_FALSE(ok.accepted);
    EXPECT_EQ(ok.message.rfind("rate-limited:", 0), 0u) << ok.message;
    // A project whose policy sets its own rate (here a burst of 4) is held to that one.
    secret_b =
        gw->open_project(ProjectKeys{beta, {agent_b.pub.hex()}, {}}, Gateway::WriteRate{0.01, 4});
    Client b(url(secret_b));
    ASSERT_TRUE(b.connected());
    for (int i = 0; i < 4; ++i)
        EXPECT_TRUE(
            b.publish(sign(agent_b, 1, {{"a", beta.to_string()}}, std::to_string(i))).accepted)
            << i;
    EXPECT_FALSE(b.publish(sign(agent_b, 1, {{"a", beta.to_string()}}, "5")).accepted);
}

TEST_F(GatewayTest, BindingsAndSecretsSurviveARestart) {
    auto db = std::filesystem::temp_directory_path() /
              ("gw-bindings-" + std::to_string(::getpid()) + ".sqlite3");
    std::filesystem::remove(db);
    gw.reset();
    start_gateway(db);
    secret_a = gw->open_project(ProjectKeys{alpha, {}, {}});
    secret_b = gw->open_project(ProjectKeys{beta, {}, {}});
    auto k = nostr::Keys::generate();
    {
        Client a(url(secret_a));
        ASSERT_TRUE(a.connected());
        EXPECT_TRUE(a.publish(sign(k, 0, {}, "{}")).accepted);
    }
    gw.reset();
    start_gateway(db);
    secret_b = gw->open_project(ProjectKeys{beta, {}, {}});
    EXPECT_EQ(gw->bindings().at(k.pub.hex()), alpha.to_string());
    {
        // Alpha's container outlived the daemon: its secret still works.
        Client a(url(secret_a));
        ASSERT_TRUE(a.connected());
        Seen s;
        a.sub(s, R"({"kinds":[31933]})");
        EXPECT_TRUE(s.wait([&] { return s.contents() == std::set<std::string>{"project alpha"}; }));
        EXPECT_EQ(a.notices(), 0u);
    }
    Client b(url(secret_b));
    ASSERT_TRUE(b.connected());
    EXPECT_EQ(b.publish(sign(k, 1, {{"a", beta.to_string()}}, "x")).message,
              "restricted: author belongs to another project");
    gw.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db.string() + suffix);
}

}  // namespace
}  // namespace tenex::gateway
