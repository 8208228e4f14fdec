#include "common/sqlite.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace tenex::sqlite {
namespace {

TEST(Sqlite, StatementsBindRunAndReadAgainAfterAReset) {
    auto db = Database::open("", "test store");
    ASSERT_TRUE(db) << db.error().message;
    ASSERT_TRUE(db->exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"));
    Statement insert(*db, "INSERT INTO t (k, v) VALUES (?, ?)");
    for (std::int64_t i = 0; i < 3; ++i) {
        std::string key = "k" + std::to_string(i);
        ASSERT_TRUE(insert.bind(key).bind(i * 10).run("insert"));  // reusable after run()
        EXPECT_EQ(db->changes(), 1);
    }
    Statement select(*db, "SELECT k, v FROM t WHERE v >= ? ORDER BY v");
    select.bind(std::int64_t{10});
    ASSERT_EQ(select.columns(), 2);
    ASSERT_EQ(select.step(), Step::row);
    EXPECT_EQ(select.text(0), "k1");
    EXPECT_EQ(select.int64(1), 10);
    ASSERT_EQ(select.step(), Step::row);
    EXPECT_EQ(select.text_view(0), "k2");
    EXPECT_EQ(select.step(), Step::done);
    select.reset();
    ASSERT_EQ(select.bind(std::int64_t{20}).step(), Step::row);
    EXPECT_EQ(select.text(0), "k2");
}

TEST(Sqlite, ErrorsNameTheStoreAndWhatFailed) {
    auto db = Database::open("", "test store");
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("CREATE TABLE t (k TEXT PRIMARY KEY)"));
    Statement insert(*db, "INSERT INTO t (k) VALUES (?)");
    ASSERT_TRUE(insert.bind(std::string_view("a")).run("insert"));
    auto dup = insert.bind(std::string_view("a")).run("insert");
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().message.rfind("test store: insert: ", 0), 0u) << dup.error().message;
    EXPECT_NE(dup.error().message.find("UNIQUE"), std::string::npos) << dup.error().message;
    // A statement that does not prepare fails when it runs, with SQLite's reason.
    Statement bad(*db, "SELECT v FROM nowhere");
    EXPECT_EQ(bad.step(), Step::failed);
    EXPECT_NE(bad.error("read").message.find("no such table"), std::string::npos)
        << bad.error("read").message;
    auto exec = db->exec("NOT SQL");
    ASSERT_FALSE(exec);
    EXPECT_EQ(exec.error().message.rfind("test store: ", 0), 0u);
}

TEST(Sqlite, AFileIsKeptInWalModeAndAnUnopenablePathIsAClearError) {
    auto dir = std::filesystem::temp_directory_path() /
               ("tenex-sqlite-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto file = (dir / "s.sqlite3").string();
    {
        auto db = Database::open(file, "test store");
        ASSERT_TRUE(db) << db.error().message;
        ASSERT_TRUE(db->exec("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7)"));
        Statement mode(*db, "PRAGMA journal_mode");
        ASSERT_EQ(mode.step(), Step::row);
        EXPECT_EQ(mode.text(0), "wal");
    }
    {
        auto db = Database::open(file, "test store");  // reopened: the row is there
        ASSERT_TRUE(db);
        Statement s(*db, "SELECT v FROM t");
        ASSERT_EQ(s.step(), Step::row);
        EXPECT_EQ(s.int64(0), 7);
    }
    auto bad = Database::open((dir / "missing" / "s.sqlite3").string(), "test store");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("test store: cannot open "), std::string::npos)
        << bad.error().message;
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tenex::sqlite
