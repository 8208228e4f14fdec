#include <gtest/gtest.h>

#include <set>

#include "relay/cursor.hpp"
#include "relay/replaceable.hpp"
#include "relay/settle.hpp"

namespace tenex::relay {
namespace {

nostr::Event ev(std::string id, std::uint32_t kind, std::int64_t at,
                std::string pubkey = std::string(64, 'a'), std::vector<nostr::Tag> tags = {}) {
    nostr::Event e;
    e.id = std::move(id);
    e.kind = kind;
    e.created_at = at;
    e.pubkey = std::move(pubkey);
    e.tags = std::move(tags);
    return e;
}

TEST(ResumeCursor, SendsOriginalFiltersUntilSomethingWasSeen) {
    ResumeCursor c;
    nostr::Filter f;
    f.kinds = std::vector<std::uint32_t>{1};
    f.limit = 0;
    EXPECT_EQ(c.resume_filters({f}, std::chrono::seconds(60))[0], f);
}

TEST(ResumeCursor, ResumesFromNewestSeenMinusOverlapAndDropsLimit) {
    ResumeCursor c;
    c.saw_event(1000);
    c.saw_event(5000);
    c.saw_event(3000);
    nostr::Filter live;
    live.limit = 0;  // live-only at first: must not hide what was missed
    nostr::Filter later;
    later.since = 4990;
    auto out = c.resume_filters({live, later}, std::chrono::seconds(60));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].since, 4940);
    EXPECT_FALSE(out[0].limit.has_value());
    EXPECT_EQ(out[1].since, 4990);  // its own since is later: kept
}

TEST(ResumeCursor, EndOfStoredEventsCountsAsSeen) {
    ResumeCursor c;
    c.saw_eose(2000);
    EXPECT_EQ(c.resume_point(), 2000);
    c.saw_event(1500);
    EXPECT_EQ(c.resume_point(), 2000);
    c.saw_event(2500);
    EXPECT_EQ(c.resume_point(), 2500);
    nostr::Filter old;
    old.until = 100;
    EXPECT_EQ(c.resume_filters({old}, std::chrono::seconds(10))[0], old);
}

TEST(FetchState, SettlesPerRelayOnce) {
    FetchState f({"ws://a", "ws://b", "ws://a"});
    EXPECT_FALSE(f.done());
    f.settle("ws://a", "eose");
    f.settle("ws://a", "timeout");  // ignored
    EXPECT_EQ(f.reasons().at("ws://a"), "eose");
    EXPECT_FALSE(f.done());
    EXPECT_TRUE(f.is_pending("ws://b"));
    f.settle("ws://unknown", "eose");
    EXPECT_FALSE(f.done());
    f.settle("ws://b", "disconnected");
    EXPECT_TRUE(f.done());
}

TEST(FetchState, NoRelaysIsDoneAndTimeoutSettlesAll) {
    EXPECT_TRUE(FetchState({}).done());
    FetchState f({"ws://a", "ws://b"});
    f.settle("ws://a", "eose");
    f.settle_all("timeout");
    EXPECT_TRUE(f.done());
    EXPECT_EQ(f.reasons().at("ws://a"), "eose");
    EXPECT_EQ(f.reasons().at("ws://b"), "timeout");
}

TEST(FetchState, CollectsOncePerIdAndKeepsNewestAddressable) {
    FetchState f({"ws://a"});
    const std::string pk(64, 'b');
    f.add_event(ev("01", 30000, 10, pk, {{"d", "x"}}));
    f.add_event(ev("02", 30000, 20, pk, {{"d", "x"}}));
    f.add_event(ev("03", 30000, 5, pk, {{"d", "y"}}));
    f.add_event(ev("02", 30000, 20, pk, {{"d", "x"}}));
    EXPECT_TRUE(f.seen("01"));
    auto out = f.take_result();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].id, "02");
    EXPECT_EQ(out[1].id, "03");
}

TEST(Replaceable, NewestWinsAndLowestIdOnTie) {
    const std::string pk(64, 'c');
    std::vector<nostr::Event> in = {ev("bb", 0, 100, pk),    ev("aa", 0, 100, pk),
                                    ev("cc", 0, 50, pk),     ev("r1", 1, 100, pk),
                                    ev("r2", 1, 100, pk),    ev("dd", 10002, 10, pk),
                                    ev("ee", 20001, 10, pk), ev("ff", 20001, 11, pk)};
    auto out = keep_newest(in);
    std::set<std::string> ids;
    for (auto& e : out) ids.insert(e.id);
    // kind 0: aa (tie, lowest id); regular and ephemeral kept; 10002 kept.
    EXPECT_EQ(ids, (std::set<std::string>{"aa", "r1", "r2", "dd", "ee", "ff"}));
    EXPECT_FALSE(replace_key(ev("x", 1, 1)).has_value());
    EXPECT_EQ(*replace_key(ev("x", 30000, 1, pk, {{"d", "a:b"}})), "30000:" + pk + ":a:b");
    EXPECT_EQ(*replace_key(ev("x", 30000, 1, pk)), "30000:" + pk + ":");  // missing d = ""
    // Different authors never replace each other.
    auto two =
        keep_newest({ev("1", 3, 1, std::string(64, 'a')), ev("2", 3, 2, std::string(64, 'b'))});
    EXPECT_EQ(two.size(), 2u);
}

TEST(PublishState, FirstAnswerPerRelayWinsAndPendingGetTheReason) {
    PublishState p("id", {"ws://a", "ws://b", "ws://c"});
    p.record("ws://a", true, "");
    p.record("ws://a", false, "late");
    p.record("ws://b", false, "blocked: no");
    EXPECT_FALSE(p.done());
    auto r = p.result("timeout");
    ASSERT_EQ(r.relays.size(), 3u);
    EXPECT_TRUE(r.relays[0].accepted);
    EXPECT_EQ(r.relays[1].message, "blocked: no");
    EXPECT_EQ(r.relays[2].message, "timeout");
    EXPECT_EQ(r.accepted_count(), 1u);
    p.record("ws://c", true, "duplicate: have it");
    EXPECT_TRUE(p.done());
}

}  // namespace
}  // namespace tenex::relay
