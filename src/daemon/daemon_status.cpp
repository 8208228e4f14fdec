// What the daemon thread tells and records about the projects: every tick the projects'
// states into the state store, the metrics and the event log, systemd's STATUS= line, disk
// pressure and gateway activity; the heartbeat (kind 24012) and the lifecycle events on Nostr
// (kinds 24013/34013).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "daemon/daemon_internal.hpp"
#include "daemon/lifecycle_nostr.hpp"

namespace tenex::daemon {

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Project states (the daemon thread)

// A container seen running for the first time counts as a start (adopted ones are in
// last_states from the start-up reconcile, so they do not).
void Daemon::Impl::note_if_started(const std::string& key, const sandbox::ProjectStatus& s) {
    if (s.state != sandbox::ProjectState::running || s.container_id.empty()) return;
    auto prev = last_states.find(key);
    // Thawed from paused is the same run of the same container, not a start.
    const bool was_up = prev != last_states.end() && prev->second.container_id == s.container_id &&
                        (prev->second.state == sandbox::ProjectState::running ||
                         prev->second.state == sandbox::ProjectState::paused);
    if (!was_up) metrics.container_started(s.node);
}

void Daemon::Impl::forgotten(const sandbox::ProjectStatus& last) {
    const std::string key = last.project.address();
    observe(key, last);
    (void)state->upsert_project({.address = key,
                                 .status = sandbox::to_string(last.state),
                                 .container_id = {},
                                 .updated_at = unix_now()});
    (void)state->add_history(
        key, {.at = unix_now(), .what = "forgotten", .detail = "on operator request"});
    last_states.erase(key);
    last_wake_seconds.erase(key);
}

void Daemon::Impl::relieve_disk_pressure() {
    const std::uint64_t min_free = config.disk_pressure_min_free;
    const auto now = std::chrono::steady_clock::now();
    if (min_free == 0 || now - disk_checked < 10s) return;
    disk_checked = now;
    if (engine_root.empty()) {
        auto info = docker->call_json("GET", "/info", "engine info");
        if (!info || !info->is_object()) return;  // asked again at the next check
        engine_root = info->value("DockerRootDir", std::string("/var/lib/docker"));
    }
    std::error_code ec;
    const auto space = std::filesystem::space(engine_root, ec);
    if (ec) {  // said once; checked again every time
        if (!std::exchange(disk_unreadable, true))
            spdlog::warn("disk pressure: cannot read the free space of {}: {}",
                         engine_root.string(), ec.message());
        return;
    }
    disk_unreadable = false;
    const bool short_now = space.available < min_free;
    if (short_now != disk_short)
        spdlog::log(short_now ? spdlog::level::warn : spdlog::level::info,
                    "disk pressure: {} MiB available on {} ({} MiB wanted): {}",
                    space.available >> 20, engine_root.string(), min_free >> 20,
                    short_now ? "removing kept containers, the longest stopped first" : "over");
    disk_short = short_now;
    if (short_now) orchestrator->remove_oldest_kept();
}

// Every tick: project states into the store and the metrics, relay states, cursors.
// A project that published through its gateway since the last tick is at work: its idle and
// pause timers start again, as for a trigger (an agent on a long task that no new message
// started is not frozen or stopped under it). Gateway::activity says which events count.
void Daemon::Impl::touch_working_projects() {
    if (!gateway) return;
    auto now = gateway->activity();  // a closed project's count is gone from it
    for (const auto& [key, count] : now) {
        auto seen = gateway_activity.find(key);
        if (seen != gateway_activity.end() && seen->second == count) continue;
        if (auto address = nostr::Address::parse(key))
            orchestrator->touch({.owner = address->pubkey, .d = address->identifier});
    }
    gateway_activity = std::move(now);
}

void Daemon::Impl::tick() {
    retry_engine_waits();
    touch_working_projects();
    relieve_disk_pressure();
    flush_lifecycle();
    auto snapshot = orchestrator->snapshot();
    std::map<std::string, int> by_state;
    for (auto s : {sandbox::ProjectState::stopped, sandbox::ProjectState::starting,
                   sandbox::ProjectState::running, sandbox::ProjectState::paused,
                   sandbox::ProjectState::stopping, sandbox::ProjectState::backing_off,
                   sandbox::ProjectState::crash_looping, sandbox::ProjectState::failed})
        by_state[sandbox::to_string(s)] = 0;
    std::map<std::string, int> running_by_node;
    for (const auto& s : snapshot) {
        ++by_state[sandbox::to_string(s.state)];
        if (s.state == sandbox::ProjectState::running && !s.node.empty()) ++running_by_node[s.node];
        const std::string key = s.project.address();
        auto prev = last_states.find(key);
        const bool changed = prev == last_states.end() || prev->second.state != s.state ||
                             prev->second.container_id != s.container_id;
        observe(key, s);
        note_if_started(key, s);
        if (prev != last_states.end() && s.restart_count > prev->second.restart_count)
            for (int i = prev->second.restart_count; i < s.restart_count; ++i)
                metrics.container_restarted();
        const int oom_before = prev == last_states.end() ? 0 : prev->second.oom_kills;
        for (int i = oom_before; i < s.oom_kills; ++i) metrics.oom_killed();
        if (s.oom_kills > oom_before && s.state == sandbox::ProjectState::running)
            (void)state->add_history(key, {.at = unix_now(),
                                           .what = "oom-kill",
                                           .detail = std::to_string(s.oom_kills - oom_before) +
                                                     " process(es) killed; the container runs on"});
        if (changed) {
            (void)state->upsert_project({.address = key,
                                         .status = sandbox::to_string(s.state),
                                         .container_id = s.container_id,
                                         .updated_at = unix_now()});
            std::string detail = s.container_id.substr(0, 12);
            if (s.last_exit_code) detail += " exit " + std::to_string(*s.last_exit_code);
            if (!s.last_error.empty()) detail += " " + s.last_error;
            (void)state->add_history(
                key, {.at = unix_now(), .what = sandbox::to_string(s.state), .detail = detail});
        }
        last_states[key] = s;
    }
    metrics.set_projects_by_state(by_state);
    if (swarm) metrics.set_running_by_node(running_by_node);
    if (config.metrics.per_project) set_project_metrics(snapshot);
    metrics.set_relays(pool->status());
    if (notifier.enabled())
        if (auto line = status_summary(by_state["running"]); line != last_status) {
            notifier.status(line);
            last_status = std::move(line);
        }
    if (gateway) metrics.set_gateway(gateway->stats());
    const auto egress = orchestrator->network_enforcer().totals();
    metrics.set_egress(egress.forwarded, egress.refused);
    metrics.set_queue_depth(inbox->size());
    metrics.set_loop_failures("daemon", inbox->failures());
    metrics.set_loop_failures("daemon_workers", workers->failures());
    metrics.set_loop_failures("orchestrator", orchestrator->loop_failures());
    for (const auto& [url, newest] : cursors) (void)state->set_cursor(url, newest);
}

// The per-project series from this tick's snapshot. CPU and memory come from the engine
// stats `ps` uses (Orchestrator::refresh_usage), sampled here at most every kUsageInterval
// without waiting: a tick uses the last sample, and a project sampled for an earlier container
// has no CPU or memory figures until the next.
void Daemon::Impl::set_project_metrics(const std::vector<sandbox::ProjectStatus>& snapshot) {
    const auto now = std::chrono::steady_clock::now();
    // Not while `ps` samples (it holds the lock while it waits): its sample serves.
    if (usage_mu.try_lock()) {
        MutexLock lock(usage_mu, std::adopt_lock);
        const bool idle =
            !usage_pending.valid() ||
            usage_pending.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
        if (idle && now - usage_at > kUsageInterval) {
            usage_pending = orchestrator->refresh_usage();
            usage_at = now;
        }
    }
    std::vector<ProjectSample> samples;
    samples.reserve(snapshot.size());
    for (const auto& s : snapshot) {
        using sandbox::ProjectState;
        ProjectSample p{.project = s.project.address(),
                        .state = sandbox::to_string(s.state),
                        .container_id = s.container_id,
                        .restarts = s.restart_count,
                        .oom_kills = s.oom_kills};
        const bool has_container = s.state == ProjectState::running ||
                                   s.state == ProjectState::paused ||
                                   s.state == ProjectState::stopping;
        if (s.usage && !s.container_id.empty() && s.usage->container_id == s.container_id) {
            p.cpu_seconds = s.usage->cpu_seconds;
            p.memory_limit = s.usage->memory_limit;
            if (has_container) p.memory_used = s.usage->memory_used;
        }
        if (!has_container && s.state != ProjectState::starting) p.memory_used = 0;
        if (auto w = last_wake_seconds.find(p.project); w != last_wake_seconds.end())
            p.last_wake_seconds = w->second;
        samples.push_back(std::move(p));
    }
    metrics.set_projects(samples, std::chrono::duration<double>(now.time_since_epoch()).count());
}

std::set<std::string> Daemon::Impl::running_projects() const {
    std::set<std::string> out;
    for (const auto& [key, s] : last_states)
        // A paused project counts: the next message thaws it within milliseconds.
        if (s.state == sandbox::ProjectState::running || s.state == sandbox::ProjectState::paused)
            out.insert(key);
    return out;
}

// Kind 24012, signed by the daemon key: which projects this backend runs, `p`-tagging the
// whitelist. Every 30 s, and at once when the set of running projects changes.
void Daemon::Impl::publish_heartbeat() {
    nostr::UnsignedEvent hb;
    hb.kind = kHeartbeatKind;
    heartbeat_projects = running_projects();
    nlohmann::json projects = nlohmann::json::array();
    for (const auto& key : heartbeat_projects) {
        projects.push_back(key);
        hb.tags.push_back({"a", key});
    }
    for (const auto& pk : config.whitelist) hb.tags.push_back({"p", pk});
    hb.content = nlohmann::json{{"daemon", id}, {"projects", projects}}.dump();
    auto signed_event = nostr::sign_event(std::move(hb), *keys);
    if (!signed_event) {
        spdlog::warn("heartbeat: {}", signed_event.error().message);
        return;
    }
    (void)pool->publish(std::move(*signed_event), 5s);
}

// Kinds 24013 (the transition) and 34013 (the project's last state), signed by the daemon
// key: see lifecycle_nostr.hpp. At most 10 at once and one every 5 s per project; over that
// the transition is dropped (counted) and the last state goes out as soon as the project's
// bucket allows (flush_lifecycle, every tick).
void Daemon::Impl::publish_lifecycle(const LifecycleEvent& e, const std::string& state) {
    if (!lifecycle_limiter.allow(e.project, std::chrono::steady_clock::now())) {
        lifecycle_pending[e.project] = {e, state};
        metrics.lifecycle_event("rate_limited");
        return;
    }
    lifecycle_pending.erase(e.project);
    for (auto kind : {kLifecycleKind, kLifecycleStateKind}) publish_lifecycle_kind(e, state, kind);
}

void Daemon::Impl::flush_lifecycle() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = lifecycle_pending.begin(); it != lifecycle_pending.end();) {
        if (!lifecycle_limiter.allow(it->first, now)) {
            ++it;
            continue;
        }
        publish_lifecycle_kind(it->second.first, it->second.second, kLifecycleStateKind);
        it = lifecycle_pending.erase(it);
    }
}

void Daemon::Impl::publish_lifecycle_kind(const LifecycleEvent& e, const std::string& state,
                                          std::uint32_t kind) {
    // Strictly increasing per project: of two last states in one second, the later must win.
    auto& last = lifecycle_created_at[e.project];
    last = std::max<std::int64_t>(unix_now(), last + 1);
    auto signed_event = nostr::sign_event(lifecycle_nostr_event(e, state, kind, last), *keys);
    if (!signed_event) {
        spdlog::warn("lifecycle event: {}", signed_event.error().message);
        metrics.lifecycle_event("failed");
        return;
    }
    (void)pool->publish(std::move(*signed_event), 5s);
    metrics.lifecycle_event("published");
}

// ---------------------------------------------------------------------------------------------
// systemd's STATUS= line

std::string Daemon::Impl::status_summary(int running) const {
    std::size_t connected = 0, total = 0;
    for (const auto& r : pool->status()) {
        ++total;
        connected += r.connected ? 1 : 0;
    }
    return std::to_string(running) + (running == 1 ? " project" : " projects") + " running; " +
           std::to_string(connected) + "/" + std::to_string(total) + " relays connected";
}

}  // namespace tenex::daemon
