#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon/state_store.hpp"
#include "environment.hpp"

namespace tenex::daemon {
namespace {

std::unique_ptr<StateStore> open_store(const std::filesystem::path& dir,
                                       std::size_t window = 1000) {
    auto s = StateStore::open(dir, window);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s).value() : nullptr;
}

std::string id_for(int i) {
    char buf[65];
    std::snprintf(buf, sizeof buf, "%064x", i);
    return buf;
}

TEST(StateStore, CursorsOnlyMoveForward) {
    test::TempDir dir;
    auto store = open_store(dir.path());
    EXPECT_FALSE(store->cursor("wss://a")->has_value());
    ASSERT_TRUE(store->set_cursor("wss://a", 100).ok());
    ASSERT_TRUE(store->set_cursor("wss://a", 50).ok());
    EXPECT_EQ(**store->cursor("wss://a"), 100);
    ASSERT_TRUE(store->set_cursor("wss://a", 150).ok());
    EXPECT_EQ(**store->cursor("wss://a"), 150);
    EXPECT_FALSE(store->cursor("wss://b")->has_value());
}

TEST(StateStore, PendingThenHandledAndDuplicatesRefused) {
    test::TempDir dir;
    auto store = open_store(dir.path());
    EXPECT_TRUE(*store->record_pending({id_for(1), "{\"a\":1}", 10}));
    EXPECT_TRUE(*store->record_pending({id_for(2), "{\"a\":2}", 11}));
    EXPECT_FALSE(*store->record_pending({id_for(1), "{\"a\":1}", 12}));  // duplicate
    auto pending = *store->pending();
    ASSERT_EQ(pending.size(), 2u);
    EXPECT_EQ(pending[0].id, id_for(1));
    EXPECT_EQ(pending[0].json, "{\"a\":1}");
    ASSERT_TRUE(store->mark_handled(id_for(1), 20).ok());
    pending = *store->pending();
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].id, id_for(2));
    EXPECT_TRUE(*store->seen(id_for(1)));
    EXPECT_FALSE(*store->record_pending({id_for(1), "{}", 30}));  // handled stays a duplicate
    EXPECT_FALSE(*store->seen(id_for(3)));
}

TEST(StateStore, HandledWindowIsBounded) {
    test::TempDir dir;
    auto store = open_store(dir.path(), 100);
    for (int i = 0; i < 1000; ++i) {
        ASSERT_TRUE(*store->record_pending({id_for(i), "{}", i}));
        ASSERT_TRUE(store->mark_handled(id_for(i), i).ok());
    }
    EXPECT_FALSE(*store->seen(id_for(0)));   // pruned
    EXPECT_TRUE(*store->seen(id_for(999)));  // the newest are remembered
    EXPECT_TRUE(*store->seen(id_for(900)));
    EXPECT_TRUE(store->pending()->empty());
}

TEST(StateStore, PendingEventsAreNeverPruned) {
    test::TempDir dir;
    auto store = open_store(dir.path(), 10);
    ASSERT_TRUE(*store->record_pending({id_for(7777), "{\"keep\":true}", 0}));
    for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(*store->record_pending({id_for(i), "{}", i + 1}));
        ASSERT_TRUE(store->mark_handled(id_for(i), i + 1).ok());
    }
    auto pending = *store->pending();
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].json, "{\"keep\":true}");
}

// kill -9 in the middle of work: what was committed is there after reopening.
TEST(StateStore, SurvivesKill9) {
    test::TempDir dir;
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto s = StateStore::open(dir.path());
        if (!s) _exit(2);
        auto& store = **s;
        for (int i = 0; i < 300; ++i) {
            if (!*store.record_pending({id_for(i), "{\"n\":" + std::to_string(i) + "}", i}))
                _exit(3);
            if (i % 2 == 0 && !store.mark_handled(id_for(i), i).ok()) _exit(4);
        }
        if (!store.set_cursor("ws://relay", 299).ok()) _exit(5);
        if (!store.upsert_project({"31933:x:y", "running", "abc", 1}).ok()) _exit(6);
        ::kill(::getpid(), SIGKILL);
        _exit(7);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;

    auto store = open_store(dir.path());
    auto pending = *store->pending();
    ASSERT_EQ(pending.size(), 150u);
    EXPECT_EQ(pending.front().id, id_for(1));
    EXPECT_EQ(pending.front().json, "{\"n\":1}");
    for (int i = 0; i < 300; ++i) EXPECT_TRUE(*store->seen(id_for(i))) << i;
    EXPECT_EQ(**store->cursor("ws://relay"), 299);
    auto project = *store->project("31933:x:y");
    ASSERT_TRUE(project.has_value());
    EXPECT_EQ(project->status, "running");
    EXPECT_EQ(project->container_id, "abc");
}

TEST(StateStore, ProjectsAndHistory) {
    test::TempDir dir;
    auto store = open_store(dir.path());
    ASSERT_TRUE(store->upsert_project({"31933:a:one", "starting", "", 1}).ok());
    ASSERT_TRUE(store->upsert_project({"31933:a:one", "running", "cid", 2}).ok());
    ASSERT_TRUE(store->upsert_project({"31933:a:two", "stopped", "", 3}).ok());
    auto all = *store->projects();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].status, "running");
    EXPECT_EQ(all[0].container_id, "cid");
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(store->add_history("31933:a:one", {i, "event" + std::to_string(i), ""}).ok());
    auto last3 = *store->history("31933:a:one", 3);
    ASSERT_EQ(last3.size(), 3u);
    EXPECT_EQ(last3[0].what, "event2");
    EXPECT_EQ(last3[2].what, "event4");
    EXPECT_TRUE(store->history("31933:a:none")->empty());
}

TEST(StateStore, NodePinsPersistAndClear) {
    test::TempDir dir;
    {
        auto store = open_store(dir.path());
        EXPECT_EQ(*store->node_pin("tenex-a-1"), "");
        ASSERT_TRUE(store->set_node_pin("tenex-a-1", "node-one", 10).ok());
        ASSERT_TRUE(store->set_node_pin("tenex-b-2", "node-two", 11).ok());
        ASSERT_TRUE(store->set_node_pin("tenex-a-1", "node-three", 12).ok());  // re-pinned
    }
    auto store = open_store(dir.path());  // a restarted daemon
    EXPECT_EQ(*store->node_pin("tenex-a-1"), "node-three");
    EXPECT_EQ(*store->node_pin("tenex-b-2"), "node-two");
    ASSERT_TRUE(store->set_node_pin("tenex-b-2", "", 13).ok());
    EXPECT_EQ(*store->node_pin("tenex-b-2"), "");
    EXPECT_EQ(*store->node_pin("tenex-a-1"), "node-three");
}

TEST(StateStore, UnwritableDirectoryIsAClearError) {
    auto s = StateStore::open("/proc/tenex-no-such-dir");
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("/proc/tenex-no-such-dir"), std::string::npos);
}

TEST(StateStore, RefusesNewerSchema) {
    test::TempDir dir;
    { auto store = open_store(dir.path()); }
    // Simulate a database written by a future version.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "state.sqlite3").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=9", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    auto s = StateStore::open(dir.path());
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("newer"), std::string::npos);
}

}  // namespace
}  // namespace tenex::daemon
