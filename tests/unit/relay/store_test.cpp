#include <gtest/gtest.h>
#include <malloc.h>
#include <sqlite3.h>

#include <set>

#include "environment.hpp"
#include "relay/store.hpp"
#include "signed.hpp"

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

// The JSON size the store counts for an event.
std::size_t json_size(const nostr::Event& e) {
    return nostr::to_json(e).size();
}

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
}

// Both kinds of store: memory only ("") and a SQLite file.
class StoreKinds : public ::testing::TestWithParam<bool> {
  protected:
    std::string path() { return GetParam() ? (dir_.path() / "relay.db").string() : std::string(); }
    std::unique_ptr<EventStore> open(StoreLimits limits) {
        auto s = EventStore::open(path(), limits);
        if (!s) throw std::runtime_error(s.error().message);
        return std::move(*s);
    }
    test::TempDir dir_;
};

// One author floods with 1 KB events, then 10 others: the author's quota refuses the first
// past 8 KiB, the total refuses the others past 20 KiB; bytes() never passes the total.
TEST_P(StoreKinds, QuotasRefuseWithReasonsAndBytesStayUnderTheTotal) {
    const StoreLimits limits{.max_event_bytes = 2048,
                             .max_author_bytes = 8192,
                             .max_total_bytes = 20480,
                             .max_events = 1000};
    auto s = open(limits);
    const std::string kb(1000, 'x');
    auto flooder = nostr::Keys::generate();
    std::size_t accepted = 0, blocked = 0, event_size = 0;
    for (int i = 0; i < 100; ++i) {
        auto e = signed_event(flooder, 1, kb, 1000 + i);
        event_size = json_size(e);
        auto out = s->add(e);
        if (out.accepted) {
            EXPECT_TRUE(out.fresh);
            ++accepted;
        } else {
            EXPECT_FALSE(out.fresh);
            EXPECT_TRUE(starts_with(out.message, "blocked: this author's storage quota"))
                << out.message;
            ++blocked;
        }
        EXPECT_LE(s->author_bytes(flooder.pub.hex()), limits.max_author_bytes);
    }
    EXPECT_EQ(accepted, limits.max_author_bytes / event_size);
    EXPECT_EQ(blocked, 100 - accepted);
    EXPECT_EQ(s->bytes(), accepted * event_size);

    std::size_t others = 0;
    for (int k = 0; k < 10; ++k) {
        auto keys = nostr::Keys::generate();
        for (int i = 0; i < 5; ++i) {
            auto out = s->add(signed_event(keys, 1, kb, 2000 + i));
            if (out.accepted)
                ++others;
            else
                EXPECT_TRUE(starts_with(out.message, "blocked: this relay's storage quota"))
                    << out.message;
            EXPECT_LE(s->bytes(), limits.max_total_bytes);
        }
    }
    EXPECT_EQ(accepted + others, limits.max_total_bytes / event_size);
    EXPECT_EQ(s->size(), accepted + others);

    // Too large: refused whatever the quotas, ephemeral ones too; nothing stored.
    auto big = s->add(signed_event(nostr::Keys::generate(), 1, std::string(2100, 'y'), 3000));
    EXPECT_FALSE(big.accepted);
    EXPECT_TRUE(starts_with(big.message, "invalid: event too large")) << big.message;
    EXPECT_FALSE(s->add(signed_event(flooder, 20001, std::string(2100, 'y'), 3000)).accepted);
    // A small ephemeral event still passes (broadcast, never stored), full as the store is.
    auto eph = s->add(signed_event(flooder, 20001, "e", 3000));
    EXPECT_TRUE(eph.accepted && eph.fresh);
    EXPECT_EQ(s->size(), accepted + others);
    // Refused events were not kept anywhere: a query returns only the accepted ones.
    EXPECT_EQ(s->query({nostr::Filter{}}, 1000).size(), accepted + others);
}

// A newer version of a replaceable event takes the place of the old one in the author's
// quota; a new regular event does not fit.
TEST_P(StoreKinds, ReplacementFreesTheVersionItReplaces) {
    auto keys = nostr::Keys::generate();
    auto v1 = signed_event(keys, 10002, std::string(500, 'a'), 100);
    auto s = open({.max_event_bytes = 2048,
                   .max_author_bytes = json_size(v1) + 100,
                   .max_total_bytes = 1 << 20,
                   .max_events = 1000});
    ASSERT_TRUE(s->add(v1).accepted);
    auto note = s->add(signed_event(keys, 1, std::string(500, 'b'), 150));
    EXPECT_FALSE(note.accepted);
    EXPECT_TRUE(starts_with(note.message, "blocked:")) << note.message;
    auto v2 = signed_event(keys, 10002, std::string(500, 'c'), 200);
    auto out = s->add(v2);
    EXPECT_TRUE(out.accepted && out.fresh) << out.message;
    EXPECT_EQ(s->author_bytes(keys.pub.hex()), json_size(v2));
    auto got = s->query({nostr::Filter{}}, 10);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id, v2.id);
}

TEST_P(StoreKinds, EventQuotaCountsStoredEvents) {
    auto s = open({.max_event_bytes = 2048,
                   .max_author_bytes = 1 << 20,
                   .max_total_bytes = 1 << 20,
                   .max_events = 5});
    auto keys = nostr::Keys::generate();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->add(signed_event(keys, 1, "n", 100 + i)).accepted);
    auto sixth = s->add(signed_event(keys, 1, "n", 200));
    EXPECT_FALSE(sixth.accepted);
    EXPECT_TRUE(starts_with(sixth.message, "blocked: this relay's event quota is full (5 events)"))
        << sixth.message;
    EXPECT_EQ(s->size(), 5u);
}

// Tag conditions are answered from the index's fingerprints first: the result is exactly
// what Filter::matches selects, and a filter on indexed fields reads only its matches.
TEST_P(StoreKinds, QueriesReadOnlyTheRowsTheyNeed) {
    auto s = open({});
    auto many = nostr::Keys::generate();
    auto few = nostr::Keys::generate();
    std::vector<nostr::Event> all;
    for (int i = 0; i < 200; ++i) {
        auto e = signed_event(many, i % 2 ? 1 : 7, "m" + std::to_string(i), 1000 + i,
                              {{"p", std::string(64, "0123456789abcdef"[i % 16])},
                               {"t", "topic" + std::to_string(i % 5)}});
        all.push_back(e);
        ASSERT_TRUE(s->add(e).accepted);
    }
    for (int i = 0; i < 2; ++i) {
        all.push_back(signed_event(few, 1, "f" + std::to_string(i), 5000 + i, {{"t", "rare"}}));
        ASSERT_TRUE(s->add(all.back()).accepted);
    }
    auto reads = [&](const std::vector<nostr::Filter>& fs, std::size_t expect_events) {
        const auto before = s->rows_read();
        EXPECT_EQ(s->query(fs, 500).size(), expect_events);
        return s->rows_read() - before;
    };
    nostr::Filter by_author;
    by_author.authors = std::vector<std::string>{few.pub.hex()};
    EXPECT_EQ(reads({by_author}, 2), 2u);
    nostr::Filter newest;
    newest.limit = 5;
    EXPECT_EQ(reads({newest}, 5), 5u);
    nostr::Filter kind7;
    kind7.kinds = std::vector<std::uint32_t>{7};
    kind7.since = 1100;
    EXPECT_EQ(reads({kind7}, 50), 50u);
    // A rare tag: read about as many rows as match, not all 202.
    nostr::Filter rare;
    rare.tags['t'] = {"rare"};
    EXPECT_LT(reads({rare}, 2), 100u);  // a full scan reads 204
    // Each tag filter returns exactly the brute-force matches, newest first.
    for (const auto& [letter, value] :
         std::vector<std::pair<char, std::string>>{{'p', std::string(64, 'a')},
                                                   {'t', "topic3"},
                                                   {'t', "rare"},
                                                   {'t', "none"},
                                                   {'e', "x"}}) {
        nostr::Filter f;
        f.tags[letter] = {value};
        std::vector<std::string> want;
        for (auto it = all.rbegin(); it != all.rend(); ++it)
            if (f.matches(*it)) want.push_back(it->id);
        std::vector<std::string> got;
        for (const auto& e : s->query({f}, 500)) got.push_back(e.id);
        EXPECT_EQ(got, want) << letter << " " << value;
    }
}

// A byte budget keeps the newest events that fit and leaves the older ones out.
TEST_P(StoreKinds, QueryByteBudgetKeepsTheNewest) {
    auto s = open({});
    auto keys = nostr::Keys::generate();
    std::vector<nostr::Event> events;
    for (int i = 0; i < 10; ++i) {
        events.push_back(signed_event(keys, 1, std::string(1000, 'z'), 100 + i));
        ASSERT_TRUE(s->add(events.back()).accepted);
    }
    const std::size_t size = json_size(events[0]);
    std::vector<std::string> got;
    const auto n = s->query_json({nostr::Filter{}}, 500, 3 * size + size / 2,
                                 [&](std::string_view json) { got.emplace_back(json); });
    ASSERT_EQ(n, 3u);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], nostr::to_json(events[9]));
    EXPECT_EQ(got[2], nostr::to_json(events[7]));
}

INSTANTIATE_TEST_SUITE_P(MemoryAndFile, StoreKinds, ::testing::Bool(), [](const auto& info) {
    return info.param ? std::string("File") : std::string("Memory");
});

// Reopened, a file store answers the same queries with the events left on disk (memory holds
// only the index), and its quotas still count what it holds.
TEST(EventStore, ReopenedFileStoreKeepsOnlyTheIndexInMemory) {
    test::TempDir dir;
    const auto path = (dir.path() / "relay.db").string();
    const StoreLimits limits{.max_event_bytes = 8192,
                             .max_author_bytes = 40000,
                             .max_total_bytes = 1 << 20,
                             .max_events = 1000};
    auto flooder = nostr::Keys::generate();
    std::vector<nostr::Filter> queries(4);
    queries[1].authors = std::vector<std::string>{flooder.pub.hex()};
    queries[2].kinds = std::vector<std::uint32_t>{30023};
    queries[3].tags['t'] = {"t3"};
    std::vector<std::vector<nostr::Event>> before;
    std::size_t bytes = 0, size = 0;
    {
        auto s = EventStore::open(path, limits);
        ASSERT_TRUE(s.ok()) << s.error().message;
        for (int i = 0; i < 60; ++i) {
            (*s)->add(signed_event(flooder, 1, std::string(4000, 'f'), 1000 + i,
                                   {{"t", "t" + std::to_string(i % 7)}}));
            auto other = nostr::Keys::generate();
            (*s)->add(signed_event(other, 30023, "article", 1000 + i, {{"d", "a"}, {"t", "t3"}}));
        }
        EXPECT_FALSE((*s)->add(signed_event(flooder, 1, std::string(4000, 'g'), 2000)).accepted);
        for (const auto& q : queries) before.push_back((*s)->query({q}, 500));
        bytes = (*s)->bytes();
        size = (*s)->size();
        EXPECT_EQ((*s)->resident_bytes(), 0u);
    }
    auto s = EventStore::open(path, limits);
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ((*s)->size(), size);
    EXPECT_EQ((*s)->bytes(), bytes);
    EXPECT_GT(bytes, 9 * 4000u);
    EXPECT_EQ((*s)->resident_bytes(), 0u);  // nothing of the events but the index
    EXPECT_EQ((*s)->rows_read(), 0u);
    for (std::size_t i = 0; i < queries.size(); ++i) {
        auto after = (*s)->query({queries[i]}, 500);
        ASSERT_EQ(after.size(), before[i].size()) << i;
        for (std::size_t j = 0; j < after.size(); ++j)
            EXPECT_EQ(after[j], before[i][j]) << i << " " << j;
    }
    EXPECT_LE((*s)->author_bytes(flooder.pub.hex()), limits.max_author_bytes);
    auto again = (*s)->add(signed_event(flooder, 1, std::string(4000, 'g'), 2001));
    EXPECT_FALSE(again.accepted);
    EXPECT_TRUE(starts_with(again.message, "blocked:")) << again.message;
    // A memory store, for contrast, holds the events themselves.
    auto mem = EventStore::open("");
    ASSERT_TRUE(mem.ok());
    auto e = signed_event(flooder, 1, "m", 1);
    (*mem)->add(e);
    EXPECT_EQ((*mem)->resident_bytes(), json_size(e));
}

// Bytes the heap has handed out (every arena, mmapped blocks included).
std::size_t heap_in_use() {
    const struct mallinfo2 m = ::mallinfo2();
    return m.uordblks + m.hblkhd;
}

// Opening a file store with 16 MB of events costs the heap its index (and SQLite's page
// cache), not the events; a query with a byte budget costs about its budget.
TEST(EventStore, ReopeningABigFileStoreCostsItsIndexNotItsEvents) {
    test::TempDir dir;
    const auto path = (dir.path() / "relay.db").string();
    const StoreLimits limits{.max_event_bytes = 128 * 1024,
                             .max_author_bytes = 64u << 20,
                             .max_total_bytes = 64u << 20,
                             .max_events = 1000};
    auto keys = nostr::Keys::generate();
    {
        auto s = EventStore::open(path, limits);
        ASSERT_TRUE(s.ok()) << s.error().message;
        for (int i = 0; i < 160; ++i)
            ASSERT_TRUE(
                (*s)->add(signed_event(keys, 1, std::string(100000, 'a' + i % 26), 1000 + i))
                    .accepted);
    }
    const std::size_t before = heap_in_use();
    auto s = EventStore::open(path, limits);
    ASSERT_TRUE(s.ok()) << s.error().message;
    const std::size_t opened = heap_in_use();
    EXPECT_EQ((*s)->size(), 160u);
    EXPECT_GT((*s)->bytes(), 16000000u);
    EXPECT_LT(opened - std::min(opened, before), std::size_t{4} << 20)
        << "heap grew by " << opened - before;
    std::size_t peak = opened, n = 0;
    (*s)->query_json({nostr::Filter{}}, 500, std::size_t{1} << 20, [&](std::string_view) {
        peak = std::max(peak, heap_in_use());
        ++n;
    });
    EXPECT_EQ(n, 10u);  // 1 MiB of 100 KB events
    std::printf("heap: +%zu bytes to open %zu bytes of events, +%zu more during a 1 MiB query\n",
                opened - std::min(opened, before), (*s)->bytes(), peak - opened);
    EXPECT_LT(peak - opened, std::size_t{2} << 20) << "a query grew the heap by " << peak - opened;
}

// A file holding two versions of one replaceable event (written before replacements were one
// transaction) is indexed with the newest; the other is deleted.
TEST(EventStore, ReopenDropsSupersededVersionsLeftOnFile) {
    test::TempDir dir;
    const auto path = (dir.path() / "relay.db").string();
    auto keys = nostr::Keys::generate();
    auto v1 = signed_event(keys, 0, "old", 100);
    auto v2 = signed_event(keys, 0, "new", 200);
    {
        auto s = EventStore::open(path);
        ASSERT_TRUE(s.ok());
        ASSERT_TRUE((*s)->add(v2).fresh);
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string sql =
        "INSERT INTO events (id, json) VALUES ('" + v1.id + "', '" + nostr::to_json(v1) + "')";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
    {
        auto s = EventStore::open(path);
        ASSERT_TRUE(s.ok());
        EXPECT_EQ((*s)->size(), 1u);
        auto got = (*s)->query({nostr::Filter{}}, 10);
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].id, v2.id);
        EXPECT_EQ((*s)->bytes(), json_size(v2));
    }
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &st, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

TEST(EventStore, UnopenableFileIsAnError) {
    auto s = EventStore::open("/nonexistent-dir/x/relay.db");
    EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace tenex::relay
