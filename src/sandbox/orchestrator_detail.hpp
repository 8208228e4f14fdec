// Private to the orchestrator's sources: the per-project record the owner thread keeps, the
// result of a start, and small time helpers.
#pragma once

#include <cctype>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "common/rfc3339.hpp"
#include "sandbox/orchestrator.hpp"

namespace tenex::sandbox::detail {

inline std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The steady-clock moment matching an engine timestamp (for lifetime and stable-run checks).
inline TimePoint steady_from_engine(const std::string& started_at, TimePoint now) {
    auto ms = parse_rfc3339_ms(started_at);
    if (!ms) return now;
    auto age = std::chrono::milliseconds(std::max<std::int64_t>(0, unix_ms_now() - *ms));
    return now - age;
}

inline int stop_seconds(const Policy& policy) {
    return static_cast<int>((policy.lifecycle.stop_timeout.count() + 999) / 1000);
}

}  // namespace tenex::sandbox::detail

namespace tenex::sandbox {

struct Orchestrator::Entry {
    ProjectRef ref{};
    std::string key{};
    ProjectState state = ProjectState::stopped;
    std::string container_id{};
    std::string container_name{};
    std::string digest{};
    std::string started_at{};
    std::string node{};  // swarm: the node of the container's task
    TimePoint started{};
    int restart_count = 0;
    int oom_kills = 0;
    int backoff_attempt = 0;
    std::optional<int> last_exit_code{};
    ExitReason last_exit_reason = ExitReason::none;
    TimePoint last_trigger{};
    std::int64_t last_trigger_unix_ms = 0;
    std::string last_error{};
    std::optional<ProjectUsage> usage{};
    std::optional<Policy> policy{};  // the policy of the current (or last) container
    TimePoint backoff_until{};
    RestartWindow restarts{};
    // Stopped with its container kept (container_id) since stopped_at, for a warm start.
    bool kept = false;
    TimePoint stopped_at{};
    bool warm_ok = false;        // the start being queued may start the kept container
    bool pause_refused = false;  // the engine refused a pause: not tried again until a trigger
    std::string last_wake{};     // see ProjectStatus::last_wake
    bool busy = false;           // a start, stop or exit inspection is in flight
    bool queued = false;         // waiting in the start queue
    bool checking = false;       // a digest check is in flight
    bool checked = false;        // the digest was checked since the last trigger
    bool oom_seen = false;
    bool kill_seen = false;  // someone else stopped or killed the container (a kill event)
    bool want_running = false;
    bool want_stop = false;
    bool forget = false;  // forget(): dropped from entries_ once stopped without a container
    bool force_replace = false;
    bool next_is_restart = false;
    bool policy_reload = false;  // policies_changed() since this project was last looked at
    std::uint64_t run_seq = 0;   // orchestrator-wide order of the starts and adoptions
    bool died = false;           // a die event came while an operation was in flight
    std::string died_id{};
    std::optional<int> died_code{};
    std::vector<Waiter> waiters{};       // ensure_running / restart
    std::vector<Waiter> stop_waiters{};  // stop
};

struct Orchestrator::StartOutcome {
    std::string id{};
    std::string name{};
    std::string digest{};
    std::string started_at{};
    std::string node{};
    bool adopted = false;
    bool warm = false;  // the kept container started again
};

}  // namespace tenex::sandbox
