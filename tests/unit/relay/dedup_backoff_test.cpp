#include <gtest/gtest.h>

#include <set>

#include "relay/backoff.hpp"
#include "relay/dedup.hpp"

namespace tenex::relay {
namespace {

TEST(IdDedup, RemembersIdsAndEvictsTheOldestAtCapacity) {
    IdDedup d(3);
    EXPECT_TRUE(d.insert("a"));
    EXPECT_FALSE(d.insert("a"));
    EXPECT_TRUE(d.insert("b"));
    EXPECT_TRUE(d.insert("c"));
    EXPECT_EQ(d.size(), 3u);
    EXPECT_TRUE(d.insert("d"));  // evicts "a"
    EXPECT_EQ(d.size(), 3u);
    EXPECT_FALSE(d.contains("a"));
    EXPECT_TRUE(d.contains("b"));
    EXPECT_TRUE(d.contains("d"));
    EXPECT_TRUE(d.insert("a"));  // new again after eviction
}

TEST(IdDedup, MemoryStaysBoundedUnderManyIds) {
    IdDedup d(1000);
    for (int i = 0; i < 100000; ++i) d.insert(std::to_string(i));
    EXPECT_EQ(d.size(), 1000u);
    EXPECT_TRUE(d.contains("99999"));
    EXPECT_FALSE(d.contains("0"));
}

TEST(Backoff, GrowsExponentiallyUpToTheCapWithoutJitter) {
    Backoff b({std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.0}, 1);
    EXPECT_EQ(b.next().count(), 100);
    EXPECT_EQ(b.next().count(), 200);
    EXPECT_EQ(b.next().count(), 400);
    EXPECT_EQ(b.next().count(), 800);
    EXPECT_EQ(b.next().count(), 1000);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(b.next().count(), 1000);
    b.reset();
    EXPECT_EQ(b.next().count(), 100);
}

TEST(Backoff, JitterStaysWithinTheStepAndVaries) {
    Backoff b({std::chrono::milliseconds(1000), std::chrono::milliseconds(1000), 2.0, 0.5}, 42);
    std::set<long> seen;
    for (int i = 0; i < 200; ++i) {
        auto d = b.next().count();
        EXPECT_GE(d, 500);
        EXPECT_LE(d, 1000);
        seen.insert(d);
    }
    EXPECT_GT(seen.size(), 20u);
}

}  // namespace
}  // namespace tenex::relay
