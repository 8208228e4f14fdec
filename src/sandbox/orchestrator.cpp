#include "sandbox/orchestrator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

namespace tenex::sandbox {
namespace {

constexpr auto kMaxIdleWait = std::chrono::milliseconds(100);

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// "2026-11-27T23:59:01.123456789Z" -> unix milliseconds; nullopt for anything else (and for
// the engine's "never" value 0001-01-01T00:00:00Z).
std::optional<std::int64_t> parse_rfc3339_ms(const std::string& text) {
    std::tm tm{};
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &year, &month, &day, &hour, &minute,
                    &second) != 6 ||
        year < 1970)
        return std::nullopt;
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    std::int64_t ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
    if (text.size() > 20 && text[19] == '.') {
        int scale = 100;
        for (std::size_t i = 20; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && scale > 0;
             ++i, scale /= 10)
            ms += (text[i] - '0') * scale;
    }
    return ms;
}

// The steady-clock moment matching an engine timestamp (for lifetime and stable-run checks).
TimePoint steady_from_engine(const std::string& started_at, TimePoint now) {
    auto ms = parse_rfc3339_ms(started_at);
    if (!ms) return now;
    auto age = std::chrono::milliseconds(std::max<std::int64_t>(0, unix_ms_now() - *ms));
    return now - age;
}

int stop_seconds(const Policy& policy) {
    return static_cast<int>((policy.lifecycle.stop_timeout.count() + 999) / 1000);
}

}  // namespace

struct Orchestrator::Entry {
    ProjectRef ref{};
    std::string key{};
    ProjectState state = ProjectState::stopped;
    std::string container_id{};
    std::string container_name{};
    std::string digest{};
    std::string started_at{};
    TimePoint started{};
    int restart_count = 0;
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
    bool busy = false;      // a start, stop or exit inspection is in flight
    bool queued = false;    // waiting in the start queue
    bool checking = false;  // a digest check is in flight
    bool checked = false;   // the digest was checked since the last trigger
    bool oom_seen = false;
    bool want_running = false;
    bool want_stop = false;
    bool force_replace = false;
    bool next_is_restart = false;
    std::uint64_t run_seq = 0;  // orchestrator-wide order of the starts and adoptions
    bool died = false;          // a die event came while an operation was in flight
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
    bool adopted = false;
};

// ---------------------------------------------------------------------------------------------
// Threads

Orchestrator::Orchestrator(OrchestratorOptions options, Engine& engine)
    : options_(std::move(options)), engine_(engine), rng_(std::random_device{}()) {
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

void Orchestrator::post(std::function<void()> message) {
    {
        std::lock_guard lock(inbox_mu_);
        if (loop_stop_) return;
        inbox_.push_back(std::move(message));
    }
    inbox_cv_.notify_one();
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

void Orchestrator::submit(std::function<void()> job) {
    {
        std::lock_guard lock(jobs_mu_);
        if (jobs_stop_) return;
        jobs_.push_back(std::move(job));
    }
    jobs_cv_.notify_one();
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
    {
        std::lock_guard lock(inbox_mu_);
        if (loop_stop_) {
            waiter->set_value(make_error("the orchestrator is shut down"));
            return future;
        }
    }
    post([this, project, waiter] {
        if (closing_) {
            waiter->set_value(make_error("the orchestrator is shutting down"));
            return;
        }
        Entry& e = entry(project);
        e.waiters.push_back(std::move(*waiter));
        trigger(e);
    });
    return future;
}

void Orchestrator::touch(const ProjectRef& project) {
    post([this, project] {
        Entry& e = entry(project);
        e.last_trigger = now();
        e.last_trigger_unix_ms = unix_ms_now();
    });
}

StatusFuture Orchestrator::stop(const ProjectRef& project) {
    auto waiter = std::make_shared<Waiter>();
    auto future = waiter->get_future();
    {
        std::lock_guard lock(inbox_mu_);
        if (loop_stop_) {
            waiter->set_value(make_error("the orchestrator is shut down"));
            return future;
        }
    }
    post([this, project, waiter] {
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
    });
    return future;
}

StatusFuture Orchestrator::restart(const ProjectRef& project) {
    auto waiter = std::make_shared<Waiter>();
    auto future = waiter->get_future();
    {
        std::lock_guard lock(inbox_mu_);
        if (loop_stop_) {
            waiter->set_value(make_error("the orchestrator is shut down"));
            return future;
        }
    }
    post([this, project, waiter] {
        if (closing_) {
            waiter->set_value(make_error("the orchestrator is shutting down"));
            return;
        }
        Entry& e = entry(project);
        e.waiters.push_back(std::move(*waiter));
        e.force_replace = true;
        e.restart_count = 0;
        trigger(e);
    });
    return future;
}

std::vector<ProjectStatus> Orchestrator::snapshot() {
    auto p = std::make_shared<std::promise<std::vector<ProjectStatus>>>();
    auto f = p->get_future();
    {
        std::lock_guard lock(inbox_mu_);
        if (loop_stop_) return {};
    }
    post([this, p] {
        std::vector<ProjectStatus> out;
        out.reserve(entries_.size());
        for (const auto& [key, e] : entries_) out.push_back(status_of(*e));
        p->set_value(std::move(out));
    });
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
    submit([this, key = e.key, id, t, why] {
        docker::DStatus r = Unit{};
        if (!id.empty()) {
            r = engine_.stop(id, t);
            if (r) r = engine_.remove(id, true);
        }
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
            SpecContext ctx{.project = ref, .naddr = {}, .project_dir = *dir,
                            .daemon_id = options_.daemon_id, .secrets = SecretMode::redact};
            auto spec = build_sandbox_spec(p, ctx);
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

// ---------------------------------------------------------------------------------------------
// Engine events and reconcile

void Orchestrator::on_engine_event(const docker::Event& event) {
    post([this, event] {
        if (closing_) return;
        auto it = entries_.find(event.attribute(kLabelProject));
        if (it == entries_.end()) return;
        Entry& e = *it->second;
        // During a start the id is not known yet: remember what died, match it later.
        if (event.id != e.container_id && !(e.busy && e.state == ProjectState::starting)) return;
        if (event.kind == docker::EventKind::Oom) {
            e.oom_seen = true;
        } else if (event.kind == docker::EventKind::Die ||
                   event.kind == docker::EventKind::Destroy) {
            if (e.state == ProjectState::running && !e.busy) {
                launch_exit_inspect(e, event.exit_code);
            } else if (e.busy && e.state != ProjectState::stopping) {
                // A start or a check is in flight: look at it once that is back.
                e.died = true;
                e.died_id = event.id;
                e.died_code = event.exit_code;
            }
        }
    });
}

bool Orchestrator::take_pending_die(Entry& e) {
    if (!e.died) return false;
    e.died = false;
    if (e.died_id != e.container_id || e.state != ProjectState::running) return false;
    launch_exit_inspect(e, e.died_code);
    return true;
}

void Orchestrator::on_events_gap() {
    spdlog::info("orchestrator: gap in the engine's events: reconciling");
    (void)reconcile();
}

std::future<Status> Orchestrator::reconcile() {
    auto done = std::make_shared<std::promise<Status>>();
    auto future = done->get_future();
    {
        std::lock_guard lock(inbox_mu_);
        if (loop_stop_) {
            done->set_value(make_error("the orchestrator is shut down"));
            return future;
        }
    }
    submit([this, done] {
        const std::uint64_t seq = run_seq_.load();
        docker::ListOptions list{.all = true, .labels = label_filters(), .names = {}};
        auto found = engine_.list(list);
        if (!found) {
            done->set_value(make_error("reconcile: " + found.error().describe()));
            return;
        }
        // Inspect in a few threads: the list lacks StartedAt, exit codes and OOM flags.
        std::vector<docker::ContainerInfo> infos(found->size());
        std::vector<char> ok(found->size(), 0);
        std::atomic<std::size_t> next{0};
        auto inspect_some = [&] {
            for (std::size_t i = next++; i < found->size(); i = next++) {
                auto info = engine_.inspect((*found)[i].id);
                if (info) {
                    infos[i] = std::move(*info);
                    ok[i] = 1;
                }
            }
        };
        std::vector<std::thread> helpers;
        for (int i = 0; i < 3; ++i) helpers.emplace_back(inspect_some);
        inspect_some();
        for (auto& h : helpers) h.join();
        std::vector<docker::ContainerInfo> containers;
        for (std::size_t i = 0; i < infos.size(); ++i)
            if (ok[i]) containers.push_back(std::move(infos[i]));
        post([this, done, seq, containers = std::move(containers)]() mutable {
            apply_reconcile(std::move(containers), seq);
            done->set_value(Unit{});
        });
    });
    return future;
}

void Orchestrator::apply_reconcile(std::vector<docker::ContainerInfo> containers,
                                   std::uint64_t listed_at_seq) {
    if (closing_) return;
    const TimePoint t = now();
    std::map<std::string, bool> seen;  // project key -> has a container
    for (auto& c : containers) {
        const auto& labels = c.spec.labels;
        auto label = [&](const char* k) {
            auto it = labels.find(k);
            return it == labels.end() ? std::string() : it->second;
        };
        // The engine filtered by these; check again, never touch anything else.
        if (label(kLabelManagedBy) != kManagedByValue || label(kLabelDaemon) != options_.daemon_id)
            continue;
        auto ref = parse_address(label(kLabelProject));
        Result<Policy> policy = ref ? options_.policies(*ref) : Result<Policy>(ref.error());
        if (!ref || !policy) {
            std::string why = ref ? policy.error().message : "unreadable project label";
            spdlog::info("orchestrator: reconcile: removing {} ({}): project not known: {}", c.name,
                         c.id.substr(0, 12), why);
            submit([this, id = c.id, running = c.state.running] {
                if (running) (void)engine_.stop(id, 10);
                (void)engine_.remove(id, true);
            });
            continue;
        }
        Entry& e = entry(*ref);
        seen[e.key] = true;
        if (e.busy || e.queued || e.state == ProjectState::starting ||
            e.state == ProjectState::stopping)
            continue;  // an operation in flight knows better
        if (c.state.running) {
            if (e.container_id == c.id && e.state == ProjectState::running) continue;
            e.state = ProjectState::running;
            e.container_id = c.id;
            e.container_name = c.name;
            e.digest = label(kLabelPolicyDigest);
            e.started_at = c.state.started_at;
            e.started = steady_from_engine(c.state.started_at, t);
            e.policy = *policy;
            e.last_trigger = t;  // adoption restarts the idle clock
            e.checked = false;
            e.run_seq = ++run_seq_;
            spdlog::info("orchestrator: {}: adopted running {} ({})", e.key, c.name, c.id.substr(0, 12));
            if (options_.replace_stale_immediately) {
                e.want_running = true;  // checks the digest and replaces a stale container
                progress(e);
            }
            continue;
        }
        if (e.container_id == c.id && e.state != ProjectState::running) continue;  // known
        if (c.state.status == "created") {
            auto created = parse_rfc3339_ms(c.created);
            if (created && unix_ms_now() - *created < options_.created_grace.count()) continue;
            submit([this, id = c.id] { (void)engine_.remove(id, true); });
            continue;
        }
        // Exited while nobody watched: as if the die event had been seen now.
        e.container_id = c.id;
        e.container_name = c.name;
        e.digest = label(kLabelPolicyDigest);
        e.started_at = c.state.started_at;
        e.started = steady_from_engine(c.state.started_at, t);
        e.policy = *policy;
        e.state = ProjectState::running;
        e.run_seq = ++run_seq_;
        on_exited(e, c.state.exit_code, c.state.oom_killed);
    }
    // Tracked as running, but the container is gone.
    for (auto& [key, ep] : entries_) {
        Entry& e = *ep;
        if (e.state == ProjectState::running && !e.busy && !seen.count(key) &&
            e.run_seq <= listed_at_seq) {
            spdlog::warn("orchestrator: {}: container {} disappeared", key, e.container_id.substr(0, 12));
            e.container_id.clear();
            on_exited(e, std::nullopt, false);
        }
    }
}

std::future<Status> Orchestrator::refresh_usage() {
    auto done = std::make_shared<std::promise<Status>>();
    auto future = done->get_future();
    {
        std::lock_guard lock(inbox_mu_);
        if (loop_stop_) {
            done->set_value(make_error("the orchestrator is shut down"));
            return future;
        }
    }
    post([this, done] {
        std::vector<std::pair<std::string, std::string>> running;  // key, container id
        for (auto& [key, e] : entries_)
            if (e->state == ProjectState::running) running.emplace_back(key, e->container_id);
        submit([this, done, running] {
            std::vector<std::future<docker::DResult<docker::ContainerStats>>> stats;
            for (const auto& r : running)
                stats.push_back(std::async(std::launch::async, [this, id = r.second] { return engine_.stats(id); }));
            std::vector<std::pair<std::size_t, ProjectUsage>> got;
            std::string errors;
            for (std::size_t i = 0; i < stats.size(); ++i) {
                auto s = stats[i].get();
                if (!s) {
                    errors += (errors.empty() ? "" : "; ") + s.error().describe();
                    continue;
                }
                got.emplace_back(i, ProjectUsage{.cpu_percent = s->cpu_percent,
                                                 .memory_used = s->memory_usage,
                                                 .memory_limit = s->memory_limit,
                                                 .pids = s->pids,
                                                 .sampled_at_unix = unix_ms_now() / 1000});
            }
            post([this, done, running, got, errors] {
                for (const auto& [i, usage] : got) {
                    auto it = entries_.find(running[i].first);
                    if (it != entries_.end() && it->second->container_id == running[i].second)
                        it->second->usage = usage;
                }
                if (errors.empty())
                    done->set_value(Unit{});
                else
                    done->set_value(make_error("stats: " + errors));
            });
        });
    });
    return future;
}

// ---------------------------------------------------------------------------------------------
// Worker side

Result<Orchestrator::StartOutcome> Orchestrator::do_start(const ProjectRef& project,
                                                          const Policy& policy,
                                                          const std::string& old_id) {
    if (!old_id.empty()) (void)engine_.remove(old_id, true);
    auto dir = options_.workspace(project);
    if (!dir) return make_error("workspace: " + dir.error().message);
    SpecContext ctx{.project = project, .naddr = {}, .project_dir = *dir,
                    .daemon_id = options_.daemon_id, .secrets = SecretMode::read};
    auto spec = build_sandbox_spec(policy, ctx);
    if (!spec) return make_error("container spec: " + spec.error().message);
    for (const auto& [k, v] : options_.extra_labels) spec->container.labels.emplace(k, v);
    if (!spec->network.network_name.empty()) {
        auto net = engine_.ensure_network(spec->network, network_labels(project));
        if (!net) return make_error("network: " + net.error().describe());
    }
    const std::string& name = spec->container.name;
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto id = engine_.create(spec->container);
        if (id) {
            auto started = engine_.start(*id);
            if (!started) {
                (void)engine_.remove(*id, true);
                return make_error(started.error().describe());
            }
            auto info = engine_.inspect(*id);
            return StartOutcome{.id = *id, .name = name, .digest = spec->digest,
                                .started_at = info ? info->state.started_at : std::string(),
                                .adopted = false};
        }
        if (!id.error().conflict()) return make_error(id.error().describe());
        // The name is taken: by our own container (another trigger path, another process
        // of this daemon), or by something we must not touch.
        auto existing = engine_.inspect(name);
        if (!existing) {
            if (existing.error().not_found()) continue;  // removed meanwhile: try again
            return make_error(existing.error().describe());
        }
        const auto& labels = existing->spec.labels;
        auto label = [&](const char* k) {
            auto it = labels.find(k);
            return it == labels.end() ? std::string() : it->second;
        };
        if (label(kLabelManagedBy) != kManagedByValue || label(kLabelDaemon) != options_.daemon_id ||
            label(kLabelProject) != project.address())
            return make_error("the container name " + name +
                              " is taken by a container this daemon does not manage");
        const bool current = label(kLabelPolicyDigest) == spec->digest;
        if (current && existing->state.running)
            return StartOutcome{.id = existing->id, .name = name, .digest = spec->digest,
                                .started_at = existing->state.started_at, .adopted = true};
        if (current && existing->state.status == "created") {
            auto started = engine_.start(existing->id);
            if (started) {
                auto info = engine_.inspect(existing->id);
                return StartOutcome{.id = existing->id, .name = name, .digest = spec->digest,
                                    .started_at = info ? info->state.started_at : std::string(),
                                    .adopted = true};
            }
        }
        if (existing->state.running)
            (void)engine_.stop(existing->id, stop_seconds(policy));
        (void)engine_.remove(existing->id, true);
    }
    return make_error("could not claim the container name " + name);
}

// ---------------------------------------------------------------------------------------------
// Shutdown

void Orchestrator::shutdown(bool stop_projects) {
    std::lock_guard guard(shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    // Collect what runs (and stop starting anything new) on the loop thread.
    struct Victim {
        std::string key, id;
        int timeout_s = 0;
    };
    auto collected = std::make_shared<std::promise<std::vector<Victim>>>();
    auto victims_future = collected->get_future();
    post([this, collected] {
        closing_ = true;
        std::vector<Victim> victims;
        for (auto& [key, e] : entries_) {
            fail_waiters(*e, "the orchestrator is shutting down");
            for (auto& w : e->stop_waiters) w.set_value(make_error("the orchestrator is shutting down"));
            e->stop_waiters.clear();
            if (!e->container_id.empty() &&
                (e->state == ProjectState::running || e->state == ProjectState::stopping))
                victims.push_back({key, e->container_id, e->policy ? stop_seconds(*e->policy) : 30});
        }
        while (start_queue_.pop()) {}
        collected->set_value(std::move(victims));
    });
    std::vector<Victim> victims;
    if (victims_future.wait_for(std::chrono::seconds(30)) == std::future_status::ready)
        victims = victims_future.get();
    if (stop_projects) {
        spdlog::info("orchestrator: stopping {} project containers", victims.size());
        std::vector<std::future<void>> stops;
        for (const auto& v : victims)
            stops.push_back(std::async(std::launch::async, [this, v] {
                auto r = engine_.stop(v.id, v.timeout_s);
                if (r) r = engine_.remove(v.id, true);
                if (!r) spdlog::warn("orchestrator: {}: stop at shutdown: {}", v.key, r.error().describe());
            }));
        for (auto& s : stops) s.wait();
    } else {
        spdlog::info("orchestrator: leaving {} project containers running", victims.size());
    }
    {
        std::lock_guard lock(jobs_mu_);
        jobs_stop_ = true;
        jobs_.clear();
    }
    jobs_cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    {
        std::lock_guard lock(inbox_mu_);
        loop_stop_ = true;
    }
    inbox_cv_.notify_all();
    loop_.join();
    // Anything still waiting (messages dropped with the loop) gets an answer.
    for (auto& [key, e] : entries_) {
        fail_waiters(*e, "the orchestrator is shut down");
        for (auto& w : e->stop_waiters) w.set_value(make_error("the orchestrator is shut down"));
        e->stop_waiters.clear();
    }
}

// ---------------------------------------------------------------------------------------------
// Events feed

OrchestratorEvents::OrchestratorEvents(const docker::Client& client, Orchestrator& orchestrator)
    : orchestrator_(orchestrator) {
    docker::EventStreamOptions options;
    options.filter.labels = orchestrator.label_filters();
    options.filter.actions = {"start", "die", "oom", "destroy"};
    docker::EventHandlers handlers;
    handlers.on_event = [this](const docker::Event& e) { orchestrator_.on_engine_event(e); };
    handlers.on_connected = [this] {
        {
            std::lock_guard lock(mu_);
            connected_ = true;
        }
        cv_.notify_all();
    };
    handlers.on_gap = [this](const docker::EventGap&) { orchestrator_.on_events_gap(); };
    stream_ = std::make_unique<docker::EventStream>(client, std::move(options), std::move(handlers));
}

bool OrchestratorEvents::start(std::chrono::milliseconds wait) {
    stream_->start();
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, wait, [this] { return connected_; });
}

void OrchestratorEvents::stop() {
    if (stream_) stream_->stop();
}

}  // namespace tenex::sandbox
