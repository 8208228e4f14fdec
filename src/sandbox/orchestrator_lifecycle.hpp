// The pure parts of the orchestrator's lifecycle rules: restart decisions, backoff delays,
// the crash-loop window and the fair start queue. No I/O, no threads: unit-tested directly.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "sandbox/orchestrator_types.hpp"
#include "sandbox/policy.hpp"

namespace tenex::sandbox {

// OOM when the engine says so (State.OOMKilled or an oom event), killed when a signal ended
// it (exit code 128+n, e.g. 137 for SIGKILL), a plain exit otherwise. (The orchestrator also
// reports killed when someone else stopped or killed the container, whatever the exit code.)
ExitReason classify_exit(int exit_code, bool oom_killed);

// never: no; always: yes; on-failure: a non-zero exit code or an OOM kill.
bool should_restart(RestartMode mode, int exit_code, ExitReason reason);

// The delay before restart number `attempt` (0 for the first restart after a stable run):
// initial * 2^attempt capped at max, then scaled by (1 + jitter * (2u - 1)) for u in [0, 1).
// With jitter < 1/3 every uncapped delay is longer than the one before it.
std::chrono::milliseconds backoff_delay(const Lifecycle& lifecycle, int attempt, double jitter,
                                        double u);

// Restarts within a sliding window: `threshold` restarts within `window` and the next exit
// stops restarting (crash-looping) until a trigger or a manual restart resets it.
class RestartWindow {
  public:
    void record(TimePoint t) { restarts_.push_back(t); }
    // Restarts within (now - window, now].
    int count(TimePoint now, std::chrono::milliseconds window);
    bool exhausted(TimePoint now, const Lifecycle& lifecycle) {
        return lifecycle.crash_loop_threshold > 0 &&
               count(now, lifecycle.crash_loop_window) >= lifecycle.crash_loop_threshold;
    }
    void reset() { restarts_.clear(); }

  private:
    std::deque<TimePoint> restarts_;
};

// Starts waiting for a slot, round-robin across groups (the project owner) and first come
// first served within a group, each key at most once. A burst of triggers for one owner's
// many projects cannot starve another owner's project, and no key waits behind more than
// (number of groups) x (its position in its group) others.
class FairStartQueue {
  public:
    // False when the key is already waiting.
    bool push(const std::string& group, const std::string& key);
    std::optional<std::string> pop();
    bool remove(const std::string& key);
    bool contains(const std::string& key) const { return group_of_.count(key) != 0; }
    std::size_t size() const { return group_of_.size(); }
    bool empty() const { return group_of_.empty(); }

  private:
    std::map<std::string, std::deque<std::string>> groups_;
    std::list<std::string> turn_;  // groups with waiting keys, in serving order
    std::map<std::string, std::string> group_of_;
};

}  // namespace tenex::sandbox
