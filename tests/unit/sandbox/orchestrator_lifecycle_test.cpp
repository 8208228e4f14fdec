#include "sandbox/orchestrator_lifecycle.hpp"

#include <gtest/gtest.h>

#include <set>

namespace tenex::sandbox {
namespace {

using std::chrono::milliseconds;

TEST(OrchestratorLifecycle, ClassifiesExits) {
    EXPECT_EQ(classify_exit(0, false), ExitReason::exit);
    EXPECT_EQ(classify_exit(3, false), ExitReason::exit);
    EXPECT_EQ(classify_exit(137, false), ExitReason::killed);
    EXPECT_EQ(classify_exit(143, false), ExitReason::killed);
    EXPECT_EQ(classify_exit(137, true), ExitReason::oom);
    EXPECT_EQ(classify_exit(255, false), ExitReason::exit);
}

TEST(OrchestratorLifecycle, RestartDecisionFollowsMode) {
    EXPECT_FALSE(should_restart(RestartMode::never, 1, ExitReason::exit));
    EXPECT_TRUE(should_restart(RestartMode::always, 0, ExitReason::exit));
    EXPECT_FALSE(should_restart(RestartMode::on_failure, 0, ExitReason::exit));
    EXPECT_TRUE(should_restart(RestartMode::on_failure, 2, ExitReason::exit));
    EXPECT_TRUE(should_restart(RestartMode::on_failure, 137, ExitReason::killed));
    EXPECT_TRUE(should_restart(RestartMode::on_failure, 0, ExitReason::oom));
}

TEST(OrchestratorLifecycle, BackoffDoublesUpToTheCap) {
    Lifecycle lc;
    lc.backoff_initial = milliseconds(100);
    lc.backoff_max = milliseconds(1000);
    // u = 0.5 is the middle of the jitter range: no jitter.
    EXPECT_EQ(backoff_delay(lc, 0, 0.2, 0.5), milliseconds(100));
    EXPECT_EQ(backoff_delay(lc, 1, 0.2, 0.5), milliseconds(200));
    EXPECT_EQ(backoff_delay(lc, 3, 0.2, 0.5), milliseconds(800));
    EXPECT_EQ(backoff_delay(lc, 4, 0.2, 0.5), milliseconds(1000));
    EXPECT_EQ(backoff_delay(lc, 500, 0.2, 0.5), milliseconds(1000));  // no overflow
    EXPECT_EQ(backoff_delay(lc, -3, 0.2, 0.5), milliseconds(100));
}

TEST(OrchestratorLifecycle, JitterStaysWithinItsRangeAndDelaysStillGrow) {
    Lifecycle lc;
    lc.backoff_initial = milliseconds(100);
    lc.backoff_max = milliseconds(100'000);
    EXPECT_EQ(backoff_delay(lc, 0, 0.2, 0.0), milliseconds(80));
    EXPECT_EQ(backoff_delay(lc, 0, 0.2, 0.999999), milliseconds(120));
    for (int attempt = 0; attempt < 8; ++attempt) {
        // The longest delay of one attempt is shorter than the shortest of the next.
        EXPECT_LT(backoff_delay(lc, attempt, 0.2, 0.999999),
                  backoff_delay(lc, attempt + 1, 0.2, 0.0))
            << attempt;
    }
    std::set<long> seen;
    for (double u = 0; u < 1; u += 0.1) seen.insert(backoff_delay(lc, 2, 0.2, u).count());
    EXPECT_GT(seen.size(), 5u);  // jitter does vary the delay
}

TEST(OrchestratorLifecycle, RestartWindowCountsOnlyRecentRestarts) {
    Lifecycle lc;
    lc.crash_loop_threshold = 3;
    lc.crash_loop_window = milliseconds(1000);
    RestartWindow w;
    TimePoint t0{};
    t0 += std::chrono::hours(1);
    w.record(t0);
    w.record(t0 + milliseconds(100));
    EXPECT_FALSE(w.exhausted(t0 + milliseconds(200), lc));
    w.record(t0 + milliseconds(300));
    EXPECT_TRUE(w.exhausted(t0 + milliseconds(400), lc));
    // The first restart leaves the window.
    EXPECT_FALSE(w.exhausted(t0 + milliseconds(1050), lc));
    EXPECT_EQ(w.count(t0 + milliseconds(1050), lc.crash_loop_window), 2);
    w.reset();
    EXPECT_EQ(w.count(t0 + milliseconds(1050), lc.crash_loop_window), 0);
    lc.crash_loop_threshold = 0;  // no cutoff
    for (int i = 0; i < 10; ++i) w.record(t0 + milliseconds(1100));
    EXPECT_FALSE(w.exhausted(t0 + milliseconds(1100), lc));
}

TEST(OrchestratorLifecycle, StartQueueIsRoundRobinAcrossOwners) {
    FairStartQueue q;
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(q.push("owner-a", "a" + std::to_string(i)));
    EXPECT_TRUE(q.push("owner-b", "b0"));
    EXPECT_TRUE(q.push("owner-c", "c0"));
    EXPECT_TRUE(q.push("owner-b", "b1"));
    EXPECT_FALSE(q.push("owner-a", "a1"));  // already waiting
    EXPECT_EQ(q.size(), 8u);
    std::vector<std::string> order;
    while (auto k = q.pop()) order.push_back(*k);
    EXPECT_EQ(order, (std::vector<std::string>{"a0", "b0", "c0", "a1", "b1", "a2", "a3", "a4"}));
    EXPECT_TRUE(q.empty());
}

TEST(OrchestratorLifecycle, StartQueueRemove) {
    FairStartQueue q;
    q.push("x", "x0");
    q.push("y", "y0");
    q.push("x", "x1");
    EXPECT_TRUE(q.remove("y0"));
    EXPECT_FALSE(q.remove("y0"));
    EXPECT_FALSE(q.contains("y0"));
    EXPECT_EQ(*q.pop(), "x0");
    EXPECT_EQ(*q.pop(), "x1");
    EXPECT_FALSE(q.pop());
    EXPECT_TRUE(q.push("y", "y0"));  // may wait again after leaving
}

TEST(OrchestratorLifecycle, StateNames) {
    EXPECT_EQ(to_string(ProjectState::backing_off), "backing-off");
    EXPECT_EQ(to_string(ProjectState::paused), "paused");
    EXPECT_EQ(to_string(ProjectState::crash_looping), "crash-looping");
    EXPECT_EQ(to_string(ExitReason::oom), "oom");
}

}  // namespace
}  // namespace tenex::sandbox
