// The relay pool and the embedded relay against peers nobody here wrote: @nostr-relay/core
// (served with ws) and nostr-tools, plus a deliberately hostile relay written with ws.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "environment.hpp"
#include "interop_support.hpp"
#include "node_peer.hpp"
#include "relay/pool.hpp"

namespace tenex::relay {
namespace {

using namespace std::chrono_literals;
using testing::Author;
using testing::by_author;
using testing::Collector;
using testing::NodeProcess;
using testing::now_s;
using testing::parse_lines;
using testing::run_node;

class NpmRelay : public ::testing::Test {
  protected:
    void SetUp() override {
        TENEX_REQUIRE_RELAY_PEERS();
        relay_ = NodeProcess::start("relay.mjs", {});
        url_ = relay_->first_line();
        ASSERT_EQ(url_.rfind("ws://127.0.0.1:", 0), 0u) << url_;
    }
    std::unique_ptr<NodeProcess> relay_;
    std::string url_;
};

TEST_F(NpmRelay, SubscriptionReceivesLiveEventsPublishedByNostrTools) {
    Author a;
    Collector got;
    std::atomic<int> eose{0};
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(url_).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    ASSERT_TRUE(pool.subscribe(
                        "live", {by_author(a.pk(), 0)},
                        [&](const DeliveredEvent& d) { got.add(d); },
                        [&](const std::string&, const std::string&) { ++eose; })
                    .ok());
    for (int i = 0; i < 50 && eose.load() == 0; ++i) std::this_thread::sleep_for(50ms);
    ASSERT_EQ(eose.load(), 1);
    auto r =
        run_node("client.mjs", {"publish-many", url_, a.sk(), "1", "3", std::to_string(now_s())});
    ASSERT_EQ(r.exit_code, 0);
    auto sent = parse_lines(r.out);
    ASSERT_EQ(sent.size(), 3u);
    ASSERT_TRUE(got.wait_for(3, 10s));
    std::set<std::string> want;
    for (auto& e : sent) want.insert(e.id);
    EXPECT_EQ(got.ids(), want);
    {
        std::lock_guard lk(got.mu);
        for (auto& rel : got.relays) EXPECT_EQ(rel, url_ + "/");
    }
    auto st = pool.status();
    EXPECT_EQ(st[0].events_delivered, 3u);
    EXPECT_EQ(st[0].invalid_events, 0u);
}

TEST_F(NpmRelay, PublishGetsOkAndNostrToolsReadsTheEventBack) {
    Author a;
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(url_).ok());
    nostr::UnsignedEvent u;
    u.kind = 1;
    u.content = "hello \"relay\"\n\u2028 ✓";
    u.tags = {{"t", "tenex"}};
    auto ev = nostr::sign_event(u, a.keys);
    ASSERT_TRUE(ev.ok());
    auto res = pool.publish(*ev, 10s).get();
    ASSERT_EQ(res.relays.size(), 1u);
    EXPECT_TRUE(res.relays[0].accepted) << res.relays[0].message;
    auto again = pool.publish(*ev, 10s).get();  // a duplicate is still an OK true
    EXPECT_TRUE(again.relays[0].accepted) << again.relays[0].message;

    auto q = run_node("client.mjs", {"query", url_, "{\"ids\":[\"" + ev->id + "\"]}"});
    ASSERT_EQ(q.exit_code, 0);
    auto back = parse_lines(q.out);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0], *ev);

    // A fresh event with a broken signature. (A tampered copy reusing the accepted id would
    // not do: @nostr-relay/core caches its answer per event id and says OK true again.)
    u.content = "bad signature";
    auto bad = *nostr::sign_event(u, a.keys);
    bad.sig[10] = bad.sig[10] == 'a' ? 'b' : 'a';
    auto refused = pool.publish(bad, 10s).get();
    EXPECT_FALSE(refused.relays[0].accepted);
    EXPECT_FALSE(refused.relays[0].message.empty());
}

TEST_F(NpmRelay, FetchReturnsOnlyTheNewestAddressableVersion) {
    Author a;
    const auto t = now_s() - 100;
    // Three versions of d=proj and one of d=other, published by nostr-tools.
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(run_node("client.mjs", {"publish", url_, a.sk(), "31933", "v" + std::to_string(i),
                                          std::to_string(t + i), "proj"})
                      .exit_code,
                  0);
    auto other =
        run_node("client.mjs", {"publish", url_, a.sk(), "31933", "o", std::to_string(t), "other"});
    ASSERT_EQ(other.exit_code, 0);
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(url_).ok());
    nostr::Filter f = by_author(a.pk());
    f.kinds = std::vector<std::uint32_t>{31933};
    const auto start = std::chrono::steady_clock::now();
    auto events = pool.fetch({f}, 10s).get();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);  // settled on EOSE
    ASSERT_EQ(events.size(), 2u);
    std::map<std::string, std::string> by_d;
    for (auto& e : events) by_d[std::string(e.tag_value("d").value_or(""))] = e.content;
    EXPECT_EQ(by_d["proj"], "v2");
    EXPECT_EQ(by_d["other"], "o");
}

TEST_F(NpmRelay, RestartLosesNoEventAndReconnectsWithinTheBackoffCap) {
    Author a;
    const auto port = url_.substr(url_.rfind(':') + 1);
    PoolOptions opt;
    // Fixed 3 s between attempts: the events below are published to the restarted relay
    // before the pool is back, so only the since-resume can bring them.
    opt.backoff = {3000ms, 3000ms, 2.0, 0.0};
    Collector got;
    RelayPool pool(opt);
    ASSERT_TRUE(pool.add_relay(url_).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    ASSERT_TRUE(
        pool.subscribe("proj", {by_author(a.pk(), 0)}, [&](const DeliveredEvent& d) { got.add(d); })
            .ok());
    std::this_thread::sleep_for(300ms);
    auto first =
        run_node("client.mjs", {"publish", url_, a.sk(), "1", "before", std::to_string(now_s())});
    ASSERT_EQ(first.exit_code, 0);
    ASSERT_TRUE(got.wait_for(1, 10s));

    relay_->kill();
    for (int i = 0; i < 100 && pool.status()[0].connected; ++i) std::this_thread::sleep_for(20ms);
    ASSERT_FALSE(pool.status()[0].connected);
    relay_ = NodeProcess::start("relay.mjs", {port});  // same port, empty store
    const auto back = std::chrono::steady_clock::now();
    auto missed = run_node("client.mjs",
                           {"publish-many", url_, a.sk(), "1", "5", std::to_string(now_s() - 60)});
    ASSERT_EQ(missed.exit_code, 0);
    auto sent = parse_lines(missed.out);
    ASSERT_EQ(sent.size(), 5u);
    EXPECT_TRUE(pool.wait_connected(1, 10s));
    const auto reconnect = std::chrono::steady_clock::now() - back;
    EXPECT_LT(reconnect, 3000ms + 1500ms) << "reconnect took longer than the backoff cap";
    ASSERT_TRUE(got.wait_for(6, 10s)) << "got " << got.size();
    auto ids = got.ids();
    for (auto& e : sent) EXPECT_TRUE(ids.count(e.id)) << "lost " << e.content;
    EXPECT_EQ(got.size(), 6u);  // and each once
    EXPECT_EQ(pool.status()[0].reconnects, 1u);
}

// A hostile relay: the good events must come through once, verified; the rest counted.
class Hostile : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        TENEX_REQUIRE_RELAY_PEERS();
        auto signed_out = run_node("client.mjs", {"sign", author_.sk(), "3"});
        ASSERT_EQ(signed_out.exit_code, 0);
        good_ = parse_lines(signed_out.out);
        ASSERT_EQ(good_.size(), 3u);
        std::ofstream(dir_.path() / "events.jsonl") << signed_out.out;
        relay_ = NodeProcess::start("hostile.mjs",
                                    {GetParam(), (dir_.path() / "events.jsonl").string()});
        url_ = relay_->first_line();
    }
    Author author_;
    test::TempDir dir_;
    std::vector<nostr::Event> good_;
    std::unique_ptr<NodeProcess> relay_;
    std::string url_;
};

TEST_P(Hostile, OnlyValidEventsAreDeliveredOnce) {
    PoolOptions opt;
    opt.max_message_bytes = 1024 * 1024;
    opt.verify_threads = 1;  // copies of an event still being verified are held back too
    Collector got;
    RelayPool pool(opt);
    ASSERT_TRUE(pool.add_relay(url_).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    ASSERT_TRUE(
        pool.subscribe("s", {by_author(author_.pk())}, [&](const DeliveredEvent& d) { got.add(d); })
            .ok());
    ASSERT_TRUE(got.wait_for(3, 10s));
    std::this_thread::sleep_for(300ms);  // let any extra copies arrive
    std::set<std::string> want;
    for (auto& e : good_) want.insert(e.id);
    EXPECT_EQ(got.size(), 3u);
    EXPECT_EQ(got.ids(), want);
    auto st = pool.status()[0];
    EXPECT_TRUE(st.connected) << st.last_error;
    const auto& mode = GetParam();
    if (mode == "garbage") {
        EXPECT_GE(st.invalid_events, 10u);
    }
    if (mode == "huge") {
        EXPECT_GE(st.invalid_events, 1u);
        EXPECT_NE(st.last_error.find("size limit"), std::string::npos) << st.last_error;
    }
    if (mode == "badsig") {
        EXPECT_EQ(st.invalid_events, 6u);
    }
    if (mode == "duplicates") {
        EXPECT_EQ(st.duplicates, 12u);
    }
    if (mode == "fragmented") {  // every message in 7-byte fragments, one 2 MiB EVENT first
        EXPECT_EQ(st.oversized_messages, 1u);
        EXPECT_EQ(st.invalid_events, 1u);
        EXPECT_EQ(st.connects, 1u) << "the oversized message cost the connection";
    }
}

INSTANTIATE_TEST_SUITE_P(Modes, Hostile,
                         ::testing::Values("garbage", "huge", "badsig", "duplicates",
                                           "fragmented"));

TEST(HostileNoEose, FetchSettlesAtItsTimeoutWithWhatArrived) {
    TENEX_REQUIRE_RELAY_PEERS();
    Author a;
    test::TempDir dir;
    auto signed_out = run_node("client.mjs", {"sign", a.sk(), "2"});
    ASSERT_EQ(signed_out.exit_code, 0);
    std::ofstream(dir.path() / "events.jsonl") << signed_out.out;
    auto relay =
        NodeProcess::start("hostile.mjs", {"noeose", (dir.path() / "events.jsonl").string()});
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(relay->first_line()).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    const auto start = std::chrono::steady_clock::now();
    auto events = pool.fetch({by_author(a.pk())}, 1500ms).get();
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 1400ms);
    EXPECT_LT(took, 4000ms);
    EXPECT_EQ(events.size(), 2u);
}

// NIP-42: the scripted relay refuses REQ and EVENT with auth-required: until a kind 22242 event
// with its challenge, checked by nostr-tools, arrives.
class AuthRelay : public ::testing::Test {
  protected:
    void SetUp() override {
        TENEX_REQUIRE_RELAY_PEERS();
        auto signed_out = run_node("client.mjs", {"sign", author_.sk(), "3"});
        ASSERT_EQ(signed_out.exit_code, 0);
        good_ = parse_lines(signed_out.out);
        std::ofstream(dir_.path() / "events.jsonl") << signed_out.out;
        relay_ =
            NodeProcess::start("hostile.mjs", {"auth", (dir_.path() / "events.jsonl").string()});
        url_ = relay_->first_line();
    }
    Author author_;
    test::TempDir dir_;
    std::vector<nostr::Event> good_;
    std::unique_ptr<NodeProcess> relay_;
    std::string url_;
};

TEST_F(AuthRelay, SignerAuthenticatesThenSubscriptionAndPublishSucceed) {
    PoolOptions opt;
    opt.signer = nostr::Keys::generate();
    Collector got;
    RelayPool pool(opt);
    ASSERT_TRUE(pool.add_relay(url_).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    ASSERT_TRUE(
        pool.subscribe("s", {by_author(author_.pk())}, [&](const DeliveredEvent& d) { got.add(d); })
            .ok());
    ASSERT_TRUE(got.wait_for(3, 10s)) << pool.status()[0].last_error;
    EXPECT_EQ(got.size(), 3u);
    EXPECT_TRUE(pool.status()[0].authenticated);
    nostr::UnsignedEvent u;
    u.content = "after auth";
    auto ev = nostr::sign_event(u, author_.keys);
    auto r = pool.publish(*ev, 10s).get();
    ASSERT_EQ(r.relays.size(), 1u);
    EXPECT_TRUE(r.relays[0].accepted) << r.relays[0].message;
}

TEST_F(AuthRelay, WithoutASignerTheRefusalIsReported) {
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(url_).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    nostr::UnsignedEvent u;
    u.content = "no auth";
    auto ev = nostr::sign_event(u, author_.keys);
    auto r = pool.publish(*ev, 10s).get();
    ASSERT_EQ(r.relays.size(), 1u);
    EXPECT_FALSE(r.relays[0].accepted);
    EXPECT_EQ(r.relays[0].message.rfind("auth-required:", 0), 0u) << r.relays[0].message;
    auto events = pool.fetch({by_author(author_.pk())}, 5s).get();
    EXPECT_TRUE(events.empty());
    EXPECT_NE(pool.status()[0].last_error.find("auth-required"), std::string::npos);
}

TEST(RateLimitedRelay, PublishIsRetriedAfterRateLimited) {
    TENEX_REQUIRE_RELAY_PEERS();
    auto relay = NodeProcess::start("hostile.mjs", {"ratelimit"});
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(relay->first_line()).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    nostr::UnsignedEvent u;
    u.content = "retry me";
    auto ev = nostr::sign_event(u, nostr::Keys::generate());
    const auto start = std::chrono::steady_clock::now();
    auto r = pool.publish(*ev, 10s).get();
    EXPECT_TRUE(r.relays[0].accepted) << r.relays[0].message;
    EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);  // it waited before retrying
}

// The embedded relay seen from the other side: the CLI's `relay` command, used by nostr-tools.
TEST(EmbeddedRelayInterop, NostrToolsPublishesAndQueries) {
    TENEX_REQUIRE_RELAY_PEERS();
    test::TempDir dir;
    const auto db = (dir.path() / "relay.db").string();
    auto start_relay = [&] {
        // tenex-sandbox relay prints its URL on stdout: reuse the node launcher's pipe logic.
        return NodeProcess::start("run-binary.mjs", {test::tenex_binary().string(), "relay",
                                                     "--listen", "127.0.0.1:0", "--db", db});
    };
    auto relay = start_relay();
    const auto url = relay->first_line();
    ASSERT_EQ(url.rfind("ws://127.0.0.1:", 0), 0u) << url;
    Author a;
    const auto t = now_s() - 50;
    ASSERT_EQ(
        run_node("client.mjs", {"publish", url, a.sk(), "1", "note", std::to_string(t)}).exit_code,
        0);
    ASSERT_EQ(
        run_node("client.mjs", {"publish", url, a.sk(), "30023", "v1", std::to_string(t), "doc"})
            .exit_code,
        0);
    ASSERT_EQ(run_node("client.mjs",
                       {"publish", url, a.sk(), "30023", "v2", std::to_string(t + 1), "doc"})
                  .exit_code,
              0);
    // An older version is refused as a duplicate: nostr-tools sees OK true with "duplicate:".
    ASSERT_EQ(
        run_node("client.mjs", {"publish", url, a.sk(), "20001", "ephemeral", std::to_string(t)})
            .exit_code,
        0);
    auto q = run_node("client.mjs", {"query", url, "{\"authors\":[\"" + a.pk() + "\"]}"});
    ASSERT_EQ(q.exit_code, 0);
    auto got = parse_lines(q.out);
    ASSERT_EQ(got.size(), 2u) << q.out;  // note + newest doc; ephemeral not stored
    std::set<std::string> contents;
    for (auto& e : got) contents.insert(e.content);
    EXPECT_EQ(contents, (std::set<std::string>{"note", "v2"}));
    // Newest first.
    EXPECT_EQ(got[0].content, "v2");

    // The SQLite file keeps them across a restart.
    relay->kill();
    relay = start_relay();
    auto q2 = run_node("client.mjs",
                       {"query", relay->first_line(), "{\"authors\":[\"" + a.pk() + "\"]}"});
    ASSERT_EQ(q2.exit_code, 0);
    EXPECT_EQ(parse_lines(q2.out).size(), 2u);
}

// The publish and req commands against the npm relay.
TEST_F(NpmRelay, CliPublishAndReq) {
    test::TempDir dir;
    Author a;
    const auto key = (dir.path() / "key").string();
    std::ofstream(key) << a.keys.secret.reveal_nsec() << "\n";
    auto pub =
        testing::run_program(test::tenex_binary().string(),
                             {"publish", "--relay", url_, "--key", key, "--kind", "1", "--content",
                              "from cli", "--tag", "t=a,b", "--tag", "p=" + a.pk()});
    ASSERT_EQ(pub.exit_code, 0) << pub.out;
    auto out = testing::lines(pub.out);
    ASSERT_EQ(out.size(), 2u) << pub.out;
    const auto id = out[0];
    EXPECT_EQ(id.size(), 64u);
    EXPECT_EQ(out[1], url_ + "/ OK ");
    EXPECT_EQ(pub.out.find(a.keys.secret.reveal_hex()), std::string::npos);

    auto req = testing::run_program(test::tenex_binary().string(),
                                    {"req", "--relay", url_, "{\"authors\":[\"" + a.pk() + "\"]}"});
    ASSERT_EQ(req.exit_code, 0);
    auto events = parse_lines(req.out);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, id);
    EXPECT_EQ(events[0].content, "from cli");
    EXPECT_EQ(events[0].tags, (std::vector<nostr::Tag>{{"t", "a", "b"}, {"p", a.pk()}}));
    // nostr-tools agrees.
    auto q = run_node("client.mjs", {"query", url_, "{\"ids\":[\"" + id + "\"]}"});
    EXPECT_EQ(parse_lines(q.out).size(), 1u);
}

}  // namespace
}  // namespace tenex::relay
