#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "relay/backoff.hpp"
#include "relay/dedup.hpp"

namespace tenex::relay {
namespace {

// A 64-hex event id made from a number.
std::string id(int n) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016x", n);
    return std::string(48, 'e') + buf;
}

TEST(IdDedup, RemembersIdsAndEvictsTheOldestAtCapacity) {
    IdDedup d(3);
    EXPECT_TRUE(d.insert(id(1)));
    EXPECT_FALSE(d.insert(id(1)));
    EXPECT_TRUE(d.insert(id(2)));
    EXPECT_TRUE(d.insert(id(3)));
    EXPECT_EQ(d.size(), 3u);
    EXPECT_TRUE(d.insert(id(4)));  // evicts 1
    EXPECT_EQ(d.size(), 3u);
    EXPECT_FALSE(d.contains(id(1)));
    EXPECT_TRUE(d.contains(id(2)));
    EXPECT_TRUE(d.contains(id(4)));
    EXPECT_TRUE(d.insert(id(1)));  // new again after eviction (evicts 2)
    EXPECT_FALSE(d.contains(id(2)));
    EXPECT_TRUE(d.contains(id(3)));
}

TEST(IdDedup, MemoryStaysBoundedUnderManyIds) {
    IdDedup d(1000);
    for (int i = 0; i < 100000; ++i) d.insert(id(i));
    EXPECT_EQ(d.size(), 1000u);
    EXPECT_TRUE(d.contains(id(99999)));
    EXPECT_TRUE(d.contains(id(99000)));
    EXPECT_FALSE(d.contains(id(98999)));
    EXPECT_FALSE(d.contains(id(0)));
}

TEST(IdDedup, WhatIsNotAnEventIdIsNeverRemembered) {
    IdDedup d(10);
    for (const char* bad : {"", "a", "ABCD", "not hex"}) {
        EXPECT_TRUE(d.insert(bad));
        EXPECT_TRUE(d.insert(bad));
        EXPECT_FALSE(d.contains(bad));
    }
    const std::string upper(64, 'A');
    EXPECT_TRUE(d.insert(upper));
    EXPECT_FALSE(d.contains(upper));
    EXPECT_EQ(d.size(), 0u);
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
