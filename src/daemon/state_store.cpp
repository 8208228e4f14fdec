#include "daemon/state_store.hpp"

#include <sqlite3.h>

#include <system_error>

namespace tenex::daemon {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS relay_cursors (
    relay TEXT PRIMARY KEY,
    newest_created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    json TEXT,                       -- kept while pending, dropped once handled
    received_at INTEGER NOT NULL,
    handled_at INTEGER               -- NULL while pending
);
CREATE INDEX IF NOT EXISTS events_pending ON events(received_at) WHERE handled_at IS NULL;
CREATE INDEX IF NOT EXISTS events_handled ON events(handled_at) WHERE handled_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS projects (
    address TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    container_id TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS project_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    at INTEGER NOT NULL,
    what TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS project_history_address ON project_history(address, seq);
)sql";

// A prepared statement bound in order; finalized on destruction.
class Stmt {
  public:
    // A statement that fails to prepare makes step() fail, and error() says why.
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    }
    ~Stmt() { sqlite3_finalize(stmt_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& bind(const std::string& v) {
        sqlite3_bind_text(stmt_, ++index_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& bind(std::int64_t v) {
        sqlite3_bind_int64(stmt_, ++index_, v);
        return *this;
    }
    // SQLITE_ROW, SQLITE_DONE or an error code.
    int step() { return sqlite3_step(stmt_); }
    std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
    std::string text(int col) const {
        auto* p = sqlite3_column_text(stmt_, col);
        return p ? std::string(reinterpret_cast<const char*>(p),
                               static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
                 : std::string();
    }
    Error error(const char* what) const {
        return make_error(std::string("state store: ") + what + ": " + sqlite3_errmsg(db_));
    }

  private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    int index_ = 0;
};

}  // namespace

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& state_dir,
                                                     std::size_t handled_window) {
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec)
        return make_error("state store: cannot create " + state_dir.string() + ": " + ec.message());
    auto file = state_dir / "state.sqlite3";
    sqlite3* db = nullptr;
    int rc =
        sqlite3_open_v2(file.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        return make_error("state store: cannot open " + file.string() + ": " + msg);
    }
    std::unique_ptr<StateStore> store(new StateStore(db, handled_window));
    sqlite3_busy_timeout(db, 5000);
    // WAL + synchronous=NORMAL: a committed transaction survives a process crash (kill -9);
    // only an OS crash may lose the last transactions.
    for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", kSchema}) {
        if (auto s = store->exec(sql); !s) return std::move(s).error();
    }
    Stmt version(db, "PRAGMA user_version");
    if (version.step() != SQLITE_ROW) return version.error("read schema version");
    auto found = version.int64(0);
    if (found > kSchemaVersion)
        return make_error("state store: " + file.string() + " has schema version " +
                          std::to_string(found) + ", newer than this tenex-sandbox (" +
                          std::to_string(kSchemaVersion) + "): upgrade tenex-sandbox");
    if (found < kSchemaVersion) {
        if (auto s = store->exec("PRAGMA user_version=1"); !s) return std::move(s).error();
    }
    return store;
}

StateStore::~StateStore() {
    sqlite3_close(db_);
}

Status StateStore::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db_);
        sqlite3_free(err);
        return make_error("state store: " + msg);
    }
    return Unit{};
}

Result<std::optional<std::int64_t>> StateStore::cursor(const std::string& relay) const {
    Stmt s(db_, "SELECT newest_created_at FROM relay_cursors WHERE relay = ?");
    s.bind(relay);
    switch (s.step()) {
        case SQLITE_ROW:
            return std::optional<std::int64_t>(s.int64(0));
        case SQLITE_DONE:
            return std::optional<std::int64_t>();
        default:
            return s.error("read cursor");
    }
}

Status StateStore::set_cursor(const std::string& relay, std::int64_t newest_created_at) {
    // A cursor only moves forward.
    Stmt s(db_,
           "INSERT INTO relay_cursors(relay, newest_created_at) VALUES(?, ?) "
           "ON CONFLICT(relay) DO UPDATE SET newest_created_at = "
           "max(newest_created_at, excluded.newest_created_at)");
    s.bind(relay).bind(newest_created_at);
    if (s.step() != SQLITE_DONE) return s.error("write cursor");
    return Unit{};
}

Result<bool> StateStore::record_pending(const PendingEvent& event) {
    Stmt s(db_, "INSERT OR IGNORE INTO events(id, json, received_at) VALUES(?, ?, ?)");
    s.bind(event.id).bind(event.json).bind(event.received_at);
    if (s.step() != SQLITE_DONE) return s.error("record event");
    return sqlite3_changes(db_) == 1;
}

Status StateStore::mark_handled(const std::string& id, std::int64_t handled_at) {
    Stmt s(db_, "UPDATE events SET handled_at = ?, json = NULL WHERE id = ?");
    s.bind(handled_at).bind(id);
    if (s.step() != SQLITE_DONE) return s.error("mark event handled");
    // Prune in batches so the window costs one DELETE per ~1% of its size.
    if (++handled_since_prune_ >= std::max<std::size_t>(window_ / 100, 1)) {
        handled_since_prune_ = 0;
        return prune_handled();
    }
    return Unit{};
}

Status StateStore::prune_handled() {
    Stmt s(db_,
           "DELETE FROM events WHERE handled_at IS NOT NULL AND id NOT IN ("
           "SELECT id FROM events WHERE handled_at IS NOT NULL "
           "ORDER BY handled_at DESC, rowid DESC LIMIT ?)");
    s.bind(static_cast<std::int64_t>(window_));
    if (s.step() != SQLITE_DONE) return s.error("prune handled events");
    return Unit{};
}

Result<bool> StateStore::seen(const std::string& id) const {
    Stmt s(db_, "SELECT 1 FROM events WHERE id = ?");
    s.bind(id);
    int rc = s.step();
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return s.error("look up event");
}

Result<std::vector<PendingEvent>> StateStore::pending() const {
    Stmt s(db_,
           "SELECT id, json, received_at FROM events WHERE handled_at IS NULL "
           "ORDER BY received_at, rowid");
    std::vector<PendingEvent> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.text(0), s.text(1), s.int64(2)});
    if (rc != SQLITE_DONE) return s.error("list pending events");
    return out;
}

Status StateStore::upsert_project(const ProjectRecord& r) {
    Stmt s(db_,
           "INSERT INTO projects(address, status, container_id, updated_at) VALUES(?, ?, ?, ?) "
           "ON CONFLICT(address) DO UPDATE SET status = excluded.status, "
           "container_id = excluded.container_id, updated_at = excluded.updated_at");
    s.bind(r.address).bind(r.status).bind(r.container_id).bind(r.updated_at);
    if (s.step() != SQLITE_DONE) return s.error("write project");
    return Unit{};
}

Result<std::optional<ProjectRecord>> StateStore::project(const std::string& address) const {
    Stmt s(db_, "SELECT address, status, container_id, updated_at FROM projects WHERE address = ?");
    s.bind(address);
    int rc = s.step();
    if (rc == SQLITE_ROW)
        return std::optional<ProjectRecord>(
            ProjectRecord{s.text(0), s.text(1), s.text(2), s.int64(3)});
    if (rc == SQLITE_DONE) return std::optional<ProjectRecord>();
    return s.error("read project");
}

Result<std::vector<ProjectRecord>> StateStore::projects() const {
    Stmt s(db_, "SELECT address, status, container_id, updated_at FROM projects ORDER BY address");
    std::vector<ProjectRecord> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
        out.push_back({s.text(0), s.text(1), s.text(2), s.int64(3)});
    if (rc != SQLITE_DONE) return s.error("list projects");
    return out;
}

Status StateStore::add_history(const std::string& address, const HistoryEntry& e) {
    Stmt s(db_, "INSERT INTO project_history(address, at, what, detail) VALUES(?, ?, ?, ?)");
    s.bind(address).bind(e.at).bind(e.what).bind(e.detail);
    if (s.step() != SQLITE_DONE) return s.error("write history");
    return Unit{};
}

Result<std::vector<HistoryEntry>> StateStore::history(const std::string& address,
                                                      std::size_t limit) const {
    Stmt s(db_,
           "SELECT at, what, detail FROM (SELECT seq, at, what, detail FROM project_history "
           "WHERE address = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq");
    s.bind(address).bind(static_cast<std::int64_t>(limit));
    std::vector<HistoryEntry> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) out.push_back({s.int64(0), s.text(1), s.text(2)});
    if (rc != SQLITE_DONE) return s.error("read history");
    return out;
}

}  // namespace tenex::daemon
