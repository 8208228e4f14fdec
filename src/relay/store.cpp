#include "relay/store.hpp"

#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "nostr/address.hpp"
#include "relay/replaceable.hpp"

namespace tenex::relay {

namespace {

// "8 MiB", "256 KiB", or "1000 bytes".
std::string human(std::size_t n) {
    if (n >= (std::size_t{1} << 20) && n % (std::size_t{1} << 20) == 0)
        return std::to_string(n >> 20) + " MiB";
    if (n >= 1024 && n % 1024 == 0) return std::to_string(n >> 10) + " KiB";
    return std::to_string(n) + " bytes";
}

nostr::Bytes32 sha256(std::string_view s) {
    nostr::Bytes32 out{};
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
    return out;
}

// The bit a single-letter tag (letter, value) sets in an event's 64-bit tag fingerprint. An
// event whose fingerprint lacks every bit of a filter's values for a letter cannot match it,
// so it is not read; a set bit may be another tag's (then the event is read and checked).
std::uint64_t tag_bit(char letter, std::string_view value) {
    std::uint64_t h = std::hash<std::string_view>{}(value) ^
                      (static_cast<std::uint64_t>(static_cast<unsigned char>(letter)) << 56);
    h ^= h >> 33;  // murmur3's finalizer: spread every input bit over the low six
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return std::uint64_t{1} << (h & 63);
}

std::uint64_t tag_fingerprint(const nostr::Event& e) {
    std::uint64_t bits = 0;
    for (const auto& t : e.tags)
        if (t.size() >= 2 && t[0].size() == 1) bits |= tag_bit(t[0][0], t[1]);
    return bits;
}

}  // namespace

Result<std::unique_ptr<EventStore>> EventStore::open(const std::string& db_path,
                                                     StoreLimits limits) {
    std::unique_ptr<EventStore> s(new EventStore(limits));
    if (db_path.empty()) return s;
    auto db = sqlite::Database::open(db_path, "embedded relay store");
    if (!db) return db.error();
    if (auto st =
            db->exec("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, json TEXT NOT NULL)");
        !st)
        return st.error();
    s->db_.emplace(std::move(*db));
    s->select_.emplace(*s->db_, "SELECT json FROM events WHERE id = ?1");
    s->insert_.emplace(*s->db_, "INSERT OR REPLACE INTO events (id, json) VALUES (?1, ?2)");
    s->delete_.emplace(*s->db_, "DELETE FROM events WHERE id = ?1");

    // Index what is stored, one row at a time; the events themselves stay on disk. A
    // replaceable event with a newer version on file (a store written before versions were
    // replaced in one transaction) is deleted.
    sqlite::Statement scan(*s->db_, "SELECT json FROM events");
    std::size_t unreadable = 0;
    std::vector<Id> superseded;
    sqlite::Step step;
    while ((step = scan.step()) == sqlite::Step::row) {
        const std::string_view json = scan.text_view(0);
        auto e = nostr::parse_event(json);
        Key key;
        if (!e || !nostr::from_hex(e->id, key.id)) {
            ++unreadable;
            continue;
        }
        key.neg_created_at = -e->created_at;
        if (auto rk = replace_key(*e)) {
            if (auto it = s->by_replace_key_.find(sha256(*rk)); it != s->by_replace_key_.end()) {
                const Key current{-s->created_.at(it->second), it->second};
                if (!(key < current)) {
                    superseded.push_back(key.id);
                    continue;
                }
                superseded.push_back(current.id);
                s->unindex(current.id);
            }
        }
        s->index(key, *e, json.size(), {});
    }
    if (step == sqlite::Step::failed) return scan.error("read " + db_path);
    if (unreadable)
        spdlog::warn("embedded relay store: {} unreadable rows in {} skipped", unreadable, db_path);
    for (const auto& id : superseded)
        if (auto st = s->delete_->bind(nostr::to_hex(id)).run("delete"); !st)
            spdlog::warn("embedded relay store: cannot delete a superseded version: {}",
                         st.error().message);
    if (s->total_bytes_ > limits.max_total_bytes || s->size() > limits.max_events)
        spdlog::warn(
            "embedded relay store: {} holds {} events, {} bytes, over its quota ({} events, {}); "
            "new events are refused until there is room",
            db_path, s->size(), s->total_bytes_, limits.max_events, human(limits.max_total_bytes));
    return s;
}

EventStore::~EventStore() = default;

std::size_t EventStore::author_bytes(std::string_view pubkey) const {
    Id pk{};
    if (!nostr::from_hex(pubkey, pk)) return 0;
    auto it = authors_.find(pk);
    return it == authors_.end() ? 0 : it->second.bytes;
}

void EventStore::index(const Key& key, const nostr::Event& event, std::size_t bytes,
                       std::string json) {
    Id pubkey{};
    (void)nostr::from_hex(event.pubkey, pubkey);  // parsed events carry 64 lowercase hex
    auto author = authors_.try_emplace(pubkey).first;
    author->second.bytes += bytes;
    ++author->second.events;
    total_bytes_ += bytes;
    ordered_.emplace(key, Entry{.author = author,
                                .tag_bits = tag_fingerprint(event),
                                .kind = event.kind,
                                .bytes = static_cast<std::uint32_t>(bytes)});
    created_.emplace(key.id, -key.neg_created_at);
    if (auto rk = replace_key(event)) by_replace_key_[sha256(*rk)] = key.id;
    if (!db_) {
        memory_bytes_ += json.size();
        memory_.emplace(key.id, std::move(json));
    }
}

// Only for a version being replaced: its replace key is then taken by the new version.
void EventStore::unindex(const Id& id) {
    auto cit = created_.find(id);
    if (cit == created_.end()) return;
    auto it = ordered_.find(Key{-cit->second, id});
    if (it != ordered_.end()) {
        Usage& use = it->second.author->second;
        use.bytes -= std::min<std::size_t>(use.bytes, it->second.bytes);
        if (--use.events == 0) authors_.erase(it->second.author);
        total_bytes_ -= std::min<std::size_t>(total_bytes_, it->second.bytes);
        ordered_.erase(it);
    }
    created_.erase(cit);
    if (auto mit = memory_.find(id); mit != memory_.end()) {
        memory_bytes_ -= mit->second.size();
        memory_.erase(mit);
    }
}

std::optional<std::string> EventStore::load(const Id& id) const {
    ++rows_read_;
    if (!db_) {
        auto it = memory_.find(id);
        if (it == memory_.end()) return std::nullopt;
        return it->second;
    }
    const std::string hex = nostr::to_hex(id);
    std::optional<std::string> out;
    switch (select_->bind(hex).step()) {
        case sqlite::Step::row:
            out.emplace(select_->text(0));
            break;
        case sqlite::Step::done:
            break;
        case sqlite::Step::failed:
            spdlog::error("{}", select_->error("cannot read event " + hex).message);
            break;
    }
    select_->reset();
    return out;
}

// The new event and the removal of the version it replaces, in one transaction.
Status EventStore::persist(const Id& id, const std::string& json, const Id* replaced) {
    if (!db_) return Unit{};
    if (auto st = db_->exec("BEGIN IMMEDIATE"); !st) return st;
    Status st = insert_->bind(nostr::to_hex(id)).bind(json).run("insert");
    if (st && replaced) st = delete_->bind(nostr::to_hex(*replaced)).run("delete");
    if (st) st = db_->exec("COMMIT");
    if (!st) (void)db_->exec("ROLLBACK");
    return st;
}

StoreOutcome EventStore::add(const nostr::Event& event) {
    const bool ephemeral = nostr::kind_class(event.kind) == nostr::KindClass::ephemeral;
    Key key{.neg_created_at = -event.created_at, .id = {}};
    Id pubkey{};
    if (!nostr::from_hex(event.id, key.id) || !nostr::from_hex(event.pubkey, pubkey))
        return {false, false, "invalid: id and pubkey must be 64 lowercase hex"};
    if (!ephemeral && created_.count(key.id))
        return {true, false, "duplicate: already have this event"};
    std::string json = nostr::to_json(event);
    if (json.size() > limits_.max_event_bytes)
        return {false, false,
                "invalid: event too large (" + std::to_string(json.size()) +
                    " bytes; this relay stores events up to " + human(limits_.max_event_bytes) +
                    ")"};
    if (ephemeral) return {true, true, ""};

    std::optional<Key> replaced;
    std::size_t freed = 0;  // by the version this one replaces: the same author's
    if (auto rk = replace_key(event)) {
        if (auto it = by_replace_key_.find(sha256(*rk)); it != by_replace_key_.end()) {
            const Key current{-created_.at(it->second), it->second};
            if (!(key < current)) return {true, false, "duplicate: have a newer version"};
            replaced = current;
            freed = ordered_.at(current).bytes;
        }
    }
    // Usage may already be over a quota that was lowered since; freed <= usage either way.
    auto author = authors_.find(pubkey);
    const std::size_t used = author == authors_.end() ? 0 : author->second.bytes;
    if (used - freed + json.size() > limits_.max_author_bytes)
        return {false, false,
                "blocked: this author's storage quota on this relay is full (" +
                    human(limits_.max_author_bytes) + ")"};
    if (total_bytes_ - freed + json.size() > limits_.max_total_bytes)
        return {
            false, false,
            "blocked: this relay's storage quota is full (" + human(limits_.max_total_bytes) + ")"};
    if (!replaced && size() >= limits_.max_events)
        return {false, false,
                "blocked: this relay's event quota is full (" + std::to_string(limits_.max_events) +
                    " events)"};

    if (auto st = persist(key.id, json, replaced ? &replaced->id : nullptr); !st) {
        spdlog::error("embedded relay store: cannot save event {}: {}", event.id,
                      st.error().message);
        return {false, false, "error: could not save the event"};
    }
    if (replaced) unindex(replaced->id);
    const std::size_t bytes = json.size();
    index(key, event, bytes, std::move(json));
    return {true, true, ""};
}

std::size_t EventStore::query_json(const std::vector<nostr::Filter>& filters, std::size_t max_limit,
                                   std::size_t max_bytes,
                                   const std::function<void(std::string_view)>& emit) const {
    // First the keys of the matches, from the index (an event is read only when the filter
    // has tag conditions its indexed fields pass); then the events, newest first.
    std::set<Key> picked;
    for (const auto& f : filters) {
        const std::size_t limit = f.limit ? std::min<std::size_t>(*f.limit, max_limit) : max_limit;
        if (limit == 0) continue;
        std::optional<std::vector<const Usage*>> authors;
        if (f.authors) {
            authors.emplace();
            for (const auto& hex : *f.authors) {
                Id pk{};
                if (!nostr::from_hex(hex, pk)) continue;
                if (auto it = authors_.find(pk); it != authors_.end())
                    authors->push_back(&it->second);
            }
            if (authors->empty()) continue;  // none of them has stored anything
        }
        std::vector<std::uint64_t> tag_masks;
        for (const auto& [letter, values] : f.tags) {
            std::uint64_t mask = 0;
            for (const auto& v : values) mask |= tag_bit(letter, v);
            tag_masks.push_back(mask);
        }
        auto matches = [&](const Key& k, const Entry& e) {
            const std::int64_t created = -k.neg_created_at;
            if (f.since && created < *f.since) return false;
            if (f.until && created > *f.until) return false;
            if (f.kinds && std::find(f.kinds->begin(), f.kinds->end(), e.kind) == f.kinds->end())
                return false;
            if (authors &&
                std::find(authors->begin(), authors->end(), &e.author->second) == authors->end())
                return false;
            for (const std::uint64_t mask : tag_masks)
                if ((e.tag_bits & mask) == 0) return false;
            if (f.tags.empty()) return true;  // the index held every field the filter asks about
            auto json = load(k.id);
            if (!json) return false;
            auto event = nostr::parse_event(*json);
            return event && f.matches(*event);
        };
        if (f.ids) {  // direct lookups
            for (const auto& hex : *f.ids) {
                Id id{};
                if (!nostr::from_hex(hex, id)) continue;
                auto cit = created_.find(id);
                if (cit == created_.end()) continue;
                const Key k{-cit->second, id};
                if (auto it = ordered_.find(k); it != ordered_.end() && matches(k, it->second))
                    picked.insert(k);
            }
            continue;
        }
        // From `until` (the index is ordered by -created_at) towards older events.
        std::size_t n = 0;
        auto it = f.until ? ordered_.lower_bound(Key{-*f.until, Id{}}) : ordered_.begin();
        for (; it != ordered_.end() && n < limit; ++it) {
            if (f.since && -it->first.neg_created_at < *f.since) break;
            if (!matches(it->first, it->second)) continue;
            picked.insert(it->first);
            ++n;
        }
    }
    std::size_t used = 0, emitted = 0;
    for (const Key& k : picked) {
        auto it = ordered_.find(k);
        if (it == ordered_.end()) continue;
        if (it->second.bytes > max_bytes - used) break;  // used <= max_bytes
        auto json = load(k.id);
        if (!json) continue;
        used += it->second.bytes;
        emit(*json);
        ++emitted;
    }
    return emitted;
}

std::vector<nostr::Event> EventStore::query(const std::vector<nostr::Filter>& filters,
                                            std::size_t max_limit) const {
    std::vector<nostr::Event> out;
    query_json(filters, max_limit, std::numeric_limits<std::size_t>::max(),
               [&](std::string_view json) {
                   if (auto e = nostr::parse_event(json)) out.push_back(std::move(*e));
               });
    return out;
}

}  // namespace tenex::relay
