#include "sandbox/orchestrator_lifecycle.hpp"

#include <algorithm>
#include <cmath>

namespace tenex::sandbox {

std::string to_string(ProjectState s) {
    switch (s) {
        case ProjectState::stopped:
            return "stopped";
        case ProjectState::starting:
            return "starting";
        case ProjectState::running:
            return "running";
        case ProjectState::paused:
            return "paused";
        case ProjectState::stopping:
            return "stopping";
        case ProjectState::backing_off:
            return "backing-off";
        case ProjectState::crash_looping:
            return "crash-looping";
        case ProjectState::failed:
            return "failed";
    }
    return "unknown";
}

std::string to_string(ExitReason r) {
    switch (r) {
        case ExitReason::none:
            return "none";
        case ExitReason::exit:
            return "exit";
        case ExitReason::oom:
            return "oom";
        case ExitReason::killed:
            return "killed";
    }
    return "unknown";
}

std::string to_string(StopReason r) {
    switch (r) {
        case StopReason::requested:
            return "stop requested";
        case StopReason::replacing:
            return "replacing the container";
        case StopReason::idle:
            return "idle timeout";
        case StopReason::max_lifetime:
            return "maximum lifetime reached";
        case StopReason::keep_stopped_zero:
            return "keep_stopped is 0 now";
        case StopReason::kept_expired:
            return "kept for keep_stopped";
        case StopReason::disk_pressure:
            return "disk pressure";
    }
    return "unknown";
}

ExitReason classify_exit(int exit_code, bool oom_killed) {
    if (oom_killed) return ExitReason::oom;
    if (exit_code > 128 && exit_code < 128 + 65) return ExitReason::killed;
    return ExitReason::exit;
}

bool should_restart(RestartMode mode, int exit_code, ExitReason reason) {
    switch (mode) {
        case RestartMode::never:
            return false;
        case RestartMode::always:
            return true;
        case RestartMode::on_failure:
            return exit_code != 0 || reason == ExitReason::oom;
    }
    return false;
}

std::chrono::milliseconds backoff_delay(const Lifecycle& lc, int attempt, double jitter, double u) {
    const double initial =
        static_cast<double>(std::max<std::int64_t>(0, lc.backoff_initial.count()));
    const double cap = std::max(initial, static_cast<double>(lc.backoff_max.count()));
    const double exp = std::ldexp(1.0, std::clamp(attempt, 0, 62));
    double base = std::min(cap, initial * exp);
    jitter = std::clamp(jitter, 0.0, 1.0);
    u = std::clamp(u, 0.0, 1.0);
    double delay = base * (1.0 + jitter * (2.0 * u - 1.0));
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(0.0, std::round(delay))));
}

int RestartWindow::count(TimePoint now, std::chrono::milliseconds window) {
    while (!restarts_.empty() && restarts_.front() <= now - window) restarts_.pop_front();
    return static_cast<int>(restarts_.size());
}

bool FairStartQueue::push(const std::string& group, const std::string& key) {
    if (contains(key)) return false;
    auto& q = groups_[group];
    if (q.empty()) turn_.push_back(group);
    q.push_back(key);
    group_of_[key] = group;
    return true;
}

std::optional<std::string> FairStartQueue::pop() {
    if (turn_.empty()) return std::nullopt;
    std::string group = turn_.front();
    turn_.pop_front();
    auto it = groups_.find(group);
    std::string key = it->second.front();
    it->second.pop_front();
    if (it->second.empty())
        groups_.erase(it);
    else
        turn_.push_back(group);
    group_of_.erase(key);
    return key;
}

bool FairStartQueue::remove(const std::string& key) {
    auto g = group_of_.find(key);
    if (g == group_of_.end()) return false;
    auto it = groups_.find(g->second);
    it->second.erase(std::find(it->second.begin(), it->second.end(), key));
    if (it->second.empty()) {
        turn_.remove(g->second);
        groups_.erase(it);
    }
    group_of_.erase(g);
    return true;
}

}  // namespace tenex::sandbox
