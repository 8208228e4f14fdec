// The orchestrator's blocking work (claiming the container name, creating, starting),
// shutdown, and the /events feed.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

// ---------------------------------------------------------------------------------------------
// Worker side

Result<Orchestrator::StartOutcome> Orchestrator::do_start(const ProjectRef& project,
                                                          const Policy& policy,
                                                          const std::string& old_id) {
    if (!old_id.empty()) (void)engine_.remove(old_id, true);
    auto dir = options_.workspace(project);
    if (!dir) return make_error("workspace: " + dir.error().message);
    auto spec = build_sandbox_spec(policy, spec_context(project, *dir, SecretMode::read));
    if (!spec) return make_error("container spec: " + spec.error().message);
    for (const auto& [k, v] : options_.extra_labels) spec->container.labels.emplace(k, v);
    if (!spec->network.network_name.empty()) {
        auto hosts = prepare_network(project, spec->network);
        if (!hosts) return make_error("network: " + hosts.error().message);
        for (auto& h : *hosts) spec->container.extra_hosts.push_back(std::move(h));
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
