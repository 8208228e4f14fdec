// The orchestrator's view of the engine: its events, reconcile, resource usage.
#include <atomic>
#include <thread>

#include <spdlog/spdlog.h>

#include <algorithm>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

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
    bool submitted = submit([this, done] {
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
        enforcer_->remove_stale_rules();
        post([this, done, seq, containers = std::move(containers)]() mutable {
            apply_reconcile(std::move(containers), seq);
            done->set_value(Unit{});
        });
    });
    if (!submitted) done->set_value(make_error("the orchestrator is shut down"));
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
            submit([this, id = c.id, running = c.state.running, ref] {
                if (running) (void)engine_.stop(id, 10);
                (void)engine_.remove(id, true);
                if (ref) teardown_network(*ref);
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
            if (policy->network.mode == NetworkMode::isolated ||
                policy->network.mode == NetworkMode::egress)
                submit([this, ref = *ref, p = *policy] { reenforce_network(ref, p); });
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
    bool posted = post([this, done] {
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
    if (!posted) done->set_value(make_error("the orchestrator is shut down"));
    return future;
}

}  // namespace tenex::sandbox
