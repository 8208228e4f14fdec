// The pool against the embedded relay, in one process over loopback: no external services.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "relay/pool.hpp"
#include "relay/server.hpp"
#include "signed.hpp"

namespace tenex::relay {
namespace {

using namespace std::chrono_literals;
using testing::now_s;
using testing::signed_event;

struct Collector {
    std::mutex mu;
    std::vector<nostr::Event> events;
    std::set<std::string> eose;
    void add(const DeliveredEvent& d) {
        std::lock_guard lk(mu);
        events.push_back(d.event);
    }
    std::size_t size() {
        std::lock_guard lk(mu);
        return events.size();
    }
    bool wait_for(std::size_t n, std::chrono::milliseconds t) {
        auto end = std::chrono::steady_clock::now() + t;
        while (std::chrono::steady_clock::now() < end) {
            if (size() >= n) return true;
            std::this_thread::sleep_for(10ms);
        }
        return size() >= n;
    }
};

std::unique_ptr<EmbeddedRelay> start_relay(std::uint16_t port = 0) {
    RelayServerOptions o;
    o.port = port;
    auto r = EmbeddedRelay::start(o);
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
}

// The listening socket of a 127.0.0.1 relay, from /proc/net/tcp{,6}: its local address.
std::vector<std::string> listeners_on(std::uint16_t port) {
    std::vector<std::string> out;
    char hex_port[8];
    std::snprintf(hex_port, sizeof hex_port, ":%04X", port);
    for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(file);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state;
            fields >> slot >> local >> remote >> state;
            if (state == "0A" && local.size() > 5 && local.substr(local.size() - 5) == hex_port)
                out.push_back(local);
        }
    }
    return out;
}

TEST(Loopback, ARelayOnLoopbackListensOnLoopbackOnly) {
    auto server = start_relay();
    // 127.0.0.1 in /proc/net/tcp byte order, and nothing on the IPv6 wildcard.
    EXPECT_EQ(listeners_on(server->port()), std::vector<std::string>{"0100007F:" + [&] {
                  char p[8];
                  std::snprintf(p, sizeof p, "%04X", server->port());
                  return std::string(p);
              }()});
}

TEST(Loopback, PublishGetsOkAndSubscribersSeeStoredThenLiveEvents) {
    auto server = start_relay();
    auto keys = nostr::Keys::generate();
    Collector got;  // outlives the pool that calls into it
    std::atomic<int> eose{0};
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(server->url()).ok());
    ASSERT_TRUE(pool.wait_connected(1, 5s));

    auto stored = signed_event(keys, 1, "stored", now_s() - 10);
    auto r = pool.publish(stored, 5s).get();
    ASSERT_EQ(r.relays.size(), 1u);
    EXPECT_TRUE(r.relays[0].accepted) << r.relays[0].message;

    nostr::Filter f;
    f.authors = std::vector<std::string>{keys.pub.hex()};
    ASSERT_TRUE(pool.subscribe(
                        "s1", {f}, [&](const DeliveredEvent& d) { got.add(d); },
                        [&](const std::string&, const std::string& sid) {
                            if (sid == "s1") ++eose;
                        })
                    .ok());
    ASSERT_TRUE(got.wait_for(1, 5s));
    auto live = signed_event(keys, 1, "live", now_s());
    EXPECT_TRUE(pool.publish(live, 5s).get().any_accepted());
    ASSERT_TRUE(got.wait_for(2, 5s));
    EXPECT_EQ(eose.load(), 1);
    std::lock_guard lk(got.mu);
    EXPECT_EQ(got.events[0].id, stored.id);
    EXPECT_EQ(got.events[1].id, live.id);
}

TEST(Loopback, RelayRefusesBadSignatureAndReportsWhy) {
    auto server = start_relay();
    auto keys = nostr::Keys::generate();
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(server->url()).ok());
    ASSERT_TRUE(pool.wait_connected(1, 5s));
    auto e = signed_event(keys, 1, "x", now_s());
    e.sig[0] = e.sig[0] == '0' ? '1' : '0';
    auto r = pool.publish(e, 5s).get();
    ASSERT_EQ(r.relays.size(), 1u);
    EXPECT_FALSE(r.relays[0].accepted);
    EXPECT_EQ(r.relays[0].message.rfind("invalid:", 0), 0u) << r.relays[0].message;
    EXPECT_EQ(server->stats().stored_events, 0u);
}

// The store's quotas over the wire: OK false with the NIP-01 reason, counted as rejected,
// nothing stored or broadcast; a REQ returns the newest events that fit max_query_bytes.
TEST(Loopback, RelayQuotasRefuseOverTheWireAndREQsStayWithinTheirBudget) {
    RelayServerOptions o;
    o.port = 0;
    o.store_limits = {.max_event_bytes = 4096,
                      .max_author_bytes = 10100,
                      .max_total_bytes = 1 << 20,
                      .max_events = 100};
    o.max_query_bytes = 7000;
    auto started = EmbeddedRelay::start(o);
    ASSERT_TRUE(started) << started.error().message;
    auto& server = *started;
    auto keys = nostr::Keys::generate();
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(server->url()).ok());
    ASSERT_TRUE(pool.wait_connected(1, 5s));
    auto publish = [&](const nostr::Event& e) {
        auto r = pool.publish(e, 5s).get();
        return r.relays.size() == 1 ? r.relays[0] : RelayOk{};
    };
    auto big = publish(signed_event(keys, 1, std::string(5000, 'b'), now_s()));
    EXPECT_FALSE(big.accepted);
    EXPECT_EQ(big.message.rfind("invalid: event too large", 0), 0u) << big.message;
    std::vector<nostr::Event> stored;
    for (int i = 0; i < 5; ++i) {
        auto e = signed_event(keys, 1, std::string(3000, 'a'), now_s() - 100 + i);
        auto ok = publish(e);
        if (i < 3) {
            EXPECT_TRUE(ok.accepted) << i << ": " << ok.message;
            stored.push_back(e);
        } else {
            EXPECT_FALSE(ok.accepted) << i;
            EXPECT_EQ(ok.message.rfind("blocked: this author's storage quota", 0), 0u)
                << ok.message;
        }
    }
    auto stats = server->stats();
    EXPECT_EQ(stats.stored_events, 3u);
    EXPECT_EQ(stats.stored_bytes, 3 * nostr::to_json(stored[0]).size());
    EXPECT_EQ(stats.events_accepted, 3u);
    EXPECT_EQ(stats.events_rejected, 3u);
    // 7000 bytes take two of the three ~3.2 KB events: the two newest.
    auto got = pool.fetch({nostr::Filter{}}, 5s).get();
    ASSERT_EQ(got.size(), 2u);
    std::set<std::string> ids{got[0].id, got[1].id};
    EXPECT_EQ(ids, (std::set<std::string>{stored[1].id, stored[2].id}));
}

TEST(Loopback, FetchKeepsNewestAddressableAcrossTwoRelays) {
    auto a = start_relay();
    auto b = start_relay();
    auto keys = nostr::Keys::generate();
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay(a->url()).ok());
    ASSERT_TRUE(pool.add_relay(b->url()).ok());
    ASSERT_TRUE(pool.wait_connected(2, 5s));
    const auto t = now_s() - 100;
    auto old_v = signed_event(keys, 31933, "old", t, {{"d", "proj"}});
    auto new_v = signed_event(keys, 31933, "new", t + 10, {{"d", "proj"}});
    // Relay a only has the old version, relay b the new one: the fetch must merge.
    RelayPool only_a;
    ASSERT_TRUE(only_a.add_relay(a->url()).ok());
    ASSERT_TRUE(only_a.wait_connected(1, 5s));
    EXPECT_TRUE(only_a.publish(old_v, 5s).get().any_accepted());
    RelayPool only_b;
    ASSERT_TRUE(only_b.add_relay(b->url()).ok());
    ASSERT_TRUE(only_b.wait_connected(1, 5s));
    EXPECT_TRUE(only_b.publish(new_v, 5s).get().any_accepted());

    nostr::Filter f;
    f.kinds = std::vector<std::uint32_t>{31933};
    f.authors = std::vector<std::string>{keys.pub.hex()};
    const auto start = std::chrono::steady_clock::now();
    auto events = pool.fetch({f}, 5s).get();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);  // settled by EOSE, not timeout
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].id, new_v.id);
}

TEST(Loopback, FetchSettlesWhenNoRelayIsReachable) {
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay("ws://127.0.0.1:1").ok());
    std::this_thread::sleep_for(200ms);
    auto start = std::chrono::steady_clock::now();
    auto events = pool.fetch({nostr::Filter{}}, 2s).get();
    EXPECT_TRUE(events.empty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    auto pub = pool.publish(signed_event(nostr::Keys::generate(), 1, "x", now_s()), 2s).get();
    ASSERT_EQ(pub.relays.size(), 1u);
    EXPECT_FALSE(pub.relays[0].accepted);
}

// A fetch or publish asked of a stopped pool settles at once (it used to wait forever).
TEST(Loopback, FetchAndPublishAfterStopSettleAtOnce) {
    RelayPool pool;
    ASSERT_TRUE(pool.add_relay("ws://127.0.0.1:1").ok());
    pool.stop();
    auto events = pool.fetch({nostr::Filter{}}, 60s);
    ASSERT_EQ(events.wait_for(2s), std::future_status::ready);
    EXPECT_TRUE(events.get().empty());
    auto ev = signed_event(nostr::Keys::generate(), 1, "x", now_s());
    auto pub = pool.publish(ev, 60s);
    ASSERT_EQ(pub.wait_for(2s), std::future_status::ready);
    auto result = pub.get();
    EXPECT_EQ(result.event_id, ev.id);
    EXPECT_FALSE(result.any_accepted());
}

TEST(Loopback, SubscriptionResumesAfterRelayRestartWithoutLoss) {
    auto server = start_relay();
    const auto port = server->port();
    auto keys = nostr::Keys::generate();
    PoolOptions opt;
    opt.backoff = {std::chrono::milliseconds(1500), std::chrono::milliseconds(1500), 2.0, 0.0};
    opt.verify_threads = 1;  // the resume path with signatures checked on a worker
    Collector got;
    RelayPool pool(opt);
    ASSERT_TRUE(pool.add_relay(server->url()).ok());
    ASSERT_TRUE(pool.wait_connected(1, 5s));
    nostr::Filter f;
    f.authors = std::vector<std::string>{keys.pub.hex()};
    f.limit = 0;  // live only
    ASSERT_TRUE(pool.subscribe("live", {f}, [&](const DeliveredEvent& d) { got.add(d); }).ok());
    std::this_thread::sleep_for(300ms);
    auto first = signed_event(keys, 1, "before", now_s());
    {
        RelayPool p2;
        ASSERT_TRUE(p2.add_relay(server->url()).ok());
        ASSERT_TRUE(p2.wait_connected(1, 5s));
        EXPECT_TRUE(p2.publish(first, 5s).get().any_accepted());
    }
    ASSERT_TRUE(got.wait_for(1, 5s));

    server->stop();
    server = start_relay(port);  // a fresh relay on the same port, empty store
    std::vector<nostr::Event> missed;
    {
        RelayPool p2;
        ASSERT_TRUE(p2.add_relay(server->url()).ok());
        ASSERT_TRUE(p2.wait_connected(1, 5s));
        for (int i = 0; i < 3; ++i) {
            missed.push_back(
                signed_event(keys, 1, "while away " + std::to_string(i), now_s() - 20 + i));
            EXPECT_TRUE(p2.publish(missed.back(), 5s).get().any_accepted());
        }
    }
    ASSERT_TRUE(got.wait_for(4, 10s)) << "got " << got.size();
    std::set<std::string> ids;
    {
        std::lock_guard lk(got.mu);
        for (auto& e : got.events) ids.insert(e.id);
        EXPECT_EQ(got.events.size(), 4u);
    }
    for (auto& m : missed) EXPECT_TRUE(ids.count(m.id)) << m.content;
    auto st = pool.status();
    ASSERT_EQ(st.size(), 1u);
    EXPECT_EQ(st[0].reconnects, 1u);
    EXPECT_TRUE(st[0].connected);
}

// A TCP listener on loopback that never accepts: the TCP handshake completes (backlog) but
// the websocket upgrade is never answered, so a relay there stays "connecting".
class SilentListener {
  public:
    SilentListener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(fd_, 8) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("cannot listen");
        port_ = ntohs(a.sin_port);
    }
    ~SilentListener() { ::close(fd_); }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }

  private:
    int fd_{-1};
    std::uint16_t port_{0};
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end && !pred()) std::this_thread::sleep_for(20ms);
    return pred();
}

TEST(Loopback, RemoveRelaySettlesItsPendingWorkClosesItAndForgetsIt) {
    auto kept = start_relay();
    auto removed = start_relay();
    SilentListener silent;
    auto keys = nostr::Keys::generate();
    PoolOptions opt;
    opt.connect_timeout_s = 60;  // the silent relay stays pending until removed
    Collector got;
    RelayPool pool(opt);
    ASSERT_TRUE(pool.add_relay(kept->url()).ok());
    ASSERT_TRUE(pool.add_relay(removed->url()).ok());
    ASSERT_TRUE(pool.add_relay(silent.url()).ok());
    ASSERT_TRUE(pool.wait_connected(2, 5s));
    nostr::Filter f;
    f.authors = std::vector<std::string>{keys.pub.hex()};
    ASSERT_TRUE(pool.subscribe("s", {f}, [&](const DeliveredEvent& d) { got.add(d); }).ok());
    ASSERT_TRUE(eventually([&] { return removed->stats().connections == 1; }, 5s));

    auto fetch = pool.fetch({f}, 30s);
    auto first = signed_event(keys, 1, "to everyone", now_s());
    auto pub = pool.publish(first, 30s);
    EXPECT_EQ(fetch.wait_for(500ms), std::future_status::timeout)
        << "the silent relay cannot have answered";
    ASSERT_TRUE(pool.remove_relay(silent.url()).ok());
    ASSERT_EQ(fetch.wait_for(3s), std::future_status::ready) << "removal did not settle the fetch";
    ASSERT_EQ(pub.wait_for(3s), std::future_status::ready) << "removal did not settle the publish";
    auto res = pub.get();
    ASSERT_EQ(res.relays.size(), 3u);
    for (const auto& ok : res.relays)
        EXPECT_EQ(ok.accepted, ok.relay != silent.url() + "/") << ok.relay << ": " << ok.message;
    for (const auto& ok : res.relays) {
        if (ok.relay == silent.url() + "/") {
            EXPECT_EQ(ok.message, "relay removed");
        }
    }
    ASSERT_TRUE(got.wait_for(1, 5s));

    ASSERT_TRUE(pool.remove_relay(removed->url()).ok());
    EXPECT_FALSE(pool.remove_relay(removed->url()).ok());
    EXPECT_FALSE(pool.remove_relay("ws://127.0.0.1:1").ok());
    auto st = pool.status();
    ASSERT_EQ(st.size(), 1u);
    EXPECT_EQ(st[0].url, kept->url() + "/");
    EXPECT_TRUE(eventually([&] { return removed->stats().connections == 0; }, 5s))
        << "connection left open";

    // Published to the removed relay only: not delivered; to the kept one: delivered.
    auto only_removed = signed_event(keys, 1, "removed relay only", now_s());
    {
        RelayPool other;
        ASSERT_TRUE(other.add_relay(removed->url()).ok());
        ASSERT_TRUE(other.wait_connected(1, 5s));
        EXPECT_TRUE(other.publish(only_removed, 5s).get().any_accepted());
    }
    EXPECT_TRUE(pool.publish(signed_event(keys, 1, "kept", now_s()), 5s).get().any_accepted());
    ASSERT_TRUE(got.wait_for(2, 5s));
    std::this_thread::sleep_for(300ms);
    std::lock_guard lk(got.mu);
    EXPECT_EQ(got.events.size(), 2u);
    for (const auto& e : got.events) EXPECT_NE(e.id, only_removed.id);
}

}  // namespace
}  // namespace tenex::relay
