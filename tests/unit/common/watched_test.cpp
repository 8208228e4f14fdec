#include "common/watched.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using tenex::StopSignal;
using tenex::Watched;

TEST(Watched, AWaiterSeesTheUpdateThatMakesItsConditionTrue) {
    Watched<int> seq{0};
    auto waiter = std::async(std::launch::async,
                             [&] { return seq.wait_for(10s, [](int v) { return v >= 3; }); });
    for (int i = 1; i <= 3; ++i) seq.update([](int& v) { ++v; });
    EXPECT_TRUE(waiter.get());
    EXPECT_EQ(seq.get(), 3);
}

TEST(Watched, AWaitEndsFalseAtItsDeadlineWhenTheConditionNeverHolds) {
    Watched<std::string> state{"connecting"};
    EXPECT_FALSE(state.wait_for(30ms, [](const std::string& s) { return s == "connected"; }));
    state.set("connected");
    EXPECT_TRUE(state.wait_for(0ms, [](const std::string& s) { return s == "connected"; }));
}

TEST(Watched, UpdateAndReadReturnWhatTheirFunctionReturns) {
    Watched<int> w{41};
    EXPECT_EQ(w.update([](int& v) { return ++v; }), 42);
    EXPECT_EQ(w.read([](const int& v) { return v * 2; }), 84);
}

TEST(Watched, AStopRequestEndsAStopTokenWait) {
    Watched<bool> never{false};
    std::stop_source source;
    auto waiter = std::async(std::launch::async, [&] {
        return never.wait_for(source.get_token(), 60s, [](bool v) { return v; });
    });
    std::this_thread::sleep_for(20ms);
    source.request_stop();
    ASSERT_EQ(waiter.wait_for(10s), std::future_status::ready);
    EXPECT_FALSE(waiter.get());
}

TEST(StopSignal, StopEndsASleepUnderWayAndEveryLaterOne) {
    StopSignal signal;
    EXPECT_FALSE(signal.sleep_for(1ms));
    auto sleeper = std::async(std::launch::async, [&] { return signal.sleep_for(60s); });
    std::this_thread::sleep_for(20ms);
    signal.stop();
    ASSERT_EQ(sleeper.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(sleeper.get());
    EXPECT_TRUE(signal.stopped());
    EXPECT_TRUE(signal.sleep_for(60s));
}

TEST(Watched, EveryOneOfManyWaitersWakesForTheUpdateItWaitsFor) {
    // Updates notify only while someone waits: each waiter must still see its own condition,
    // whether it started waiting before or after the updates it needs.
    Watched<int> seq{0};
    std::vector<std::future<bool>> waiters;
    for (int want = 1; want <= 8; ++want)
        waiters.push_back(std::async(std::launch::async, [&seq, want] {
            return seq.wait_for(10s, [want](int v) { return v >= want; });
        }));
    for (int i = 1; i <= 8; ++i) {
        std::this_thread::sleep_for(2ms);
        seq.update([](int& v) { ++v; });
    }
    for (auto& w : waiters) EXPECT_TRUE(w.get());
    EXPECT_TRUE(seq.wait_for(0ms, [](int v) { return v == 8; }));
}

TEST(StopSignal, ATokenSleepLastsItsTimeOrEndsAtTheStopRequest) {
    std::stop_source source;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(StopSignal::sleep_for(source.get_token(), 30ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    auto sleeper = std::async(std::launch::async,
                              [&] { return StopSignal::sleep_for(source.get_token(), 60s); });
    std::this_thread::sleep_for(20ms);
    source.request_stop();
    ASSERT_EQ(sleeper.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(sleeper.get());
}
