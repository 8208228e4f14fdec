#include "relay/settle.hpp"

#include "relay/replaceable.hpp"

namespace tenex::relay {

FetchState::FetchState(std::vector<std::string> relays) {
    for (auto& r : relays)
        if (reasons_.emplace(std::move(r), std::string{}).second) ++pending_;
}

void FetchState::add_event(nostr::Event event) {
    if (!ids_.insert(event.id).second) return;
    events_.push_back(std::move(event));
}

void FetchState::settle(const std::string& relay, std::string reason) {
    auto it = reasons_.find(relay);
    if (it == reasons_.end() || !it->second.empty()) return;
    it->second = reason.empty() ? std::string("settled") : std::move(reason);
    --pending_;
}

void FetchState::settle_all(const std::string& reason) {
    for (auto& [relay, r] : reasons_)
        if (r.empty()) {
            r = reason;
            --pending_;
        }
}

bool FetchState::is_pending(const std::string& relay) const {
    auto it = reasons_.find(relay);
    return it != reasons_.end() && it->second.empty();
}

std::vector<nostr::Event> FetchState::take_result() {
    return keep_newest(std::move(events_));
}

bool PublishResult::any_accepted() const {
    return accepted_count() > 0;
}
std::size_t PublishResult::accepted_count() const {
    std::size_t n = 0;
    for (const auto& r : relays) n += r.accepted ? 1 : 0;
    return n;
}

PublishState::PublishState(std::string event_id, std::vector<std::string> relays)
    : event_id_(std::move(event_id)) {
    for (auto& r : relays) {
        RelayOk ok{r, false, {}};
        if (answers_.emplace(std::move(r), std::make_pair(false, std::move(ok))).second) ++pending_;
    }
}

void PublishState::record(const std::string& relay, bool accepted, std::string message) {
    auto it = answers_.find(relay);
    if (it == answers_.end() || it->second.first) return;
    it->second.first = true;
    it->second.second.accepted = accepted;
    it->second.second.message = std::move(message);
    --pending_;
}

bool PublishState::is_pending(const std::string& relay) const {
    auto it = answers_.find(relay);
    return it != answers_.end() && !it->second.first;
}

PublishResult PublishState::result(const std::string& pending_reason) const {
    PublishResult r{event_id_, {}};
    for (const auto& [relay, a] : answers_) {
        RelayOk ok = a.second;
        if (!a.first) ok.message = pending_reason;
        r.relays.push_back(std::move(ok));
    }
    return r;
}

}  // namespace tenex::relay
