#include "project/single_flight.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace tenex::project {
namespace {

using namespace std::chrono_literals;

TEST(SingleFlight, ConcurrentCallersShareOneRun) {
    SingleFlight<std::string, int> flight;
    std::atomic<int> runs{0};
    std::atomic<bool> release{false};
    std::atomic<int> started{0};
    auto slow = [&]() -> Result<int> {
        ++runs;
        while (!release) std::this_thread::sleep_for(1ms);
        return 42;
    };
    std::vector<std::thread> threads;
    std::vector<int> values(8, 0);
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            ++started;
            auto r = flight.run("31933:owner:proj", slow);
            values[static_cast<std::size_t>(i)] = r.ok() ? *r : -1;
        });
    }
    while (started < 8) std::this_thread::sleep_for(1ms);
    while (runs < 1 || flight.waiters("31933:owner:proj") < 7) std::this_thread::sleep_for(1ms);
    release = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(runs.load(), 1);
    EXPECT_EQ(flight.waiters("31933:owner:proj"), 0);
    for (int v : values) EXPECT_EQ(v, 42);
}

TEST(SingleFlight, DifferentKeysRunIndependently) {
    SingleFlight<std::string, int> flight;
    std::atomic<int> runs{0};
    std::thread a([&] {
        (void)flight.run("a", [&]() -> Result<int> {
            ++runs;
            std::this_thread::sleep_for(30ms);
            return 1;
        });
    });
    std::thread b([&] {
        (void)flight.run("b", [&]() -> Result<int> {
            ++runs;
            std::this_thread::sleep_for(30ms);
            return 2;
        });
    });
    a.join();
    b.join();
    EXPECT_EQ(runs.load(), 2);
}

TEST(SingleFlight, FailureIsNotRetriedBeforeTheBackoffThenRetriedAfter) {
    auto now = SingleFlight<std::string, int>::Clock::now();
    SingleFlight<std::string, int> flight(BackoffPolicy{10s, 60s}, [&] { return now; });
    int runs = 0;
    auto failing = [&]() -> Result<int> {
        ++runs;
        return make_error("clone failed");
    };

    auto first = flight.run("k", failing);
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.error().message, "clone failed");
    EXPECT_EQ(runs, 1);

    for (int i = 0; i < 100; ++i) {  // a burst of triggers: no tight retry loop
        auto again = flight.run("k", failing);
        ASSERT_FALSE(again.ok());
        EXPECT_NE(again.error().message.find("next attempt allowed in"), std::string::npos);
    }
    EXPECT_EQ(runs, 1);

    now += 11s;
    (void)flight.run("k", failing);
    EXPECT_EQ(runs, 2);
    EXPECT_EQ(flight.failures("k"), 2);

    now += 11s;  // second failure doubled the backoff to 20 s
    (void)flight.run("k", failing);
    EXPECT_EQ(runs, 2);
    now += 10s;
    auto ok = flight.run("k", [&]() -> Result<int> {
        ++runs;
        return 7;
    });
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(*ok, 7);
    EXPECT_EQ(flight.failures("k"), 0);
}

TEST(SingleFlight, BackoffIsCappedAtTheMaximum) {
    auto now = SingleFlight<std::string, int>::Clock::now();
    SingleFlight<std::string, int> flight(BackoffPolicy{1s, 4s}, [&] { return now; });
    int runs = 0;
    auto failing = [&]() -> Result<int> {
        ++runs;
        return make_error("no");
    };
    for (int i = 0; i < 6; ++i) {
        (void)flight.run("k", failing);
        now += 4s;  // the cap: always enough to allow the next attempt
    }
    EXPECT_EQ(runs, 6);
}

TEST(SingleFlight, WaitersSeeTheFailureOfTheRunTheyJoined) {
    SingleFlight<std::string, int> flight;
    std::atomic<bool> release{false};
    std::atomic<int> runs{0};
    auto slow_fail = [&]() -> Result<int> {
        ++runs;
        while (!release) std::this_thread::sleep_for(1ms);
        return make_error("server stalled");
    };
    Result<int> r1 = make_error(""), r2 = make_error("");
    std::thread t1([&] { r1 = flight.run("k", slow_fail); });
    while (runs < 1) std::this_thread::sleep_for(1ms);
    std::thread t2([&] { r2 = flight.run("k", slow_fail); });
    while (flight.waiters("k") < 1) std::this_thread::sleep_for(1ms);
    release = true;
    t1.join();
    t2.join();
    EXPECT_EQ(runs.load(), 1);
    ASSERT_FALSE(r1.ok());
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(r1.error().message, "server stalled");
    EXPECT_EQ(r2.error().message, "server stalled");
}

TEST(SingleFlight, AnExceptionBecomesAnError) {
    SingleFlight<int, int> flight;
    auto r = flight.run(1, []() -> Result<int> { throw std::runtime_error("boom"); });
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("boom"), std::string::npos);
}

}  // namespace
}  // namespace tenex::project
