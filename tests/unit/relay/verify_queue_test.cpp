// The pool's ordered verification pipeline, on its own: order, verdicts, markers, wake-ups.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "relay/verify_queue.hpp"
#include "signed.hpp"

namespace tenex::relay {
namespace {

using namespace std::chrono_literals;
using testing::now_s;
using testing::signed_event;

std::vector<nostr::Event> events(std::size_t n, bool break_odd) {
    auto keys = nostr::Keys::generate();
    std::vector<nostr::Event> v;
    for (std::size_t i = 0; i < n; ++i) {
        v.push_back(signed_event(keys, 1, "e" + std::to_string(i), now_s()));
        if (break_odd && i % 2 == 1) v.back().sig[5] = v.back().sig[5] == 'a' ? 'b' : 'a';
    }
    return v;
}

// Pushes events (and a marker after each tenth) and drains until all completions ran.
struct Harness {
    std::vector<std::string> order;  // completion order: event content or "marker N"
    std::vector<bool> verdicts;
    std::atomic<int> wakes{0};
    void push_all(VerifyQueue& q, const std::vector<nostr::Event>& evs) {
        for (std::size_t i = 0; i < evs.size(); ++i) {
            VerifyQueue::Entry e;
            e.event = evs[i];
            e.check = true;
            e.done = [this](VerifyQueue::Entry& d) {
                order.push_back(d.event->content);
                verdicts.push_back(d.status.ok());
            };
            q.push(std::move(e));
            if (i % 10 == 9) {
                VerifyQueue::Entry m;
                m.done = [this, i](VerifyQueue::Entry&) {
                    order.push_back("marker " + std::to_string(i));
                };
                q.push(std::move(m));
            }
        }
    }
    void drain_all(VerifyQueue& q) {
        const auto end = std::chrono::steady_clock::now() + 20s;
        while (q.size() > 0 && std::chrono::steady_clock::now() < end) {
            if (q.drain() == 0) std::this_thread::sleep_for(1ms);
        }
    }
};

void expect_in_order(const Harness& h, const std::vector<nostr::Event>& evs, bool break_odd) {
    std::vector<std::string> want;
    for (std::size_t i = 0; i < evs.size(); ++i) {
        want.push_back(evs[i].content);
        if (i % 10 == 9) want.push_back("marker " + std::to_string(i));
    }
    EXPECT_EQ(h.order, want);
    ASSERT_EQ(h.verdicts.size(), evs.size());
    for (std::size_t i = 0; i < evs.size(); ++i)
        EXPECT_EQ(h.verdicts[i], !(break_odd && i % 2 == 1)) << i;
}

TEST(VerifyQueue, InlineChecksAtPushAndCompletesInOrder) {
    auto evs = events(30, true);
    Harness h;
    VerifyQueue q(0, [&] { ++h.wakes; });
    h.push_all(q, evs);
    EXPECT_EQ(q.threads(), 0u);
    EXPECT_EQ(q.size(), evs.size() + 3);
    EXPECT_EQ(q.drain(), evs.size() + 3);  // everything was ready at once
    expect_in_order(h, evs, true);
    EXPECT_EQ(h.wakes.load(), 0);
}

TEST(VerifyQueue, WorkersKeepPushOrderAndMarkersWaitBehindEvents) {
    auto evs = events(200, true);
    for (unsigned threads : {1u, 3u}) {
        Harness h;
        VerifyQueue q(threads, [&] { ++h.wakes; });
        h.push_all(q, evs);
        h.drain_all(q);
        EXPECT_EQ(q.size(), 0u);
        expect_in_order(h, evs, true);
        EXPECT_GE(h.wakes.load(), 1) << "the worker never woke the service thread";
    }
}

TEST(VerifyQueue, EventsPushedAfterTheWorkersRanOutOfWorkAreCheckedToo) {
    // The checks run as pool jobs that end when nothing waits: each round here is pushed
    // after the previous one completed, so its events need new jobs.
    auto evs = events(60, true);
    Harness h;
    VerifyQueue q(2, [&] { ++h.wakes; });
    for (std::size_t round = 0; round < 3; ++round) {
        h.push_all(q, std::vector<nostr::Event>(
                          evs.begin() + static_cast<std::ptrdiff_t>(20 * round),
                          evs.begin() + static_cast<std::ptrdiff_t>(20 * (round + 1))));
        h.drain_all(q);
        ASSERT_EQ(q.size(), 0u) << "round " << round;
    }
    std::vector<std::string> contents, want;
    for (const auto& o : h.order)
        if (o.rfind("marker ", 0) != 0) contents.push_back(o);
    for (const auto& ev : evs) want.push_back(ev.content);
    EXPECT_EQ(contents, want);
    ASSERT_EQ(h.verdicts.size(), evs.size());
    for (std::size_t i = 0; i < evs.size(); ++i) EXPECT_EQ(h.verdicts[i], i % 2 == 0) << i;
}

TEST(VerifyQueue, UncheckedEntriesAreReadyAtOnce) {
    auto evs = events(3, false);
    VerifyQueue q(1, [] {});
    int done = 0;
    for (auto& ev : evs) {
        VerifyQueue::Entry e;
        e.event = ev;
        e.event->sig[0] = e.event->sig[0] == '0' ? '1' : '0';  // would fail if checked
        e.check = false;
        e.done = [&](VerifyQueue::Entry& d) {
            EXPECT_TRUE(d.status.ok());
            ++done;
        };
        q.push(std::move(e));
    }
    EXPECT_EQ(q.drain(), 3u);
    EXPECT_EQ(done, 3);
}

TEST(VerifyQueue, DestroyingWithPendingEntriesDropsThem) {
    auto evs = events(50, false);
    int done = 0;
    {
        VerifyQueue q(1, [] {});
        for (auto& ev : evs) {
            VerifyQueue::Entry e;
            e.event = ev;
            e.check = true;
            e.done = [&](VerifyQueue::Entry&) { ++done; };
            q.push(std::move(e));
        }
    }  // joins the worker, frees the rest; no completion runs without drain()
    EXPECT_EQ(done, 0);
}

}  // namespace
}  // namespace tenex::relay
