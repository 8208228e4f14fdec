// Bookkeeping of one-shot operations, independent of sockets: a fetch settles per relay on
// EOSE, CLOSED, disconnect or timeout; a publish collects one OK (or a reason) per relay.
#pragma once

#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "nostr/event.hpp"

namespace tenex::relay {

class FetchState {
  public:
    explicit FetchState(std::vector<std::string> relays);

    // False if the id was already collected (from this or another relay).
    bool seen(const std::string& id) const { return ids_.count(id) > 0; }
    void add_event(nostr::Event event);
    // Marks the relay settled with a reason ("eose", "closed: ...", "disconnected",
    // "timeout"). Later calls for the same relay are ignored.
    void settle(const std::string& relay, std::string reason);
    void settle_all(const std::string& reason);
    bool done() const { return pending_ == 0; }
    bool is_pending(const std::string& relay) const;
    const std::map<std::string, std::string>& reasons() const { return reasons_; }
    // The collected events, newest version only for replaceable/addressable kinds.
    std::vector<nostr::Event> take_result();

  private:
    std::map<std::string, std::string> reasons_;  // relay -> "" while pending
    std::size_t pending_{0};
    std::unordered_set<std::string> ids_;
    std::vector<nostr::Event> events_;
};

struct RelayOk {
    std::string relay{};
    bool accepted{false};
    std::string message{};  // the relay's reason, or ours: "timeout", "not connected", ...
};

struct PublishResult {
    std::string event_id{};
    std::vector<RelayOk> relays{};
    bool any_accepted() const;
    std::size_t accepted_count() const;
};

class PublishState {
  public:
    PublishState(std::string event_id, std::vector<std::string> relays);
    // The first final answer per relay wins; later ones are ignored.
    void record(const std::string& relay, bool accepted, std::string message);
    bool is_pending(const std::string& relay) const;
    bool done() const { return pending_ == 0; }
    // Pending relays are reported with `pending_reason`.
    PublishResult result(const std::string& pending_reason = "timeout") const;

  private:
    std::string event_id_;
    std::map<std::string, std::pair<bool, RelayOk>> answers_;  // relay -> (answered, ok)
    std::size_t pending_{0};
};

}  // namespace tenex::relay
