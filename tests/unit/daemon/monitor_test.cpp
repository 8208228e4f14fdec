#include <gtest/gtest.h>

#include "daemon/monitor.hpp"

namespace tenex::daemon {
namespace {

const std::string kAlice(64, 'a');
const std::string kBob(64, 'b');
const std::string kMallory(64, 'c');

nostr::Event event(const std::string& author, std::vector<nostr::Tag> tags) {
    nostr::Event e;
    e.pubkey = author;
    e.kind = 1;
    e.tags = std::move(tags);
    return e;
}
std::string project(const std::string& owner, const std::string& d) {
    return "31933:" + owner + ":" + d;
}

struct MonitorTest : ::testing::Test {
    MonitorLimits limits{.events_per_second = 1, .burst = 3, .queue_size = 10};
    Monitor monitor{limits, {kAlice, kBob}};
    Monitor::Clock::time_point t0{};
};

TEST_F(MonitorTest, WhitelistedEventWakesItsProject) {
    auto r = monitor.route(event(kAlice, {{"a", project(kAlice, "my-proj")}}), t0);
    ASSERT_EQ(r.projects.size(), 1u);
    EXPECT_EQ(r.projects[0].pubkey, kAlice);
    EXPECT_EQ(r.projects[0].identifier, "my-proj");
    EXPECT_EQ(monitor.accepted(), 1u);
}

TEST_F(MonitorTest, ProjectsAreKeyedByFullAddress) {
    // Two owners with the same d are two projects; the same address twice is one.
    auto r = monitor.route(event(kAlice, {{"a", project(kAlice, "x")},
                                          {"a", project(kBob, "x")},
                                          {"a", project(kAlice, "x")}}),
                           t0);
    ASSERT_EQ(r.projects.size(), 2u);
    EXPECT_EQ(r.projects[0].pubkey, kAlice);
    EXPECT_EQ(r.projects[1].pubkey, kBob);
}

TEST_F(MonitorTest, IdentifiersMayContainColons) {
    auto r = monitor.route(event(kAlice, {{"a", project(kAlice, "a:b:c")}}), t0);
    ASSERT_EQ(r.projects.size(), 1u);
    EXPECT_EQ(r.projects[0].identifier, "a:b:c");
}

TEST_F(MonitorTest, DropsWithCountedReasons) {
    EXPECT_EQ(monitor.route(event(kMallory, {{"a", project(kAlice, "p")}}), t0).reason,
              Drop::not_whitelisted);
    EXPECT_EQ(monitor.route(event(kAlice, {{"e", kBob}, {"p", kBob}}), t0).reason,
              Drop::no_project);
    EXPECT_EQ(monitor.route(event(kAlice, {{"a", "30023:" + kAlice + ":article"}}), t0).reason,
              Drop::not_a_project);
    EXPECT_EQ(monitor.route(event(kAlice, {{"a", project(kMallory, "p")}}), t0).reason,
              Drop::unknown_owner);
    EXPECT_EQ(monitor.dropped(Drop::not_whitelisted), 1u);
    EXPECT_EQ(monitor.dropped(Drop::no_project), 1u);
    EXPECT_EQ(monitor.dropped(Drop::not_a_project), 1u);
    EXPECT_EQ(monitor.dropped(Drop::unknown_owner), 1u);
    EXPECT_EQ(monitor.accepted(), 0u);
}

TEST_F(MonitorTest, HostileATagsAreDropped) {
    const std::string hostile[] = {
        "31933:" + kAlice,                       // no identifier separator
        "31933:" + kAlice.substr(0, 63) + ":p",  // short pubkey
        "31933:" + std::string(64, 'A') + ":p",  // uppercase hex
        "31933:" + std::string(64, 'g') + ":p",  // not hex
        "031933:" + kAlice + ":p",               // leading zero
        "-31933:" + kAlice + ":p",               // sign
        "99999999999:" + kAlice + ":p",          // kind out of range
        "31933:" + kAlice + ":\xff\xfe",         // invalid UTF-8
        "",                                      // empty
        std::string(10240, ':'),                 // 10 KB of separators
    };
    for (const auto& a : hostile) {
        auto r = monitor.route(event(kAlice, {{"a", a}}), t0);
        EXPECT_TRUE(r.projects.empty()) << a.substr(0, 80);
        EXPECT_EQ(r.reason, Drop::bad_address) << a.substr(0, 80);
    }
    // A hostile tag next to a good one does not stop the good one.
    auto r = monitor.route(event(kAlice, {{"a", "garbage"}, {"a", project(kAlice, "ok")}}), t0);
    ASSERT_EQ(r.projects.size(), 1u);
}

TEST_F(MonitorTest, HostileIdentifiersParseButStayData) {
    // Path safety is the workspace's job; the monitor keeps the identifier exactly as sent.
    std::string nul("p\0q", 3);
    auto t = t0;
    for (const std::string& d : {std::string(".."), std::string("../../etc"), std::string("/abs"),
                                 nul, std::string(10240, 'x')}) {
        t += std::chrono::seconds(2);  // stay within the rate limit
        auto r = monitor.route(event(kAlice, {{"a", project(kAlice, d)}}), t);
        ASSERT_EQ(r.projects.size(), 1u) << to_string(r.reason);
        EXPECT_EQ(r.projects[0].identifier, d);
    }
}

TEST_F(MonitorTest, RateLimitPerAuthorRefills) {
    auto wake = [&](const std::string& who, Monitor::Clock::time_point t) {
        return monitor.route(event(who, {{"a", project(kAlice, "p")}}), t);
    };
    for (int i = 0; i < 3; ++i) EXPECT_FALSE(wake(kAlice, t0).projects.empty()) << i;  // burst 3
    EXPECT_EQ(wake(kAlice, t0).reason, Drop::rate_limited);
    EXPECT_FALSE(wake(kBob, t0).projects.empty());  // another author has its own bucket
    EXPECT_EQ(wake(kAlice, t0 + std::chrono::milliseconds(500)).reason, Drop::rate_limited);
    EXPECT_FALSE(wake(kAlice, t0 + std::chrono::milliseconds(1100)).projects.empty());  // 1/s
    EXPECT_EQ(monitor.dropped(Drop::rate_limited), 2u);
}

// One event, many loads: 5,000 `a` tags once started 5,000 project loads for one token.
// Duplicates count once; more distinct projects than the limit drop the event whole; each
// project woken takes one token of the author's bucket.
TEST_F(MonitorTest, ProjectsPerEventAreCappedDeduplicatedAndEachCostsAToken) {
    MonitorLimits l{
        .events_per_second = 1, .burst = 10, .queue_size = 10, .max_projects_per_event = 4};
    Monitor m{l, {kAlice}};
    std::vector<nostr::Tag> same(5000, nostr::Tag{"a", project(kAlice, "p")});
    auto r = m.route(event(kAlice, same), t0);
    ASSERT_EQ(r.projects.size(), 1u);  // 5,000 copies of one address: one project, one token
    std::vector<nostr::Tag> many;
    for (int i = 0; i < 5000; ++i) many.push_back({"a", project(kAlice, "p" + std::to_string(i))});
    r = m.route(event(kAlice, many), t0);
    EXPECT_TRUE(r.projects.empty());
    EXPECT_EQ(r.reason, Drop::too_many_projects);
    EXPECT_EQ(m.dropped(Drop::too_many_projects), 1u);
    std::vector<nostr::Tag> four(many.begin(), many.begin() + 4);
    EXPECT_EQ(m.route(event(kAlice, four), t0).projects.size(), 4u);  // 1 + 4 of 10 tokens
    EXPECT_EQ(m.route(event(kAlice, four), t0).projects.size(), 4u);  // 9 of 10
    r = m.route(event(kAlice, four), t0);                             // 4 more than the 1 left
    EXPECT_EQ(r.reason, Drop::rate_limited);
    EXPECT_EQ(m.route(event(kAlice, {{"a", project(kAlice, "q")}}), t0).projects.size(), 1u);
}

TEST_F(MonitorTest, WhitelistReloadAppliesToNextEvent) {
    EXPECT_EQ(monitor.route(event(kMallory, {{"a", project(kMallory, "m")}}), t0).reason,
              Drop::not_whitelisted);
    monitor.set_whitelist({kAlice, kMallory});
    EXPECT_EQ(monitor.route(event(kMallory, {{"a", project(kMallory, "m")}}), t0).projects.size(),
              1u);
    EXPECT_EQ(monitor.route(event(kBob, {{"a", project(kAlice, "p")}}), t0).reason,
              Drop::not_whitelisted);
}

}  // namespace
}  // namespace tenex::daemon
