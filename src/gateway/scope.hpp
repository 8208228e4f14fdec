// The gateway's scope rule (issue 15): which upstream events a project's container may see,
// and which events it may write. Pure: no I/O, no clock, no threads; the gateway server and
// the tests drive it. The rule is documented in policies/GATEWAY.md.
//
// A project is known by its address (31933:<owner>:<d>) and its keys: the agents' pubkeys,
// its runtime key(s) and the keys bound to it through its gateway (bind on first use). The
// index holds every project the daemon serves, because "never anything of another project"
// needs to know what belongs to the others.
//
// Not thread-safe: the owner serializes access.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "nostr/address.hpp"
#include "nostr/event.hpp"
#include "nostr/filter.hpp"

namespace tenex::gateway {

inline constexpr std::uint32_t kProjectKind = 31933;

// Shared TENEX material a runtime reads whatever its project (from @tenex-chat/backend 0.9.13,
// src/nostr/kinds.ts and the filters its services send): profiles, agent definitions, lessons,
// nudges, skills, lesson comments (NIP-22), and the owner's lists.
// Any author, unless the author is another project's key (rule D3).
inline constexpr std::uint32_t kSharedAnyAuthor[] = {0, 1111, 4129, 4199, 4201, 4202};
// Only when the project's owner wrote them: the owner's agent snapshot and nudge/skill list.
inline constexpr std::uint32_t kSharedOwnerOnly[] = {14199, 14202};

// What a project owns.
struct ProjectKeys {
    nostr::Address address{};         // kind 31933
    std::set<std::string> agents{};   // agent pubkeys (hex) from the project's definitions
    std::set<std::string> runtime{};  // the runtime/backend key(s) the daemon hands it
};

// Why an event is or is not delivered/accepted; `reason` is a short human text, and for
// refusals starts with a NIP-01 prefix ("restricted: ", "invalid: ").
struct Verdict {
    bool allowed{false};
    std::string reason{};
    explicit operator bool() const { return allowed; }
};

struct WriteLimits {
    std::size_t max_event_bytes{64 * 1024};  // the event's JSON as received
    std::int64_t max_future_s{900};          // created_at further ahead is refused
};

class ScopeIndex {
  public:
    // Adds or replaces a project (its agents and runtime keys; bindings are kept).
    void upsert(ProjectKeys keys);
    void remove(const std::string& address);
    bool contains(const std::string& address) const { return projects_.count(address) > 0; }
    const ProjectKeys* find(const std::string& address) const;

    // Key bindings (bind on first use). Loaded from the store at start with bind().
    // The project owning `pubkey`: bound to it, or one of its agents/runtime keys.
    std::optional<std::string> owner_of_key(const std::string& pubkey) const;
    // Records a binding; false (and nothing changes) when the key belongs to another project.
    bool bind(const std::string& pubkey, const std::string& address);
    const std::map<std::string, std::string>& bindings() const { return bound_; }

    // Keys that are never bound to a project (the whitelist/owners, the daemon's own key).
    void set_reserved_keys(std::set<std::string> keys) { reserved_ = std::move(keys); }
    bool is_reserved(const std::string& pubkey) const { return reserved_.count(pubkey) > 0; }

    // Read rule: may `event` (verified upstream) be delivered to project `address`'s container?
    Verdict may_read(const std::string& address, const nostr::Event& event) const;

    // Write rule, before the signature check and binding: the event as the container sent it
    // (parsed and verified by the caller), `json_bytes` its size on the wire, `now` Unix s.
    // Allowed means: in scope for the project and its author is this project's or free to
    // bind (needs_binding tells which); the caller then binds it and publishes.
    struct WriteVerdict : Verdict {
        bool needs_binding{false};
    };
    WriteVerdict may_write(const std::string& address, const nostr::Event& event,
                           std::size_t json_bytes, std::int64_t now,
                           const WriteLimits& limits = {}) const;

  private:
    bool is_project_key(const std::string& address, const std::string& pubkey) const;
    // The project addresses (kind 31933) named by the event's `a`/`A` tags.
    static std::vector<std::string> project_refs(const nostr::Event& event);
    // The deny rules D1-D4, shared by reads and writes; empty when none applies.
    std::optional<std::string> denied(const std::string& address, const nostr::Event& event) const;

    std::map<std::string, ProjectKeys> projects_;
    std::map<std::string, std::string> key_owner_;  // agent/runtime key -> project
    std::map<std::string, std::string> bound_;      // bound key -> project
    std::set<std::string> reserved_;
};

// A container's REQ filter as sent upstream: the same filter with `limit` set to `max_limit`
// (`limit: 0`, live only, stays 0). The gateway then delivers at most the container's own
// limit of the events the rule lets through, so out-of-scope events do not eat its limit.
nostr::Filter upstream_filter(const nostr::Filter& filter, std::uint64_t max_limit);

// The live part of every container subscription as one upstream subscription: the filters
// without since/until/limit, duplicates dropped, and filters that differ in one list only
// (ids, authors, kinds or one tag, as the same kind of subscription of each project does)
// merged into one with the union of that list; each with `limit: 0`. It matches at least
// what any input filter matches; the gateway then routes each event by the containers' own
// filters. Relays cap subscriptions per connection (strfry: 20), so one per container REQ
// would leave most projects deaf.
std::vector<nostr::Filter> live_union(std::vector<nostr::Filter> filters);

}  // namespace tenex::gateway
