#include "relay/store.hpp"

#include <sqlite3.h>
#include <spdlog/spdlog.h>

#include <set>

#include "nostr/address.hpp"
#include "relay/replaceable.hpp"

namespace tenex::relay {

Result<std::unique_ptr<EventStore>> EventStore::open(const std::string& db_path) {
    std::unique_ptr<EventStore> s(new EventStore());
    if (db_path.empty()) return s;
    if (sqlite3_open(db_path.c_str(), &s->db_) != SQLITE_OK) {
        std::string why = s->db_ ? sqlite3_errmsg(s->db_) : "out of memory";
        return make_error("cannot open " + db_path + ": " + why);
    }
    char* err = nullptr;
    const char* schema =
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, json TEXT NOT NULL);";
    if (sqlite3_exec(s->db_, schema, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string why = err ? err : "unknown";
        sqlite3_free(err);
        return make_error("cannot prepare " + db_path + ": " + why);
    }
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(s->db_, "SELECT json FROM events", -1, &st, nullptr) != SQLITE_OK)
        return make_error(std::string("cannot read events: ") + sqlite3_errmsg(s->db_));
    std::size_t bad = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        auto e = nostr::parse_event(std::string_view(text ? text : ""));
        if (!e) {
            ++bad;
            continue;
        }
        s->insert_memory(*e);
    }
    sqlite3_finalize(st);
    if (bad) spdlog::warn("embedded relay store: {} unreadable rows in {} skipped", bad, db_path);
    return s;
}

EventStore::~EventStore() {
    if (db_) sqlite3_close(db_);
}

void EventStore::insert_memory(const nostr::Event& event) {
    Order o{-event.created_at, event.id};
    by_id_[event.id] = o;
    ordered_[o] = event;
    if (auto key = replace_key(event)) by_key_[*key] = event.id;
}

void EventStore::erase_memory(const std::string& id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return;
    auto oit = ordered_.find(it->second);
    if (oit != ordered_.end()) {
        if (auto key = replace_key(oit->second); key) {
            auto kit = by_key_.find(*key);
            if (kit != by_key_.end() && kit->second == id) by_key_.erase(kit);
        }
        ordered_.erase(oit);
    }
    by_id_.erase(it);
}

Status EventStore::persist_insert(const nostr::Event& event) {
    if (!db_) return Unit{};
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "INSERT OR IGNORE INTO events (id, json) VALUES (?, ?)", -1, &st, nullptr) != SQLITE_OK)
        return make_error(sqlite3_errmsg(db_));
    const auto json = nostr::to_json(event);
    sqlite3_bind_text(st, 1, event.id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, json.c_str(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return make_error(sqlite3_errmsg(db_));
    return Unit{};
}

Status EventStore::persist_erase(const std::string& id) {
    if (!db_) return Unit{};
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "DELETE FROM events WHERE id = ?", -1, &st, nullptr) != SQLITE_OK)
        return make_error(sqlite3_errmsg(db_));
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return make_error(sqlite3_errmsg(db_));
    return Unit{};
}

StoreOutcome EventStore::add(const nostr::Event& event) {
    if (nostr::kind_class(event.kind) == nostr::KindClass::ephemeral) return {true, true, ""};
    if (by_id_.count(event.id)) return {true, false, "duplicate: already have this event"};
    std::string replaced;
    if (auto key = replace_key(event)) {
        if (auto kit = by_key_.find(*key); kit != by_key_.end()) {
            const auto& current = ordered_.at(by_id_.at(kit->second));
            if (!newer_version(event, current)) return {true, false, "duplicate: have a newer version"};
            replaced = kit->second;
        }
    }
    if (auto st = persist_insert(event); !st) {
        spdlog::error("embedded relay store: insert failed: {}", st.error().message);
        return {false, false, "error: could not save the event"};
    }
    if (!replaced.empty()) {
        if (auto st = persist_erase(replaced); !st)
            spdlog::error("embedded relay store: delete failed: {}", st.error().message);
        erase_memory(replaced);
    }
    insert_memory(event);
    return {true, true, ""};
}

std::vector<nostr::Event> EventStore::query(const std::vector<nostr::Filter>& filters,
                                            std::size_t max_limit) const {
    std::set<Order> picked;
    for (const auto& f : filters) {
        std::size_t limit = f.limit ? std::min<std::size_t>(*f.limit, max_limit) : max_limit;
        if (limit == 0) continue;
        std::size_t n = 0;
        if (f.ids) {  // direct lookups
            for (const auto& id : *f.ids) {
                auto it = by_id_.find(id);
                if (it == by_id_.end()) continue;
                if (f.matches(ordered_.at(it->second))) picked.insert(it->second);
            }
            continue;
        }
        // Start at `until` (ordered by -created_at), walk towards older events.
        auto it = f.until ? ordered_.lower_bound(Order{-*f.until, std::string{}}) : ordered_.begin();
        for (; it != ordered_.end() && n < limit; ++it) {
            if (f.since && it->second.created_at < *f.since) break;
            if (!f.matches(it->second)) continue;
            picked.insert(it->first);
            ++n;
        }
    }
    std::vector<nostr::Event> out;
    out.reserve(picked.size());
    for (const auto& o : picked) out.push_back(ordered_.at(o));
    return out;
}

}  // namespace tenex::relay
