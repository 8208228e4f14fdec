// The embedded relay's event store: in memory, optionally persisted to a SQLite file.
// Applies NIP-01 storage rules: duplicates, replaceable/addressable (newest wins, lowest id
// on a tie), ephemeral kinds never stored.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.hpp"
#include "nostr/event.hpp"
#include "nostr/filter.hpp"

struct sqlite3;

namespace tenex::relay {

struct StoreOutcome {
    bool accepted{false};  // the OK flag
    bool fresh{false};     // new: broadcast it to subscribers
    std::string message{}; // "", "duplicate: ...", "error: ..."
};

class EventStore {
public:
    // db_path empty: memory only. Otherwise the file is created if needed and loaded.
    static Result<std::unique_ptr<EventStore>> open(const std::string& db_path);
    ~EventStore();
    EventStore(const EventStore&) = delete;
    EventStore& operator=(const EventStore&) = delete;

    // `event` must already be verified.
    StoreOutcome add(const nostr::Event& event);
    // Stored events matching any filter, newest first; each filter's limit (capped at
    // max_limit) applies to its own matches; the union is deduplicated.
    std::vector<nostr::Event> query(const std::vector<nostr::Filter>& filters, std::size_t max_limit) const;
    std::size_t size() const { return by_id_.size(); }

private:
    EventStore() = default;
    using Order = std::pair<std::int64_t, std::string>;  // (-created_at, id): newest first
    void insert_memory(const nostr::Event& event);
    void erase_memory(const std::string& id);
    Status persist_insert(const nostr::Event& event);
    Status persist_erase(const std::string& id);

    std::map<Order, nostr::Event> ordered_;
    std::unordered_map<std::string, Order> by_id_;
    std::unordered_map<std::string, std::string> by_key_;  // replace key -> id
    sqlite3* db_{nullptr};
};

}  // namespace tenex::relay
