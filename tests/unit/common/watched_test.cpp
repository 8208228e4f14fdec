#include "common/watched.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stop_token>
#include <string>
#include <thread>

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
