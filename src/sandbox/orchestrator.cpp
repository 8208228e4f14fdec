// The orchestrator's owner thread and worker pool (inboxes, message loop), and the public
// requests, each of which is a message handled on the owner thread.
#include "sandbox/orchestrator.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {
namespace {

constexpr auto kMaxIdleWait = std::chrono::milliseconds(100);

}  // namespace

using namespace detail;

// ---------------------------------------------------------------------------------------------
// Threads

Orchestrator::Orchestrator(OrchestratorOptions options, Engine& engine)
    : options_(std::move(options)),
      relays_(options_.relays),
      engine_(engine),
      enforcer_(options_.network_enforcer),
      rng_(std::random_device{}()) {
    if (!enforcer_) enforcer_ = std::make_shared<hostnet::HostNetworkEnforcer>();
    if (!options_.clock) options_.clock = [] { return Clock::now(); };
    if (!options_.random) {
        options_.random = [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); };
    }
    options_.max_starts_in_flight = std::max(1, options_.max_starts_in_flight);
    if (!options_.kept_file.empty()) {
        std::ifstream in(options_.kept_file);
        for (std::string id; std::getline(in, id);)
            if (!id.empty()) kept_ids_.insert(id);
    }
    const int workers = std::max(options_.workers, options_.max_starts_in_flight + 2);
    workers_ =
        std::make_unique<WorkerPool>("orchestrator", static_cast<std::size_t>(workers),
                                     std::vector<WorkerPool::Lane>{{.name = "Docker engine"}});
    loop_ = std::thread([this] { run_loop(); });
}

Orchestrator::~Orchestrator() {
    shutdown(false);
}

bool Orchestrator::post(std::function<void()> message) {
    return inbox_.push(std::move(message));
}

void Orchestrator::run_loop() {
    for (;;) {
        // The timers are checked at the next deadline, or after kMaxIdleWait at the latest
        // (options_.clock may be a test's clock that real time does not move).
        const auto wait = std::clamp(
            std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline() - now()),
            std::chrono::milliseconds(0), kMaxIdleWait);
        // After shutdown closed the inbox, what was queued still runs; then the loop ends.
        auto batch = inbox_.pop_all(std::chrono::steady_clock::now() + wait);
        if (!batch) return;
        for (auto& message : *batch) inbox_.deliver("message", message);
        inbox_.deliver("timer check", [this] { tick(); });
    }
}

bool Orchestrator::submit(std::function<void()> job) {
    return workers_->submit(0, std::move(job));
}

std::uint64_t Orchestrator::loop_failures() const {
    return inbox_.failures() + workers_->failures();
}

TimePoint Orchestrator::now() const {
    return options_.clock();
}

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
    return stop_or_forget(project, false);
}

StatusFuture Orchestrator::forget(const ProjectRef& project) {
    return stop_or_forget(project, true);
}

StatusFuture Orchestrator::stop_or_forget(const ProjectRef& project, bool forget) {
    auto waiter = std::make_shared<Waiter>();
    auto future = waiter->get_future();
    if (!post([this, project, waiter, forget] {
            if (forget && !entries_.count(project.address())) {
                waiter->set_value(make_error("unknown project " + project.address()));
                return;
            }
            Entry& e = entry(project);
            e.forget = forget;
            e.stop_waiters.push_back(std::move(*waiter));
            e.want_stop = true;
            e.want_running = false;
            fail_waiters(e, "stopped by request");
            if (e.queued) {
                start_queue_.remove(e.key);
                e.queued = false;
                e.state =
                    e.container_id.empty() || e.kept ? ProjectState::stopped : ProjectState::failed;
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

void Orchestrator::policies_changed() {
    post([this] {
        if (closing_) return;
        for (auto& [key, e] : entries_) {
            e->policy_reload = true;
            progress(*e);  // or once what is in flight is done
        }
    });
}

void Orchestrator::remove_oldest_kept() {
    post([this] {
        if (closing_) return;
        Entry* oldest = nullptr;
        for (auto& [key, e] : entries_)
            if (e->kept && e->state == ProjectState::stopped && !e->busy && !e->queued &&
                (!oldest || e->stopped_at < oldest->stopped_at))
                oldest = e.get();
        if (oldest) launch_remove_kept(*oldest, StopReason::disk_pressure);
    });
}

void Orchestrator::set_relays(std::vector<std::string> urls) {
    MutexLock lock(relays_mu_);
    relays_ = std::move(urls);
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

}  // namespace tenex::sandbox
