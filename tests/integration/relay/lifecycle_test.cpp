// Connection lifecycle against the npm relay (@nostr-relay/core): a relay that goes silent
// without closing (a loopback TCP proxy in front of it, stopped with SIGSTOP) is found dead by
// the keepalive, reconnected once it is back, and the subscription resumes without losing what
// was published meanwhile; a removed relay delivers nothing more, and added again it resumes.
#include <gtest/gtest.h>
#include <signal.h>

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
using testing::eventually;
using testing::NodeProcess;
using testing::now_s;
using testing::parse_lines;
using testing::run_node;

RelayStatus status_of(const RelayPool& pool) {
    auto st = pool.status();
    return st.empty() ? RelayStatus{} : st.front();
}

TEST(SilentRelay, KeepaliveFindsItDeadAndTheSubscriptionResumesWithoutLoss) {
    TENEX_REQUIRE_RELAY_PEERS();
    auto relay = NodeProcess::start("relay.mjs", {});
    const std::string relay_url = relay->first_line();
    auto proxy = NodeProcess::start("proxy.mjs", {relay_url.substr(relay_url.rfind(':') + 1)});
    PoolOptions opt;
    opt.ping_after_idle_s = 1;
    opt.dead_after_idle_s = 3;
    opt.connect_timeout_s = 2;
    opt.backoff = {1000ms, 2000ms, 2.0, 0.0};
    Author a;
    Collector got;
    std::atomic<int> eose{0};
    RelayPool pool(opt);
    ASSERT_TRUE(pool.add_relay(proxy->first_line()).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    ASSERT_TRUE(pool.subscribe(
                        "live", {by_author(a.pk(), 0)},
                        [&](const DeliveredEvent& d) { got.add(d); },
                        [&](const std::string&, const std::string&) { ++eose; })
                    .ok());
    ASSERT_TRUE(eventually([&] { return eose.load() == 1; }, 10s));
    ASSERT_EQ(run_node("client.mjs",
                       {"publish", relay_url, a.sk(), "1", "before", std::to_string(now_s())})
                  .exit_code,
              0);
    ASSERT_TRUE(got.wait_for(1, 10s));

    // Quiet but alive: longer than dead_after_idle_s without a message, the PINGs are
    // answered and the connection stays.
    std::this_thread::sleep_for(4500ms);
    EXPECT_TRUE(status_of(pool).connected) << status_of(pool).last_error;
    EXPECT_EQ(status_of(pool).connects, 1u);

    // Silent: the proxy stops forwarding, the sockets stay open.
    proxy->signal(SIGSTOP);
    const auto silent_at = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] { return !status_of(pool).connected; }, 10s));
    const auto noticed = std::chrono::steady_clock::now() - silent_at;
    EXPECT_LT(noticed, 1000ms + 3000ms + 500ms) << "not noticed within ping + dead timeout";
    EXPECT_NE(status_of(pool).last_error.find("connection dead"), std::string::npos)
        << status_of(pool).last_error;

    // Published straight to the relay while the pool cannot hear it.
    auto missed_out = run_node(
        "client.mjs", {"publish-many", relay_url, a.sk(), "1", "5", std::to_string(now_s() - 30)});
    ASSERT_EQ(missed_out.exit_code, 0);
    auto missed = parse_lines(missed_out.out);
    ASSERT_EQ(missed.size(), 5u);
    std::this_thread::sleep_for(1s);
    EXPECT_FALSE(status_of(pool).connected) << "connected through a stopped proxy";

    proxy->signal(SIGCONT);
    const auto back_at = std::chrono::steady_clock::now();
    ASSERT_TRUE(pool.wait_connected(1, 15s));
    const auto reconnect = std::chrono::steady_clock::now() - back_at;
    // An attempt in flight (connect timeout 2 s) or the next one after the 2 s backoff cap.
    EXPECT_LT(reconnect, 2000ms + 2000ms + 1000ms);
    ASSERT_TRUE(got.wait_for(6, 10s)) << "got " << got.size();
    auto ids = got.ids();
    for (const auto& e : missed) EXPECT_TRUE(ids.count(e.id)) << "lost " << e.content;
    EXPECT_EQ(got.size(), 6u);  // each once
    EXPECT_EQ(status_of(pool).reconnects, 1u);
}

TEST(RemovedRelay, DeliversNothingMoreAndResumesWhenAddedAgain) {
    TENEX_REQUIRE_RELAY_PEERS();
    auto relay = NodeProcess::start("relay.mjs", {});
    const std::string url = relay->first_line();
    Author a;
    Collector got;
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(url).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    ASSERT_TRUE(
        pool.subscribe("s", {by_author(a.pk())}, [&](const DeliveredEvent& d) { got.add(d); })
            .ok());
    ASSERT_EQ(
        run_node("client.mjs", {"publish", url, a.sk(), "1", "first", std::to_string(now_s())})
            .exit_code,
        0);
    ASSERT_TRUE(got.wait_for(1, 10s));

    ASSERT_TRUE(pool.remove_relay(url).ok());
    EXPECT_TRUE(pool.status().empty());
    EXPECT_FALSE(pool.remove_relay(url).ok()) << "removed twice";
    auto later = run_node("client.mjs",
                          {"publish", url, a.sk(), "1", "while removed", std::to_string(now_s())});
    ASSERT_EQ(later.exit_code, 0);
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(got.size(), 1u) << "a removed relay delivered an event";

    ASSERT_TRUE(pool.add_relay(url).ok());
    ASSERT_TRUE(pool.wait_connected(1, 10s));
    ASSERT_TRUE(got.wait_for(2, 10s));
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(got.size(), 2u);  // "first" again is a duplicate
    EXPECT_TRUE(got.ids().count(parse_lines(later.out).at(0).id));
    EXPECT_EQ(status_of(pool).connects, 1u) << "a re-added relay starts with fresh stats";
}

}  // namespace
}  // namespace tenex::relay
