// The orchestrator's lifecycle decisions (owner thread only): what a project that has nothing
// in flight does next, answers to waiters, the restart policy applied to an exit, and the
// timers (backoff end, idle timeout, maximum lifetime).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/disk_quota.hpp"
#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

Orchestrator::Entry& Orchestrator::entry(const ProjectRef& project) {
    std::string key = project.address();
    auto it = entries_.find(key);
    if (it != entries_.end()) return *it->second;
    auto e = std::make_unique<Entry>();
    e->ref = project;
    e->key = key;
    return *entries_.emplace(key, std::move(e)).first->second;
}

void Orchestrator::trigger(Entry& e) {
    e.last_trigger = now();
    e.last_trigger_unix_ms = unix_ms_now();
    e.want_running = true;
    e.want_stop = false;
    e.forget = false;
    e.checked = false;
    e.pause_refused = false;
    if (e.state == ProjectState::crash_looping || e.state == ProjectState::failed) {
        e.restarts.reset();
        e.backoff_attempt = 0;
    }
    progress(e);
}

// Moves a project that has nothing in flight towards what was asked of it.
void Orchestrator::progress(Entry& e) {
    if (e.busy || e.queued) return;
    if (e.policy_reload && reload_policy(e)) return;
    if (e.want_stop) {
        if (e.state == ProjectState::stopped && e.kept) {
            launch_remove_kept(e, StopReason::requested);
            return;
        }
        if (e.state == ProjectState::running ||
            (!e.container_id.empty() && e.state != ProjectState::stopped)) {
            launch_stop(e, StopReason::requested);
            return;
        }
        e.want_stop = false;
        e.state = ProjectState::stopped;
        settle(e);
        return;
    }
    if (!e.want_running) return;
    switch (e.state) {
        case ProjectState::running:
            if (e.force_replace) {
                launch_stop(e, StopReason::replacing);
                return;
            }
            if (!e.checked) {
                launch_check(e);
                return;
            }
            settle(e);
            return;
        case ProjectState::backing_off:
            if (e.force_replace) {  // a manual restart does not wait for the backoff
                e.force_replace = false;
                enqueue_start(e, false);
                return;
            }
            settle(e);  // the restart comes when the backoff ends
            return;
        case ProjectState::paused:
            launch_unpause(e);  // then running: the digest check as for any trigger
            return;
        case ProjectState::stopped:
        case ProjectState::failed:
        case ProjectState::crash_looping:
            // A kept container is started again, unless a restart asked for a new one.
            e.warm_ok = e.state == ProjectState::stopped && e.kept && !e.force_replace;
            e.force_replace = false;
            enqueue_start(e, false);
            return;
        case ProjectState::starting:
        case ProjectState::stopping:
            return;
    }
}

// After policies_changed(), for a project with nothing in flight: a running or paused
// container takes the new lifecycle settings (its stop timeout is part of the digest and stays
// with it), and under on_policy_change: immediately a digest check replaces it when it is out
// of date. A kept container takes the new keep_stopped (0: removed now); its digest is checked
// at its next start. Returns true when a job was launched. Other states read the policy at
// their next start.
bool Orchestrator::reload_policy(Entry& e) {
    e.policy_reload = false;
    if (e.want_stop) return false;
    if (e.state == ProjectState::stopped && e.kept) {
        auto policy = options_.policies(e.ref);
        if (!policy) return false;
        if (e.policy) e.policy->lifecycle.keep_stopped = policy->lifecycle.keep_stopped;
        if (policy->lifecycle.keep_stopped.count() > 0) return false;
        launch_remove_kept(e, StopReason::keep_stopped_zero);
        return true;
    }
    if (e.state != ProjectState::running && e.state != ProjectState::paused) return false;
    auto policy = options_.policies(e.ref);
    if (!policy) return false;  // reconcile decides about unknown projects
    // The workspace's disk limit follows the new policy at once: it needs no new container
    // (asked only where a limit is or was set; e.policy keeps the last one applied).
    const std::int64_t last_disk = e.policy ? e.policy->resources.disk_bytes : 0;
    if (e.policy) e.policy->resources.disk_bytes = policy->resources.disk_bytes;
    if (policy->resources.disk_bytes > 0 || last_disk > 0)
        if (auto dir = options_.workspace(e.ref))
            (void)submit([dir = *dir, bytes = policy->resources.disk_bytes, key = e.key] {
                if (auto st = disk::apply_limit(dir, bytes); !st)
                    spdlog::warn("orchestrator: {}: workspace disk limit: {}", key,
                                 st.error().message);
                else
                    spdlog::info(
                        "orchestrator: {}: workspace disk limit {} after the policy reload", key,
                        bytes > 0 ? std::to_string(bytes) + " bytes" : std::string("cleared"));
            });
    if (e.policy) {
        const auto stop_timeout = e.policy->lifecycle.stop_timeout;
        e.policy->lifecycle = policy->lifecycle;
        e.policy->lifecycle.stop_timeout = stop_timeout;
    } else {
        e.policy = *policy;
    }
    if (policy->lifecycle.on_policy_change != PolicyChange::immediately) return false;
    e.want_running = true;  // a replacement starts the new container
    launch_check(e);
    return true;
}

void Orchestrator::drop_if_forgotten(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    const Entry& e = *it->second;
    if (!e.forget || e.busy || e.queued || e.checking || e.state != ProjectState::stopped ||
        e.kept || !e.container_id.empty() || !e.waiters.empty() || !e.stop_waiters.empty())
        return;  // a trigger came in between, or something is still in flight
    spdlog::info("orchestrator: {} forgotten", key);
    entries_.erase(it);
}

// Answers every waiter with the current status.
void Orchestrator::settle(Entry& e) {
    if (e.want_running && e.state != ProjectState::starting && e.state != ProjectState::stopping)
        e.want_running = false;
    // Dropped by a message of its own (the callers still hold e), posted before the waiters
    // are answered so that whatever they ask next sees it gone.
    if (e.forget && e.state == ProjectState::stopped)
        post([this, key = e.key] { drop_if_forgotten(key); });
    auto s = status_of(e);
    for (auto& w : e.waiters) w.set_value(s);
    e.waiters.clear();
    if (e.state != ProjectState::stopping) {
        for (auto& w : e.stop_waiters) w.set_value(s);
        e.stop_waiters.clear();
    }
}

void Orchestrator::fail_waiters(Entry& e, const std::string& reason) {
    for (auto& w : e.waiters) w.set_value(make_error(e.key + ": " + reason));
    e.waiters.clear();
}

void Orchestrator::on_exited(Entry& e, std::optional<int> exit_code, bool oom_killed) {
    const TimePoint t = now();
    const int code = exit_code.value_or(-1);
    // The engine's oom event was counted when it came; an OOM seen only by inspecting the
    // exited container (the event stream had a gap) is counted here.
    if (oom_killed && !e.oom_seen) ++e.oom_kills;
    e.last_exit_code = exit_code;
    e.last_exit_reason = exit_code ? classify_exit(code, oom_killed)
                                   : (oom_killed ? ExitReason::oom : ExitReason::killed);
    // Stopped or killed by someone else, even when the program then exited by itself.
    if (e.last_exit_reason == ExitReason::exit && e.kill_seen)
        e.last_exit_reason = ExitReason::killed;
    e.oom_seen = false;
    e.kill_seen = false;
    e.usage.reset();
    const Lifecycle lc = e.policy ? e.policy->lifecycle : Lifecycle{};
    if (t - e.started >= options_.stable_run) e.backoff_attempt = 0;
    std::string how = "exited with code " + (exit_code ? std::to_string(code) : std::string("?")) +
                      " (" + to_string(e.last_exit_reason) + ")";
    if (!should_restart(lc.restart, code, e.last_exit_reason)) {
        // Exit code 0, also after a stop by someone else, ends it; anything else failed.
        e.state = (code == 0 && e.last_exit_reason != ExitReason::oom) ? ProjectState::stopped
                                                                       : ProjectState::failed;
        e.last_error = how + "; restart policy " + to_string(lc.restart) + ": not restarted";
        spdlog::info("orchestrator: {}: {}", e.key, e.last_error);
        settle(e);
        return;
    }
    if (e.restarts.exhausted(t, lc)) {
        e.state = ProjectState::crash_looping;
        e.last_error = how + "; crash loop: " + std::to_string(lc.crash_loop_threshold) +
                       " restarts within " + std::to_string(lc.crash_loop_window.count()) +
                       " ms; not restarting until a trigger or a manual restart";
        spdlog::warn("orchestrator: {}: {}", e.key, e.last_error);
        settle(e);
        return;
    }
    auto delay = backoff_delay(lc, e.backoff_attempt, options_.backoff_jitter, options_.random());
    ++e.backoff_attempt;
    e.state = ProjectState::backing_off;
    e.backoff_until = t + delay;
    e.last_error = how + "; restarting in " + std::to_string(delay.count()) + " ms";
    spdlog::info("orchestrator: {}: {}", e.key, e.last_error);
    settle(e);
}

// The next timed transition of a project with nothing in flight. The idle clock counts
// inbound triggers only: pause after pause_after (when shorter than idle_timeout), stop after
// idle_timeout, whichever comes first of that and max_lifetime.
std::optional<Orchestrator::Due> Orchestrator::due(const Entry& e) const {
    if (e.busy || e.queued) return std::nullopt;
    if (e.state == ProjectState::backing_off) return Due{e.backoff_until, Due::restart};
    if (!e.policy) return std::nullopt;
    const Lifecycle& lc = e.policy->lifecycle;
    if (e.state == ProjectState::stopped && e.kept)
        return Due{e.stopped_at + lc.keep_stopped, Due::remove};
    if (e.state != ProjectState::running && e.state != ProjectState::paused) return std::nullopt;
    std::optional<Due> next;
    auto consider = [&next](TimePoint at, Due::What what) {
        if (!next || at < next->at) next = Due{at, what};
    };
    if (lc.idle_timeout.count() > 0) consider(e.last_trigger + lc.idle_timeout, Due::idle_stop);
    if (lc.max_lifetime.count() > 0) consider(e.started + lc.max_lifetime, Due::lifetime_stop);
    if (e.state == ProjectState::running && !e.pause_refused && engine_.supports_pause() &&
        lc.pause_after.count() > 0 &&
        (lc.idle_timeout.count() == 0 || lc.pause_after < lc.idle_timeout))
        consider(e.last_trigger + lc.pause_after, Due::pause);
    return next;
}

void Orchestrator::tick() {
    if (closing_) return;
    const TimePoint t = now();
    for (auto& [key, ep] : entries_) {
        Entry& e = *ep;
        auto d = due(e);
        if (!d || t < d->at) continue;
        switch (d->what) {
            case Due::restart:
                e.restarts.record(t);
                enqueue_start(e, true);
                break;
            case Due::remove:
                launch_remove_kept(e, StopReason::kept_expired);
                break;
            case Due::idle_stop:
                launch_stop(e, StopReason::idle, e.policy->lifecycle.keep_stopped.count() > 0);
                break;
            case Due::lifetime_stop:
                launch_stop(e, StopReason::max_lifetime);
                break;
            case Due::pause:
                launch_pause(e);
                break;
        }
    }
}

TimePoint Orchestrator::next_deadline() const {
    TimePoint next = TimePoint::max();
    for (const auto& [key, ep] : entries_)
        if (auto d = due(*ep)) next = std::min(next, d->at);
    return next;
}

ProjectStatus Orchestrator::status_of(const Entry& e) const {
    ProjectStatus s;
    s.project = e.ref;
    s.state = e.state;
    s.container_id = e.container_id;
    s.container_name = e.container_name.empty() ? container_name(e.ref) : e.container_name;
    s.policy_digest = e.digest;
    s.started_at = e.started_at;
    s.node = e.node;
    s.restart_count = e.restart_count;
    s.oom_kills = e.oom_kills;
    s.last_exit_code = e.last_exit_code;
    s.last_exit_reason = e.last_exit_reason;
    s.last_trigger_unix_ms = e.last_trigger_unix_ms;
    s.last_error = e.last_error;
    s.usage = e.usage;
    s.kept = e.kept;
    s.last_wake = e.last_wake;
    if (auto d = due(e)) {
        static const char* const kNames[] = {"restart", "remove", "stop", "stop", "pause"};
        s.next_transition = kNames[d->what];
        s.next_transition_unix_ms =
            unix_ms_now() +
            std::max<std::int64_t>(
                0, std::chrono::duration_cast<std::chrono::milliseconds>(d->at - now()).count());
    }
    return s;
}

}  // namespace tenex::sandbox
