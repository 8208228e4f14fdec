// The monitor's decisions: which verified events wake which projects. Pure logic (no I/O), so
// every rule is unit-tested; the daemon feeds it events from the relay pool and hands the
// triggers to the orchestrator.
//
// An event wakes a project when its author is whitelisted, it passes the author's rate limit,
// and an `a` tag names a kind-31933 address whose owner is whitelisted too (so a whitelisted
// key cannot make the daemon clone and run a stranger's project). Everything else is dropped
// with a counted reason. Work is bounded per event: an event naming more distinct projects
// than the limit is dropped whole, and each project it wakes costs one token of its author's
// rate limit (an event with 40 `a` tags is 40 wakes, not one).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "daemon/config.hpp"
#include "nostr/address.hpp"
#include "nostr/event.hpp"

namespace tenex::daemon {

enum class Drop : std::uint8_t {
    not_whitelisted,    // author not on the whitelist
    no_project,         // no `a` tag at all
    bad_address,        // an `a` tag that does not parse (hostile or malformed)
    not_a_project,      // `a` tags name other kinds only
    unknown_owner,      // the project's owner is not whitelisted
    rate_limited,       // the author's token bucket has fewer tokens than projects to wake
    too_many_projects,  // more distinct projects than MonitorLimits::max_projects_per_event
    count_
};
const char* to_string(Drop d);

inline constexpr std::uint32_t kProjectKind = 31933;

// A token bucket per key: `rate` tokens per second up to `burst`.
class RateLimiter {
  public:
    using Clock = std::chrono::steady_clock;
    RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}
    // Takes `cost` tokens when the bucket has them.
    bool allow(const std::string& key, Clock::time_point now, double cost = 1);
    // Keeps only the buckets whose key passes (buckets exist for whitelisted keys only, so
    // memory is bounded by the whitelist).
    void retain(const std::function<bool(const std::string&)>& keep);
    std::size_t size() const { return buckets_.size(); }

  private:
    struct Bucket {
        double tokens;
        Clock::time_point last;
    };
    double rate_, burst_;
    std::unordered_map<std::string, Bucket> buckets_;
};

struct Routed {
    std::vector<nostr::Address> projects;  // distinct, in tag order; empty when dropped
    Drop reason = Drop::no_project;        // meaningful only when projects is empty
};

class Monitor {
  public:
    using Clock = RateLimiter::Clock;
    Monitor(const MonitorLimits& limits, const std::vector<std::string>& whitelist);

    // The event must already be verified (id and signature).
    Routed route(const nostr::Event& event, Clock::time_point now = Clock::now());

    // SIGHUP: a new whitelist applies to the next event.
    void set_whitelist(const std::vector<std::string>& whitelist);
    bool whitelisted(const std::string& pubkey) const { return whitelist_.count(pubkey) != 0; }

    std::uint64_t dropped(Drop d) const { return dropped_[static_cast<std::size_t>(d)]; }
    std::uint64_t accepted() const { return accepted_; }

  private:
    std::unordered_set<std::string> whitelist_;
    RateLimiter limiter_;
    std::size_t max_projects_;
    std::array<std::uint64_t, static_cast<std::size_t>(Drop::count_)> dropped_{};
    std::uint64_t accepted_ = 0;
};

}  // namespace tenex::daemon
