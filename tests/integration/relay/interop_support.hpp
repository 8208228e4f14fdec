// What the relay interop tests share: a thread-safe collector of delivered events, a fresh
// author, the events nostr-tools printed, filters.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "node_peer.hpp"
#include "nostr/keys.hpp"
#include "relay/pool.hpp"

namespace tenex::relay::testing {

inline std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct Collector {
    std::mutex mu;
    std::vector<nostr::Event> events;
    std::vector<std::string> relays;
    void add(const DeliveredEvent& d) {
        std::lock_guard lk(mu);
        events.push_back(d.event);
        relays.push_back(d.relay);
    }
    std::size_t size() {
        std::lock_guard lk(mu);
        return events.size();
    }
    std::set<std::string> ids() {
        std::lock_guard lk(mu);
        std::set<std::string> s;
        for (auto& e : events) s.insert(e.id);
        return s;
    }
    bool wait_for(std::size_t n, std::chrono::milliseconds t) {
        const auto end = std::chrono::steady_clock::now() + t;
        while (std::chrono::steady_clock::now() < end && size() < n)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return size() >= n;
    }
};

// Parses the event lines nostr-tools printed; fails the test on any bad line.
inline std::vector<nostr::Event> parse_lines(const std::string& out) {
    std::vector<nostr::Event> v;
    for (const auto& l : lines(out)) {
        auto e = nostr::parse_event(l);
        EXPECT_TRUE(e.ok()) << l;
        if (e) v.push_back(*e);
    }
    return v;
}

struct Author {
    nostr::Keys keys = nostr::Keys::generate();
    std::string sk() const { return keys.secret.reveal_hex(); }
    std::string pk() const { return keys.pub.hex(); }
};

inline nostr::Filter by_author(const std::string& pk,
                               std::optional<std::uint64_t> limit = std::nullopt) {
    nostr::Filter f;
    f.authors = std::vector<std::string>{pk};
    f.limit = limit;
    return f;
}

// Polls pred every 20 ms until it holds or the timeout passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

}  // namespace tenex::relay::testing
