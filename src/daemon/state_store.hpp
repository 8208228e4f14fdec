// The daemon's durable state in SQLite (WAL): relay cursors, the window of handled event ids,
// events received but not yet handled, and per-project status with its history. After a
// kill -9 and a restart nothing is lost (pending events are handled again) and nothing is
// duplicated (handled ids are remembered).
//
// Not thread-safe: one thread (the daemon's) owns a StateStore.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/sqlite.hpp"

namespace tenex::daemon {

struct PendingEvent {
    std::string id;
    std::string json;  // the event as received (already verified)
    std::int64_t received_at = 0;
};

struct ProjectRecord {
    std::string address;
    std::string status;  // e.g. "running", "stopped", "failed"
    std::string container_id{};
    std::int64_t updated_at = 0;
};

struct HistoryEntry {
    std::int64_t at = 0;
    std::string what;  // e.g. "trigger", "started", "exited", "oom"
    std::string detail{};
};

class StateStore {
  public:
    // Opens (creating if needed) <state_dir>/state.sqlite3. handled_window: how many handled
    // event ids are remembered (older ones are pruned).
    static Result<std::unique_ptr<StateStore>> open(const std::filesystem::path& state_dir,
                                                    std::size_t handled_window = 100000);
    ~StateStore();
    StateStore(const StateStore&) = delete;
    StateStore& operator=(const StateStore&) = delete;

    // Relay cursors: the newest created_at seen from each relay URL.
    Result<std::optional<std::int64_t>> cursor(const std::string& relay) const;
    Status set_cursor(const std::string& relay, std::int64_t newest_created_at);

    // Events: an event is first recorded as pending (in the same transaction the cursor may
    // advance), then marked handled. `record_pending` returns false when the id was already
    // pending or handled: the caller drops the duplicate.
    Result<bool> record_pending(const PendingEvent& event);
    Status mark_handled(const std::string& id, std::int64_t handled_at);
    Result<bool> seen(const std::string& id) const;
    Result<std::vector<PendingEvent>> pending() const;  // oldest first

    // Projects.
    Status upsert_project(const ProjectRecord& record);
    Result<std::optional<ProjectRecord>> project(const std::string& address) const;
    Result<std::vector<ProjectRecord>> projects() const;
    Status add_history(const std::string& address, const HistoryEntry& entry);
    Result<std::vector<HistoryEntry>> history(const std::string& address,
                                              std::size_t limit = 100) const;

    // Node-local workspaces on a swarm: the node a project's service is pinned to ("" when
    // none); an empty node_id clears the pin.
    Result<std::string> node_pin(const std::string& service) const;
    Status set_node_pin(const std::string& service, const std::string& node_id, std::int64_t at);

  private:
    StateStore(sqlite::Database db, std::size_t handled_window)
        : db_(std::move(db)), window_(handled_window) {}
    Status prune_handled();

    sqlite::Database db_;
    std::size_t window_;
    std::size_t handled_since_prune_ = 0;
};

}  // namespace tenex::daemon
