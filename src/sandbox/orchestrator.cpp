#include "sandbox/orchestrator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {
namespace {

constexpr auto kMaxIdleWait = std::chrono::milliseconds(100);

}  // namespace

using namespace detail;

// ---------------------------------------------------------------------------------------------
// Threads

Orchestrator::Orchestrator(OrchestratorOptions options, Engine& engine)
    : options_(std::move(options)), engine_(engine), enforcer_(options_.network_enforcer),
      rng_(std::random_device{}()) {
    if (!enforcer_) enforcer_ = std::make_shared<HostNetworkEnforcer>();
    if (!options_.clock) options_.clock = [] { return Clock::now(); };
    if (!options_.random) {
        options_.random = [this] {
            return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
        };
    }
    options_.max_starts_in_flight = std::max(1, options_.max_starts_in_flight);
    int workers = std::max(options_.workers, options_.max_starts_in_flight + 2);
    for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { run_worker(); });
    loop_ = std::thread([this] { run_loop(); });
}

Orchestrator::~Orchestrator() { shutdown(false); }

bool Orchestrator::post(std::function<void()> message) {
    {
        std::lock_guard lock(inbox_mu_);
        if (loop_stop_) return false;
        inbox_.push_back(std::move(message));
    }
    inbox_cv_.notify_one();
    return true;
}

void Orchestrator::run_loop() {
    for (;;) {
        std::deque<std::function<void()>> batch;
        {
            std::unique_lock lock(inbox_mu_);
            auto deadline = next_deadline();
            auto wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now()),
                                   std::chrono::milliseconds(0), kMaxIdleWait);
            inbox_cv_.wait_for(lock, wait, [this] { return loop_stop_ || !inbox_.empty(); });
            if (loop_stop_ && inbox_.empty()) return;
            batch.swap(inbox_);
        }
        for (auto& message : batch) {
            try {
                message();
            } catch (const std::exception& e) {
                spdlog::error("orchestrator: message failed: {}", e.what());
            }
        }
        try {
            tick();
        } catch (const std::exception& e) {
            spdlog::error("orchestrator: timer check failed: {}", e.what());
        }
    }
}

bool Orchestrator::submit(std::function<void()> job) {
    {
        std::lock_guard lock(jobs_mu_);
        if (jobs_stop_) return false;
        jobs_.push_back(std::move(job));
    }
    jobs_cv_.notify_one();
    return true;
}

void Orchestrator::run_worker() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(jobs_mu_);
            jobs_cv_.wait(lock, [this] { return jobs_stop_ || !jobs_.empty(); });
            if (jobs_stop_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        try {
            job();
        } catch (const std::exception& e) {
            spdlog::error("orchestrator: engine job failed: {}", e.what());
        }
    }
}

TimePoint Orchestrator::now() const { return options_.clock(); }

// ---------------------------------------------------------------------------------------------
// Requests

StatusFuture Orchestrator::ensure_running(const ProjectRef& project) {
    auto waiter = std::make_shared<Waiter>();
    auto future = waiter->get_future();
    if (!post([this, project, waiter] {
            if (closing_) {
                waiter->set_value(make_error("the orchestrator is shutting down"));
                return;
            }
            Entry& e = entry(project);
            e.waiters.push_back(std::move(*waiter));
            trigger(e);
        }))
        waiter->set_value(make_error("the orchestrator is shut down"));
    return future;
}

void Orchestrator::touch(const ProjectRef& project) {
    post([this, project] {
        auto it = entries_.find(project.address());
        if (it == entries_.end()) return;  // nothing runs that could idle
        it->second->last_trigger = now();
        it->second->last_trigger_unix_ms = unix_ms_now();
    });
}

StatusFuture Orchestrator::stop(const ProjectRef& project) {
    auto waiter = std::make_shared<Waiter>();
    auto future = waiter->get_future();
    if (!post([this, project, waiter] {
            Entry& e = entry(project);
            e.stop_waiters.push_back(std::move(*waiter));
            e.want_stop = true;
            e.want_running = false;
            fail_waiters(e, "stopped by request");
            if (e.queued) {
                start_queue_.remove(e.key);
                e.queued = false;
                e.state = e.container_id.empty() ? ProjectState::stopped : ProjectState::failed;
            }
            progress(e);
        }))
        waiter->set_value(make_error("the orchestrator is shut down"));
    return future;
}

StatusFuture Orchestrator::restart(const ProjectRef& project) {
    auto waiter = std::make_shared<Waiter>();
    auto future = waiter->get_future();
    if (!post([this, project, waiter] {
            if (closing_) {
                waiter->set_value(make_error("the orchestrator is shutting down"));
                return;
            }
            Entry& e = entry(project);
            e.waiters.push_back(std::move(*waiter));
            e.force_replace = true;
            e.restart_count = 0;
            e.restarts.reset();
            e.backoff_attempt = 0;
            trigger(e);
        }))
        waiter->set_value(make_error("the orchestrator is shut down"));
    return future;
}

std::vector<ProjectStatus> Orchestrator::snapshot() {
    auto p = std::make_shared<std::promise<std::vector<ProjectStatus>>>();
    auto f = p->get_future();
    if (!post([this, p] {
            std::vector<ProjectStatus> out;
            out.reserve(entries_.size());
            for (const auto& [key, e] : entries_) out.push_back(status_of(*e));
            p->set_value(std::move(out));
        }))
        return {};
    return f.get();
}

std::optional<ProjectStatus> Orchestrator::status(const ProjectRef& project) {
    for (auto& s : snapshot())
        if (s.project == project) return s;
    return std::nullopt;
}

std::vector<std::string> Orchestrator::label_filters() const {
    return {std::string(kLabelManagedBy) + "=" + kManagedByValue,
            std::string(kLabelDaemon) + "=" + options_.daemon_id};
}

std::map<std::string, std::string> Orchestrator::network_labels(const ProjectRef& project) const {
    std::map<std::string, std::string> labels{{kLabelManagedBy, kManagedByValue},
                                              {kLabelDaemon, options_.daemon_id},
                                              {kLabelProject, project.address()}};
    for (const auto& [k, v] : options_.extra_labels) labels.emplace(k, v);
    return labels;
}

// ---------------------------------------------------------------------------------------------
// The state machine (loop thread only)

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
    e.checked = false;
    if (e.state == ProjectState::crash_looping || e.state == ProjectState::failed) {
        e.restarts.reset();
        e.backoff_attempt = 0;
    }
    progress(e);
}

// Moves a project that has nothing in flight towards what was asked of it.
void Orchestrator::progress(Entry& e) {
    if (e.busy || e.queued) return;
    if (e.want_stop) {
        if (e.state == ProjectState::running ||
            (!e.container_id.empty() && e.state != ProjectState::stopped)) {
            launch_stop(e, "stop requested");
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
                launch_stop(e, "replacing the container");
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
        case ProjectState::stopped:
        case ProjectState::failed:
        case ProjectState::crash_looping:
            e.force_replace = false;
            enqueue_start(e, false);
            return;
        case ProjectState::starting:
        case ProjectState::stopping:
            return;
    }
}

// Answers every waiter with the current status.
void Orchestrator::settle(Entry& e) {
    if (e.want_running && e.state != ProjectState::starting && e.state != ProjectState::stopping)
        e.want_running = false;
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

void Orchestrator::enqueue_start(Entry& e, bool is_restart) {
    e.state = ProjectState::starting;
    e.next_is_restart = is_restart;
    e.queued = true;
    start_queue_.push(e.ref.owner, e.key);
    pump_starts();
}

void Orchestrator::pump_starts() {
    while (starts_in_flight_ < options_.max_starts_in_flight && !start_queue_.empty()) {
        auto key = start_queue_.pop();
        auto it = entries_.find(*key);
        if (it == entries_.end()) continue;
        it->second->queued = false;
        launch_start(*it->second);
    }
}

void Orchestrator::launch_start(Entry& e) {
    auto policy = options_.policies(e.ref);
    if (!policy) {
        e.state = ProjectState::failed;
        e.last_error = "no policy: " + policy.error().message;
        spdlog::warn("orchestrator: {}: not started: {}", e.key, e.last_error);
        fail_waiters(e, e.last_error);
        settle(e);
        return;
    }
    e.busy = true;
    e.policy = *policy;
    ++starts_in_flight_;
    std::string old_id = e.container_id;
    submit([this, ref = e.ref, key = e.key, p = *policy, old_id] {
        auto outcome = do_start(ref, p, old_id);
        post([this, key, outcome = std::move(outcome)]() mutable {
            finish_start(key, std::move(outcome));
        });
    });
}

void Orchestrator::finish_start(const std::string& key, Result<StartOutcome> outcome) {
    --starts_in_flight_;
    pump_starts();
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    Entry& e = *it->second;
    e.busy = false;
    if (!outcome) {
        e.state = ProjectState::failed;
        e.container_id.clear();
        e.last_error = outcome.error().message;
        spdlog::warn("orchestrator: {}: start failed: {}", key, e.last_error);
        fail_waiters(e, e.last_error);
        settle(e);
        progress(e);
        return;
    }
    if (e.next_is_restart) ++e.restart_count;
    e.next_is_restart = false;
    e.state = ProjectState::running;
    e.container_id = outcome->id;
    e.container_name = outcome->name;
    e.digest = outcome->digest;
    e.started_at = outcome->started_at;
    // Our own clock for a start we just made (the engine's clock may differ from ours).
    e.started = outcome->adopted ? steady_from_engine(outcome->started_at, now()) : now();
    e.oom_seen = false;
    e.checked = true;
    e.last_error.clear();
    e.usage.reset();
    e.run_seq = ++run_seq_;
    spdlog::info("orchestrator: {}: running in {} ({}{})", key, outcome->name,
                 outcome->id.substr(0, 12), outcome->adopted ? ", adopted" : "");
    if (take_pending_die(e)) return;
    progress(e);
}

void Orchestrator::launch_stop(Entry& e, const std::string& why) {
    e.busy = true;
    e.state = ProjectState::stopping;
    int t = e.policy ? stop_seconds(*e.policy) : 30;
    std::string id = e.container_id;
    spdlog::info("orchestrator: {}: stopping {} ({})", e.key, id.substr(0, 12), why);
    const bool own_network = why != "replacing the container" && e.policy &&
                             (e.policy->network.mode == NetworkMode::isolated ||
                              e.policy->network.mode == NetworkMode::egress);
    submit([this, key = e.key, ref = e.ref, id, t, why, own_network] {
        docker::DStatus r = Unit{};
        if (!id.empty()) {
            r = engine_.stop(id, t);
            if (r) r = engine_.remove(id, true);
        }
        if (r && own_network) teardown_network(ref);
        post([this, key, id, why, r = std::move(r)]() mutable { finish_stop(key, id, why, std::move(r)); });
    });
}

void Orchestrator::finish_stop(const std::string& key, const std::string& container_id,
                               const std::string& why, docker::DStatus result) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    Entry& e = *it->second;
    e.busy = false;
    if (!result && !result.error().not_found()) {
        e.state = ProjectState::failed;
        e.last_error = "stop failed: " + result.error().describe();
        spdlog::warn("orchestrator: {}: {}", key, e.last_error);
        e.want_stop = false;
        fail_waiters(e, e.last_error);
        settle(e);
        return;
    }
    if (e.container_id == container_id) e.container_id.clear();
    e.state = ProjectState::stopped;
    e.usage.reset();
    if (why != "replacing the container" && why != "stop requested") e.last_error = why;
    if (e.want_stop) {
        e.want_stop = false;
        settle(e);
    }
    progress(e);
}

// A running project was triggered: is its container built from the current policy?
void Orchestrator::launch_check(Entry& e) {
    auto policy = options_.policies(e.ref);
    if (!policy) {
        e.checked = true;  // keep it running; reconcile decides about unknown projects
        progress(e);
        return;
    }
    e.checking = true;
    e.busy = true;
    submit([this, ref = e.ref, key = e.key, p = *policy, id = e.container_id] {
        std::optional<std::string> digest;
        auto dir = options_.workspace(ref);
        if (dir) {
            auto spec = build_sandbox_spec(p, spec_context(ref, *dir, SecretMode::redact));
            if (spec) digest = spec->digest;
        }
        post([this, key, id, digest, p] {
            auto it = entries_.find(key);
            if (it == entries_.end()) return;
            Entry& e = *it->second;
            e.checking = false;
            e.busy = false;
            e.checked = true;
            if (e.state == ProjectState::running && e.container_id == id && digest &&
                *digest != e.digest) {
                spdlog::info("orchestrator: {}: policy changed, replacing {}", key, id.substr(0, 12));
                e.force_replace = true;
                e.policy = p;
            }
            if (take_pending_die(e)) return;
            progress(e);
        });
    });
}

// The container died without being asked to: read how, then apply the restart policy.
void Orchestrator::launch_exit_inspect(Entry& e, std::optional<int> event_code) {
    e.busy = true;
    submit([this, key = e.key, id = e.container_id, event_code] {
        auto info = engine_.inspect(id);
        post([this, key, id, event_code, info = std::move(info)] {
            auto it = entries_.find(key);
            if (it == entries_.end()) return;
            Entry& e = *it->second;
            e.busy = false;
            if (e.container_id != id || e.state != ProjectState::running) {
                progress(e);
                return;
            }
            if (info && info->state.running) {  // restarted by someone else meanwhile
                progress(e);
                return;
            }
            std::optional<int> code = event_code;
            bool oom = e.oom_seen;
            if (info) {
                code = info->state.exit_code;
                oom = oom || info->state.oom_killed;
            }
            on_exited(e, code, oom);
        });
    });
}

void Orchestrator::on_exited(Entry& e, std::optional<int> exit_code, bool oom_killed) {
    const TimePoint t = now();
    const int code = exit_code.value_or(-1);
    e.last_exit_code = exit_code;
    e.last_exit_reason = exit_code ? classify_exit(code, oom_killed)
                                   : (oom_killed ? ExitReason::oom : ExitReason::killed);
    e.oom_seen = false;
    e.usage.reset();
    const Lifecycle lc = e.policy ? e.policy->lifecycle : Lifecycle{};
    if (t - e.started >= options_.stable_run) e.backoff_attempt = 0;
    std::string how = "exited with code " + (exit_code ? std::to_string(code) : std::string("?")) +
                      " (" + to_string(e.last_exit_reason) + ")";
    if (!should_restart(lc.restart, code, e.last_exit_reason)) {
        e.state = (code == 0 && e.last_exit_reason == ExitReason::exit) ? ProjectState::stopped
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

void Orchestrator::tick() {
    if (closing_) return;
    const TimePoint t = now();
    for (auto& [key, ep] : entries_) {
        Entry& e = *ep;
        if (e.busy || e.queued) continue;
        if (e.state == ProjectState::backing_off && t >= e.backoff_until) {
            e.restarts.record(t);
            enqueue_start(e, true);
            continue;
        }
        if (e.state != ProjectState::running || !e.policy) continue;
        const Lifecycle& lc = e.policy->lifecycle;
        if (lc.idle_timeout.count() > 0 && t - e.last_trigger >= lc.idle_timeout) {
            launch_stop(e, "idle timeout");
        } else if (lc.max_lifetime.count() > 0 && t - e.started >= lc.max_lifetime) {
            launch_stop(e, "maximum lifetime reached");
        }
    }
}

TimePoint Orchestrator::next_deadline() const {
    TimePoint next = TimePoint::max();
    for (const auto& [key, ep] : entries_) {
        const Entry& e = *ep;
        if (e.busy || e.queued) continue;
        if (e.state == ProjectState::backing_off) next = std::min(next, e.backoff_until);
        if (e.state != ProjectState::running || !e.policy) continue;
        const Lifecycle& lc = e.policy->lifecycle;
        if (lc.idle_timeout.count() > 0) next = std::min(next, e.last_trigger + lc.idle_timeout);
        if (lc.max_lifetime.count() > 0) next = std::min(next, e.started + lc.max_lifetime);
    }
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
    s.restart_count = e.restart_count;
    s.last_exit_code = e.last_exit_code;
    s.last_exit_reason = e.last_exit_reason;
    s.last_trigger_unix_ms = e.last_trigger_unix_ms;
    s.last_error = e.last_error;
    s.usage = e.usage;
    return s;
}

}  // namespace tenex::sandbox
