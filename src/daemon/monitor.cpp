#include "daemon/monitor.hpp"

#include <algorithm>

namespace tenex::daemon {

const char* to_string(Drop d) {
    switch (d) {
        case Drop::not_whitelisted:
            return "not_whitelisted";
        case Drop::no_project:
            return "no_project";
        case Drop::bad_address:
            return "bad_address";
        case Drop::not_a_project:
            return "not_a_project";
        case Drop::unknown_owner:
            return "unknown_owner";
        case Drop::rate_limited:
            return "rate_limited";
        case Drop::too_many_projects:
            return "too_many_projects";
        case Drop::count_:
            break;
    }
    return "?";
}

bool RateLimiter::allow(const std::string& key, Clock::time_point now, double cost) {
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
    auto& b = it->second;
    if (!fresh) {
        double elapsed = std::chrono::duration<double>(now - b.last).count();
        if (elapsed > 0) b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
        b.last = std::max(b.last, now);
    }
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
}

void RateLimiter::retain(const std::function<bool(const std::string&)>& keep) {
    std::erase_if(buckets_, [&](const auto& kv) { return !keep(kv.first); });
}

Monitor::Monitor(const MonitorLimits& limits, const std::vector<std::string>& whitelist)
    : whitelist_(whitelist.begin(), whitelist.end()),
      limiter_(limits.events_per_second, limits.burst),
      max_projects_(limits.max_projects_per_event) {}

void Monitor::set_whitelist(const std::vector<std::string>& whitelist) {
    whitelist_ = {whitelist.begin(), whitelist.end()};
    limiter_.retain([this](const std::string& key) { return whitelisted(key); });
}

Routed Monitor::route(const nostr::Event& event, Clock::time_point now) {
    auto drop = [this](Drop d) {
        ++dropped_[static_cast<std::size_t>(d)];
        return Routed{{}, d};
    };
    if (!whitelisted(event.pubkey)) return drop(Drop::not_whitelisted);

    Routed out;
    bool any_a = false, any_bad = false, any_unknown_owner = false;
    for (const auto& tag : event.tags) {
        if (tag.size() < 2 || tag[0] != "a") continue;
        any_a = true;
        auto address = nostr::Address::parse(tag[1]);
        if (!address) {
            any_bad = true;
            continue;
        }
        if (address->kind != kProjectKind) continue;
        if (!whitelisted(address->pubkey)) {
            any_unknown_owner = true;
            continue;
        }
        if (std::find(out.projects.begin(), out.projects.end(), *address) == out.projects.end()) {
            if (out.projects.size() == max_projects_) return drop(Drop::too_many_projects);
            out.projects.push_back(std::move(address).value());
        }
    }
    if (out.projects.empty()) {
        // The most telling reason: a hostile tag beats an unrelated one.
        if (!any_a) return drop(Drop::no_project);
        if (any_bad) return drop(Drop::bad_address);
        if (any_unknown_owner) return drop(Drop::unknown_owner);
        return drop(Drop::not_a_project);
    }
    // Rate limits apply to events that would do work, so chatter without projects is free.
    if (!limiter_.allow(event.pubkey, now, static_cast<double>(out.projects.size())))
        return drop(Drop::rate_limited);
    ++accepted_;
    return out;
}

}  // namespace tenex::daemon
