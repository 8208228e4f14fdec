#include "daemon/state_store.hpp"

#include <algorithm>
#include <system_error>

namespace tenex::daemon {
namespace {

using sqlite::Step;
using Stmt = sqlite::Statement;

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
CREATE TABLE IF NOT EXISTS node_pins (
    service TEXT PRIMARY KEY,        -- a project's swarm service (its container name)
    node_id TEXT NOT NULL,           -- the node holding its node-local workspace
    pinned_at INTEGER NOT NULL
);
)sql";

}  // namespace

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& state_dir,
                                                     std::size_t handled_window) {
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec)
        return make_error("state store: cannot create " + state_dir.string() + ": " + ec.message());
    const auto file = state_dir / "state.sqlite3";
    auto db = sqlite::Database::open(file.string(), "state store");
    if (!db) return db.error();
    if (auto s = db->exec(kSchema); !s) return s.error();
    std::int64_t found = 0;
    {
        Stmt version(*db, "PRAGMA user_version");
        if (version.step() != Step::row) return version.error("read schema version");
        found = version.int64(0);
    }
    if (found > kSchemaVersion)
        return make_error("state store: " + file.string() + " has schema version " +
                          std::to_string(found) + ", newer than this tenex-sandbox (" +
                          std::to_string(kSchemaVersion) + "): upgrade tenex-sandbox");
    if (found < kSchemaVersion)
        if (auto s = db->exec("PRAGMA user_version=1"); !s) return s.error();
    return std::unique_ptr<StateStore>(new StateStore(std::move(*db), handled_window));
}

StateStore::~StateStore() = default;

Result<std::string> StateStore::node_pin(const std::string& service) const {
    Stmt s(db_, "SELECT node_id FROM node_pins WHERE service = ?");
    s.bind(service);
    switch (s.step()) {
        case Step::row:
            return s.text(0);
        case Step::done:
            return std::string();
        case Step::failed:
            break;
    }
    return s.error("read node pin");
}

Status StateStore::set_node_pin(const std::string& service, const std::string& node_id,
                                std::int64_t at) {
    if (node_id.empty()) {
        Stmt s(db_, "DELETE FROM node_pins WHERE service = ?");
        return s.bind(service).run("clear node pin");
    }
    Stmt s(db_,
           "INSERT INTO node_pins(service, node_id, pinned_at) VALUES(?, ?, ?) "
           "ON CONFLICT(service) DO UPDATE SET node_id = excluded.node_id, "
           "pinned_at = excluded.pinned_at");
    return s.bind(service).bind(node_id).bind(at).run("write node pin");
}

Result<std::optional<std::int64_t>> StateStore::cursor(const std::string& relay) const {
    Stmt s(db_, "SELECT newest_created_at FROM relay_cursors WHERE relay = ?");
    s.bind(relay);
    switch (s.step()) {
        case Step::row:
            return std::optional<std::int64_t>(s.int64(0));
        case Step::done:
            return std::optional<std::int64_t>();
        case Step::failed:
            break;
    }
    return s.error("read cursor");
}

Status StateStore::set_cursor(const std::string& relay, std::int64_t newest_created_at) {
    // A cursor only moves forward.
    Stmt s(db_,
           "INSERT INTO relay_cursors(relay, newest_created_at) VALUES(?, ?) "
           "ON CONFLICT(relay) DO UPDATE SET newest_created_at = "
           "max(newest_created_at, excluded.newest_created_at)");
    return s.bind(relay).bind(newest_created_at).run("write cursor");
}

Result<bool> StateStore::record_pending(const PendingEvent& event) {
    Stmt s(db_, "INSERT OR IGNORE INTO events(id, json, received_at) VALUES(?, ?, ?)");
    if (auto st = s.bind(event.id).bind(event.json).bind(event.received_at).run("record event");
        !st)
        return st.error();
    return db_.changes() == 1;
}

Status StateStore::mark_handled(const std::string& id, std::int64_t handled_at) {
    Stmt s(db_, "UPDATE events SET handled_at = ?, json = NULL WHERE id = ?");
    if (auto st = s.bind(handled_at).bind(id).run("mark event handled"); !st) return st;
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
    return s.bind(static_cast<std::int64_t>(window_)).run("prune handled events");
}

Result<bool> StateStore::seen(const std::string& id) const {
    Stmt s(db_, "SELECT 1 FROM events WHERE id = ?");
    s.bind(id);
    const Step step = s.step();
    if (step == Step::failed) return s.error("look up event");
    return step == Step::row;
}

Result<std::vector<PendingEvent>> StateStore::pending() const {
    Stmt s(db_,
           "SELECT id, json, received_at FROM events WHERE handled_at IS NULL "
           "ORDER BY received_at, rowid");
    std::vector<PendingEvent> out;
    Step step;
    while ((step = s.step()) == Step::row) out.push_back({s.text(0), s.text(1), s.int64(2)});
    if (step == Step::failed) return s.error("list pending events");
    return out;
}

Status StateStore::upsert_project(const ProjectRecord& r) {
    Stmt s(db_,
           "INSERT INTO projects(address, status, container_id, updated_at) VALUES(?, ?, ?, ?) "
           "ON CONFLICT(address) DO UPDATE SET status = excluded.status, "
           "container_id = excluded.container_id, updated_at = excluded.updated_at");
    return s.bind(r.address)
        .bind(r.status)
        .bind(r.container_id)
        .bind(r.updated_at)
        .run("write project");
}

Result<std::optional<ProjectRecord>> StateStore::project(const std::string& address) const {
    Stmt s(db_, "SELECT address, status, container_id, updated_at FROM projects WHERE address = ?");
    s.bind(address);
    switch (s.step()) {
        case Step::row:
            return std::optional<ProjectRecord>(
                ProjectRecord{s.text(0), s.text(1), s.text(2), s.int64(3)});
        case Step::done:
            return std::optional<ProjectRecord>();
        case Step::failed:
            break;
    }
    return s.error("read project");
}

Result<std::vector<ProjectRecord>> StateStore::projects() const {
    Stmt s(db_, "SELECT address, status, container_id, updated_at FROM projects ORDER BY address");
    std::vector<ProjectRecord> out;
    Step step;
    while ((step = s.step()) == Step::row)
        out.push_back({s.text(0), s.text(1), s.text(2), s.int64(3)});
    if (step == Step::failed) return s.error("list projects");
    return out;
}

Status StateStore::add_history(const std::string& address, const HistoryEntry& e) {
    Stmt s(db_, "INSERT INTO project_history(address, at, what, detail) VALUES(?, ?, ?, ?)");
    return s.bind(address).bind(e.at).bind(e.what).bind(e.detail).run("write history");
}

Result<std::vector<HistoryEntry>> StateStore::history(const std::string& address,
                                                      std::size_t limit) const {
    Stmt s(db_,
           "SELECT at, what, detail FROM (SELECT seq, at, what, detail FROM project_history "
           "WHERE address = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq");
    s.bind(address).bind(static_cast<std::int64_t>(limit));
    std::vector<HistoryEntry> out;
    Step step;
    while ((step = s.step()) == Step::row) out.push_back({s.int64(0), s.text(1), s.text(2)});
    if (step == Step::failed) return s.error("read history");
    return out;
}

}  // namespace tenex::daemon
