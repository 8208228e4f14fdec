#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "common/backoff.hpp"

namespace {

using std::chrono::milliseconds;
using tenex::exponential_delay;

double ms(milliseconds initial, milliseconds cap, unsigned attempt, double multiplier = 2.0) {
    return exponential_delay(initial, cap, attempt, multiplier).count();
}

TEST(ExponentialDelay, DoublesFromInitialUpToTheCap) {
    std::vector<double> got;
    for (unsigned a = 0; a < 7; ++a) got.push_back(ms(milliseconds(200), milliseconds(5000), a));
    EXPECT_EQ(got, (std::vector<double>{200, 400, 800, 1600, 3200, 5000, 5000}));
}

TEST(ExponentialDelay, OtherMultipliersAndLongRunsOfFailures) {
    EXPECT_DOUBLE_EQ(ms(milliseconds(100), milliseconds(10'000), 2, 1.5), 225.0);
    EXPECT_DOUBLE_EQ(ms(milliseconds(100), milliseconds(10'000), 5, 1.0), 100.0);
    EXPECT_EQ(ms(milliseconds(1000), milliseconds(300'000), 1'000'000), 300'000.0);
    EXPECT_EQ(ms(milliseconds(1000), milliseconds(300'000), ~0u), 300'000.0);
    // A cap below `initial` wins from the first attempt.
    EXPECT_EQ(ms(milliseconds(5000), milliseconds(1000), 0), 1000.0);
}

}  // namespace
