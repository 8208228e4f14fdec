#include "gateway/scope.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <span>

namespace tenex::gateway {

namespace {

bool contains_kind(std::span<const std::uint32_t> kinds, std::uint32_t k) {
    return std::find(kinds.begin(), kinds.end(), k) != kinds.end();
}

}  // namespace

void ScopeIndex::upsert(ProjectKeys keys) {
    const std::string addr = keys.address.to_string();
    if (auto it = projects_.find(addr); it != projects_.end()) {
        for (const auto& k : it->second.agents) key_owner_.erase(k);
        for (const auto& k : it->second.runtime) key_owner_.erase(k);
    }
    // A key listed by two projects stays with the first that listed it.
    for (const auto& k : keys.agents) key_owner_.emplace(k, addr);
    for (const auto& k : keys.runtime) key_owner_.emplace(k, addr);
    projects_[addr] = std::move(keys);
}

void ScopeIndex::remove(const std::string& address) {
    auto it = projects_.find(address);
    if (it == projects_.end()) return;
    for (const auto* set : {&it->second.agents, &it->second.runtime})
        for (const auto& k : *set)
            if (auto o = key_owner_.find(k); o != key_owner_.end() && o->second == address)
                key_owner_.erase(o);
    projects_.erase(it);
    // Bindings outlive the project's presence: a key stays its project's for good.
}

const ProjectKeys* ScopeIndex::find(const std::string& address) const {
    auto it = projects_.find(address);
    return it == projects_.end() ? nullptr : &it->second;
}

std::optional<std::string> ScopeIndex::owner_of_key(const std::string& pubkey) const {
    if (auto it = bound_.find(pubkey); it != bound_.end()) return it->second;
    if (auto it = key_owner_.find(pubkey); it != key_owner_.end()) return it->second;
    return std::nullopt;
}

bool ScopeIndex::bind(const std::string& pubkey, const std::string& address) {
    if (reserved_.count(pubkey)) return false;
    if (auto o = owner_of_key(pubkey); o && *o != address) return false;
    bound_[pubkey] = address;
    return true;
}

bool ScopeIndex::is_project_key(const std::string& address, const std::string& pubkey) const {
    auto o = owner_of_key(pubkey);
    return o && *o == address;
}

std::vector<std::string> ScopeIndex::project_refs(const nostr::Event& event) {
    std::vector<std::string> out;
    for (const auto& t : event.tags) {
        if (t.size() < 2 || (t[0] != "a" && t[0] != "A")) continue;
        // Only well-formed project addresses name a project; anything else names none.
        auto a = nostr::Address::parse(t[1]);
        if (a && a->kind == kProjectKind) out.push_back(t[1]);
    }
    return out;
}

std::optional<std::string> ScopeIndex::denied(const std::string& address,
                                              const nostr::Event& event) const {
    // D1: no project event but its own.
    if (event.kind == kProjectKind) {
        auto d = event.tag_value("d");
        const std::string own =
            std::to_string(kProjectKind) + ":" + event.pubkey + ":" + std::string(d.value_or(""));
        if (own != address) return std::string("restricted: another project's event");
    }
    // D2: nothing that names another project.
    for (const auto& ref : project_refs(event))
        if (ref != address) return std::string("restricted: a-tags another project");
    // D3: nothing written by another project's key.
    if (auto o = owner_of_key(event.pubkey); o && *o != address)
        return std::string("restricted: author belongs to another project");
    // D4: nothing addressed only to other projects' keys.
    bool to_us = false, to_other = false;
    for (const auto& t : event.tags) {
        if (t.size() < 2 || t[0] != "p") continue;
        auto o = owner_of_key(t[1]);
        if (!o) continue;
        (*o == address ? to_us : to_other) = true;
    }
    if (to_other && !to_us) return std::string("restricted: addressed to another project");
    return std::nullopt;
}

Verdict ScopeIndex::may_read(const std::string& address, const nostr::Event& event) const {
    const ProjectKeys* p = find(address);
    if (!p) return {false, "restricted: unknown project"};
    if (auto why = denied(address, event)) return {false, *why};
    // A1: its own project event.
    if (event.kind == kProjectKind) return {true, "own project"};
    // A2: names this project.
    if (!project_refs(event).empty()) return {true, "a-tags the project"};
    // A3: addressed to one of its keys.
    for (const auto& t : event.tags)
        if (t.size() >= 2 && t[0] == "p" && is_project_key(address, t[1]))
            return {true, "addressed to the project"};
    // A4: written by one of its keys.
    if (is_project_key(address, event.pubkey)) return {true, "written by the project"};
    // A5: shared material.
    if (contains_kind(kSharedAnyAuthor, event.kind)) return {true, "shared material"};
    if (contains_kind(kSharedOwnerOnly, event.kind) && event.pubkey == p->address.pubkey)
        return {true, "the owner's shared material"};
    return {false, "restricted: not in the project's scope"};
}

ScopeIndex::WriteVerdict ScopeIndex::may_write(const std::string& address,
                                               const nostr::Event& event, std::size_t json_bytes,
                                               std::int64_t now, const WriteLimits& limits) const {
    WriteVerdict v;
    auto refuse = [&](std::string why) {
        v.allowed = false;
        v.reason = std::move(why);
        return v;
    };
    if (!find(address)) return refuse("restricted: unknown project");
    if (json_bytes > limits.max_event_bytes)
        return refuse("invalid: event too large (" + std::to_string(json_bytes) + " > " +
                      std::to_string(limits.max_event_bytes) + " bytes)");
    if (event.created_at > now + limits.max_future_s)
        return refuse("invalid: created_at too far in the future");
    if (event.kind == kProjectKind)
        return refuse("restricted: a project container cannot publish project events");
    if (auto why = denied(address, event)) return refuse(*why);
    if (is_reserved(event.pubkey))
        return refuse("restricted: this key cannot write through a project gateway");
    auto owner = owner_of_key(event.pubkey);
    v.allowed = true;
    v.needs_binding = !owner;
    v.reason = owner ? "" : "binds the key";
    return v;
}

nostr::Filter upstream_filter(const nostr::Filter& filter, std::uint64_t max_limit) {
    nostr::Filter f = filter;
    // Ask for max_limit whatever the container asked: events out of scope take room in the
    // upstream answer, and the gateway counts the container's limit after the rule.
    if (!f.limit || *f.limit > 0) f.limit = max_limit;
    return f;
}

namespace {

// The lists of a filter that live_union merges: ids, authors, kinds, or one tag letter.
struct Slot {
    enum class Field { ids, authors, kinds, tag } field;
    char tag{0};
};

bool has(const nostr::Filter& f, const Slot& s) {
    switch (s.field) {
        case Slot::Field::ids:
            return f.ids.has_value();
        case Slot::Field::authors:
            return f.authors.has_value();
        case Slot::Field::kinds:
            return f.kinds.has_value();
        case Slot::Field::tag:
            return f.tags.count(s.tag) > 0;
    }
    return false;
}

void clear(nostr::Filter& f, const Slot& s) {
    switch (s.field) {
        case Slot::Field::ids:
            f.ids.reset();
            break;
        case Slot::Field::authors:
            f.authors.reset();
            break;
        case Slot::Field::kinds:
            f.kinds.reset();
            break;
        case Slot::Field::tag:
            f.tags.erase(s.tag);
            break;
    }
}

template <class T>
void append(std::vector<T>& to, const std::vector<T>& from) {
    to.insert(to.end(), from.begin(), from.end());
    std::sort(to.begin(), to.end());
    to.erase(std::unique(to.begin(), to.end()), to.end());
}

void merge_into(nostr::Filter& to, const nostr::Filter& from, const Slot& s) {
    switch (s.field) {
        case Slot::Field::ids:
            append(*to.ids, *from.ids);
            break;
        case Slot::Field::authors:
            append(*to.authors, *from.authors);
            break;
        case Slot::Field::kinds:
            append(*to.kinds, *from.kinds);
            break;
        case Slot::Field::tag:
            append(to.tags[s.tag], from.tags.at(s.tag));
            break;
    }
}

}  // namespace

std::vector<nostr::Filter> live_union(std::vector<nostr::Filter> filters) {
    std::set<char> letters;
    for (auto& f : filters) {
        f.since.reset();
        f.until.reset();
        f.limit.reset();
        for (const auto& [c, values] : f.tags) letters.insert(c);
    }
    std::vector<Slot> slots{{Slot::Field::kinds}, {Slot::Field::authors}, {Slot::Field::ids}};
    for (char c : letters) slots.push_back(Slot{Slot::Field::tag, c});
    // Grouped by everything but one list, each group becomes one filter; a second round
    // catches merges the first one made possible.
    for (int round = 0; round < 2; ++round)
        for (const auto& slot : slots) {
            std::vector<nostr::Filter> out;
            std::map<std::string, std::size_t> group;  // the rest, serialized -> index in out
            for (auto& f : filters) {
                if (!has(f, slot)) {
                    out.push_back(std::move(f));
                    continue;
                }
                nostr::Filter rest = f;
                clear(rest, slot);
                auto [it, fresh] = group.emplace(rest.serialize(), out.size());
                if (fresh)
                    out.push_back(std::move(f));
                else
                    merge_into(out[it->second], f, slot);
            }
            filters = std::move(out);
        }
    // Exact duplicates (filters without any list) are left: drop them.
    std::set<std::string> seen;
    std::vector<nostr::Filter> out;
    for (auto& f : filters)
        if (seen.insert(f.serialize()).second) out.push_back(std::move(f));
    for (auto& f : out) f.limit = 0;
    return out;
}

}  // namespace tenex::gateway
