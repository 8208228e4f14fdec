// The embedded relay's event store, with quotas. With a SQLite file the events stay on disk
// and memory holds only an index of them (id, author, kind, created_at, size, a fingerprint
// of the tags, replace key: about 200 bytes per event, whatever the event's size); without a
// file the events' JSON is kept in memory. Either way what is stored is bounded by
// StoreLimits. Applies NIP-01 storage rules: duplicates, replaceable/addressable (newest
// wins, lowest id on a tie), ephemeral kinds never stored.
// Not thread-safe: the embedded relay uses it from its service thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/sqlite.hpp"
#include "nostr/event.hpp"
#include "nostr/filter.hpp"
#include "nostr/hex.hpp"

namespace tenex::relay {

// What the store takes. Sizes are of the event's JSON as stored (nostr::to_json). An event
// over a limit is refused with OK false and nothing is stored.
struct StoreLimits {
    // One event ("invalid: ..."). At least the gateway's WriteLimits::max_event_bytes (64 KiB);
    // events over 512 KiB never reach the store (the parser's and the relay's message limit).
    std::size_t max_event_bytes{256 * 1024};
    std::size_t max_author_bytes{8u << 20};   // all stored events of one pubkey ("blocked: ...")
    std::size_t max_total_bytes{256u << 20};  // the whole store ("blocked: ...")
    std::size_t max_events{100000};           // stored events: bounds the index's memory
};

struct StoreOutcome {
    bool accepted{false};   // the OK flag
    bool fresh{false};      // new: broadcast it to subscribers
    std::string message{};  // "", "duplicate: ...", "invalid: ...", "blocked: ...", "error: ..."
};

class EventStore {
  public:
    // db_path empty: memory only. Otherwise the file is created if needed and its events are
    // indexed (read once, not kept). Events stored before a quota was lowered are kept; new
    // ones are refused until there is room again.
    static Result<std::unique_ptr<EventStore>> open(const std::string& db_path,
                                                    StoreLimits limits = {});
    ~EventStore();
    EventStore(const EventStore&) = delete;
    EventStore& operator=(const EventStore&) = delete;

    // `event` must already be verified.
    StoreOutcome add(const nostr::Event& event);

    // Calls `emit` with the JSON of each stored event matching any filter, newest first (then
    // lowest id); each filter's limit (capped at max_limit) applies to its own matches; the
    // union is deduplicated. Only events that fit in max_bytes (their JSON, summed) are
    // emitted: past it the older matches are left out. Reads only the events whose indexed
    // fields (ids, authors, kinds, since, until, tag fingerprint) match. Returns the number
    // emitted.
    std::size_t query_json(const std::vector<nostr::Filter>& filters, std::size_t max_limit,
                           std::size_t max_bytes,
                           const std::function<void(std::string_view)>& emit) const;
    // The same, parsed, without a byte budget.
    std::vector<nostr::Event> query(const std::vector<nostr::Filter>& filters,
                                    std::size_t max_limit) const;

    std::size_t size() const { return ordered_.size(); }
    std::size_t bytes() const { return total_bytes_; }            // stored JSON, all authors
    std::size_t author_bytes(std::string_view pubkey) const;      // stored JSON of one author
    std::size_t resident_bytes() const { return memory_bytes_; }  // event JSON held in memory
    std::uint64_t rows_read() const { return rows_read_; }        // events read by queries
    const StoreLimits& limits() const { return limits_; }

  private:
    using Id = nostr::Bytes32;
    struct Usage {
        std::size_t bytes{0};
        std::size_t events{0};
    };
    using Authors = std::map<Id, Usage>;
    // Index order: newest first, then lowest id (the NIP-01 winner of a replaceable tie).
    struct Key {
        std::int64_t neg_created_at{0};
        Id id{};
        friend auto operator<=>(const Key&, const Key&) = default;
    };
    struct Entry {
        Authors::iterator author;   // stable: an author stays while it has events
        std::uint64_t tag_bits{0};  // one bit per (letter, value) of its tags, hashed
        std::uint32_t kind{0};
        std::uint32_t bytes{0};
    };

    explicit EventStore(StoreLimits limits) : limits_(limits) {}
    void index(const Key& key, const nostr::Event& event, std::size_t bytes, std::string json);
    void unindex(const Id& id);
    std::optional<std::string> load(const Id& id) const;
    Status persist(const Id& id, const std::string& json, const Id* replaced);

    StoreLimits limits_;
    std::map<Key, Entry> ordered_;
    std::map<Id, std::int64_t> created_;  // id -> created_at (its Key)
    std::map<Id, Id> by_replace_key_;     // sha256 of the replace key -> id
    Authors authors_;
    std::size_t total_bytes_{0};
    std::map<Id, std::string> memory_;  // the events' JSON, when there is no file
    std::size_t memory_bytes_{0};
    mutable std::uint64_t rows_read_{0};
    // The file, when there is one, and the statements prepared on it.
    std::optional<sqlite::Database> db_{};
    mutable std::optional<sqlite::Statement> select_{};
    std::optional<sqlite::Statement> insert_{};
    std::optional<sqlite::Statement> delete_{};
};

}  // namespace tenex::relay
