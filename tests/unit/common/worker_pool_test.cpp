#include "common/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

namespace tenex {
namespace {

using namespace std::chrono_literals;

// A gate the test opens: jobs block on it to hold their worker.
class Gate {
  public:
    void wait() { f_.wait(); }
    void open() { p_.set_value(); }

  private:
    std::promise<void> p_;
    std::shared_future<void> f_{p_.get_future().share()};
};

TEST(WorkerPool, ACappedLaneNeverTakesTheThreadsOfAnother) {
    WorkerPool pool("test", 4, {{.name = "known"}, {.name = "unknown", .max_running = 2}});
    Gate slow;
    std::atomic<int> slow_started{0};
    for (int i = 0; i < 40; ++i)  // forty loads that wait on a silent relay
        ASSERT_TRUE(pool.submit(1, [&] {
            ++slow_started;
            slow.wait();
        }));
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(slow_started.load(), 2);  // the cap, not the four threads
    EXPECT_EQ(pool.queued(1), 38u);
    // A job of the other lane runs at once, twice over.
    std::promise<void> a, b;
    ASSERT_TRUE(pool.submit(0, [&] { a.set_value(); }));
    ASSERT_TRUE(pool.submit(0, [&] { b.set_value(); }));
    EXPECT_EQ(a.get_future().wait_for(2s), std::future_status::ready);
    EXPECT_EQ(b.get_future().wait_for(2s), std::future_status::ready);
    slow.open();
    for (int i = 0; i < 200 && pool.queued(1) > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(pool.queued(1), 0u);
    pool.stop();
    EXPECT_EQ(slow_started.load(), 40);
}

TEST(WorkerPool, AJobThatThrowsIsCountedAndTheWorkerGoesOn) {
    WorkerPool pool("test", 1, {{.name = "only"}});
    ASSERT_TRUE(pool.submit(0, [] { throw std::runtime_error("boom"); }));
    ASSERT_TRUE(pool.submit(0, [] { throw 42; }));
    std::promise<void> after;
    ASSERT_TRUE(pool.submit(0, [&] { after.set_value(); }));
    EXPECT_EQ(after.get_future().wait_for(2s), std::future_status::ready);
    EXPECT_EQ(pool.failures(), 2u);
}

TEST(WorkerPool, StopFinishesRunningJobsDropsQueuedOnesAndRefusesNewOnes) {
    WorkerPool pool("test", 1, {{.name = "only"}});
    Gate gate;
    std::atomic<bool> first_done{false}, second_ran{false};
    std::promise<void> first_started;
    ASSERT_TRUE(pool.submit(0, [&] {
        first_started.set_value();
        gate.wait();
        first_done = true;
    }));
    ASSERT_TRUE(pool.submit(0, [&] { second_ran = true; }));
    first_started.get_future().wait();
    std::thread opener([&] {
        std::this_thread::sleep_for(100ms);
        gate.open();
    });
    pool.stop();
    opener.join();
    EXPECT_TRUE(first_done.load());
    EXPECT_FALSE(second_ran.load());
    EXPECT_FALSE(pool.submit(0, [] {}));
    EXPECT_FALSE(WorkerPool("test", 1, {{.name = "only"}}).submit(3, [] {}));  // no such lane
}

}  // namespace
}  // namespace tenex
