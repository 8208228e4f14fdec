#include <gtest/gtest.h>

#include "relay/store.hpp"
#include "signed.hpp"
#include "environment.hpp"

namespace tenex::relay {
namespace {

using testing::signed_event;

TEST(EventStore, DuplicatesReplaceableAndEphemeral) {
    auto store = EventStore::open("");
    ASSERT_TRUE(store.ok());
    auto& s = **store;
    auto keys = nostr::Keys::generate();
    auto a = signed_event(keys, 1, "a", 100);
    EXPECT_TRUE(s.add(a).fresh);
    auto dup = s.add(a);
    EXPECT_TRUE(dup.accepted);
    EXPECT_FALSE(dup.fresh);
    EXPECT_EQ(dup.message.rfind("duplicate:", 0), 0u);

    auto v1 = signed_event(keys, 30000, "v1", 100, {{"d", "x"}});
    auto v2 = signed_event(keys, 30000, "v2", 200, {{"d", "x"}});
    auto other = signed_event(keys, 30000, "o", 50, {{"d", "y"}});
    EXPECT_TRUE(s.add(v2).fresh);
    EXPECT_FALSE(s.add(v1).fresh);  // older version refused
    EXPECT_TRUE(s.add(other).fresh);
    auto eph = signed_event(keys, 20001, "e", 100);
    auto eo = s.add(eph);
    EXPECT_TRUE(eo.fresh);  // broadcast...
    nostr::Filter all;
    auto got = s.query({all}, 500);
    std::set<std::string> ids;
    for (auto& e : got) ids.insert(e.id);
    EXPECT_EQ(ids, (std::set<std::string>{a.id, v2.id, other.id}));  // ...never stored

    auto v3 = signed_event(keys, 30000, "v3", 300, {{"d", "x"}});
    EXPECT_TRUE(s.add(v3).fresh);
    nostr::Filter k;
    k.kinds = std::vector<std::uint32_t>{30000};
    got = s.query({k}, 500);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].id, v3.id);  // newest first
    EXPECT_EQ(got[1].id, other.id);
}

TEST(EventStore, QueryHonoursLimitSinceUntilNewestFirst) {
    auto store = EventStore::open("");
    ASSERT_TRUE(store.ok());
    auto keys = nostr::Keys::generate();
    for (int i = 0; i < 20; ++i) (*store)->add(signed_event(keys, 1, std::to_string(i), 1000 + i));
    nostr::Filter f;
    f.limit = 5;
    auto got = (*store)->query({f}, 500);
    ASSERT_EQ(got.size(), 5u);
    EXPECT_EQ(got[0].created_at, 1019);
    EXPECT_EQ(got[4].created_at, 1015);
    nostr::Filter range;
    range.since = 1005;
    range.until = 1010;
    got = (*store)->query({range}, 500);
    ASSERT_EQ(got.size(), 6u);
    EXPECT_EQ(got.front().created_at, 1010);
    EXPECT_EQ(got.back().created_at, 1005);
    EXPECT_EQ((*store)->query({nostr::Filter{}}, 3).size(), 3u);  // max_limit caps
    nostr::Filter none;
    none.limit = 0;
    EXPECT_TRUE((*store)->query({none}, 500).empty());
}

TEST(EventStore, SqliteFileSurvivesReopenAndKeepsReplacement) {
    test::TempDir dir;
    const auto path = (dir.path() / "relay.db").string();
    auto keys = nostr::Keys::generate();
    auto v1 = signed_event(keys, 0, "old", 100);
    auto v2 = signed_event(keys, 0, "new", 200);
    auto note = signed_event(keys, 1, "n", 150);
    {
        auto s = EventStore::open(path);
        ASSERT_TRUE(s.ok()) << s.error().message;
        (*s)->add(v1);
        (*s)->add(note);
        (*s)->add(v2);
    }
    auto s = EventStore::open(path);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ((*s)->size(), 2u);
    auto got = (*s)->query({nostr::Filter{}}, 500);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].id, v2.id);
    EXPECT_EQ(got[1].id, note.id);
    EXPECT_FALSE((*s)->add(v1).fresh);
}

TEST(EventStore, UnopenableFileIsAnError) {
    auto s = EventStore::open("/nonexistent-dir/x/relay.db");
    EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace tenex::relay
