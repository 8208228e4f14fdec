// Reconcile: the orchestrator's view rebuilt from Docker's labels (at start-up and after every
// gap in the events stream).
#include <atomic>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

namespace {

std::string label_of(const docker::ContainerInfo& c, const char* key) {
    auto it = c.spec.labels.find(key);
    return it == c.spec.labels.end() ? std::string() : it->second;
}

}  // namespace

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
    std::set<std::string> seen;  // projects that have a container
    std::set<std::string> ids;   // every container of this daemon
    for (const auto& c : containers) {
        ids.insert(c.id);
        // The engine filtered by these; check again, never touch anything else.
        if (label_of(c, kLabelManagedBy) != kManagedByValue ||
            label_of(c, kLabelDaemon) != options_.daemon_id)
            continue;
        auto ref = parse_address(label_of(c, kLabelProject));
        Result<Policy> policy = ref ? options_.policies(*ref) : Result<Policy>(ref.error());
        if (!ref || !policy) {
            remove_leftover(c, ref, ref ? policy.error().message : "unreadable project label");
            continue;
        }
        Entry& e = entry(*ref);
        seen.insert(e.key);
        if (e.busy || e.queued || e.state == ProjectState::starting ||
            e.state == ProjectState::stopping)
            continue;  // an operation in flight knows better
        adopt(e, c, *policy, t);
    }
    // Tracked as running (or paused, or kept), but the container is gone.
    for (auto& [key, ep] : entries_) {
        Entry& e = *ep;
        if (e.busy || e.queued) continue;
        if (e.state == ProjectState::stopped && e.kept && !ids.count(e.container_id)) {
            spdlog::info("orchestrator: {}: kept container {} is gone", key,
                         e.container_id.substr(0, 12));
            set_kept(e, false);
            e.container_id.clear();
            continue;
        }
        if ((e.state == ProjectState::running || e.state == ProjectState::paused) &&
            !seen.count(key) && e.run_seq <= listed_at_seq) {
            spdlog::warn("orchestrator: {}: container {} disappeared", key,
                         e.container_id.substr(0, 12));
            e.container_id.clear();
            on_exited(e, std::nullopt, false);
        }
    }
    // Forget kept ids whose containers are gone (the list holds all of this daemon's).
    std::size_t before = kept_ids_.size();
    std::erase_if(kept_ids_, [&](const std::string& id) { return !ids.count(id); });
    if (kept_ids_.size() != before) save_kept();
}

// A container of a project the policy provider does not know (any more): stop and remove it.
void Orchestrator::remove_leftover(const docker::ContainerInfo& c, const Result<ProjectRef>& ref,
                                   const std::string& why) {
    spdlog::info("orchestrator: reconcile: removing {} ({}): project not known: {}", c.name,
                 c.id.substr(0, 12), why);
    std::optional<ProjectRef> project;
    if (ref) project = *ref;
    submit([this, id = c.id, running = c.state.running, paused = c.state.paused, project] {
        if (paused) (void)engine_.unpause(id);  // else the stop signal waits for the timeout
        if (running) (void)engine_.stop(id, 10);
        (void)engine_.remove(id, true);
        if (project) teardown_network(*project);
    });
}

// A project's container as the engine has it, for a project with nothing in flight: a running
// one is adopted, a paused one too (as paused), an exited one this daemon kept for a warm
// start (kept_file) is adopted as kept, another exited one gets the restart policy, a
// 'created' one left over by a start that died is removed after a grace period.
void Orchestrator::adopt(Entry& e, const docker::ContainerInfo& c, const Policy& policy,
                         TimePoint t) {
    const bool live = e.state == ProjectState::running || e.state == ProjectState::paused;
    if (c.state.running && e.container_id == c.id && live) {
        // Paused or unpaused by someone else meanwhile: the engine's word.
        if (c.state.paused && e.state == ProjectState::running) {
            e.state = ProjectState::paused;
        } else if (!c.state.paused && e.state == ProjectState::paused) {
            e.state = ProjectState::running;
            e.checked = false;
        }
        return;
    }
    if (!c.state.running && e.container_id == c.id && !live) return;  // known (kept, exited)
    if (!c.state.running && c.state.status == "created") {
        auto created = parse_rfc3339_ms(c.created);
        if (created && unix_ms_now() - *created < options_.created_grace.count()) return;
        submit([this, id = c.id] { (void)engine_.remove(id, true); });
        return;
    }
    if (e.kept && e.container_id != c.id) set_kept(e, false);
    e.container_id = c.id;
    e.container_name = c.name;
    e.digest = label_of(c, kLabelPolicyDigest);
    e.started_at = c.state.started_at;
    e.node = c.node();
    e.started = steady_from_engine(c.state.started_at, t);
    e.policy = policy;
    e.run_seq = ++run_seq_;
    if (!c.state.running && kept_ids_.count(c.id)) {
        // Stopped for idle by this daemon and kept: not a crash. Its keep_stopped counts from
        // when it stopped.
        e.state = ProjectState::stopped;
        e.kept = true;
        e.stopped_at = steady_from_engine(c.state.finished_at, t);
        e.last_wake = "adopted";
        spdlog::info("orchestrator: {}: adopted kept {} ({})", e.key, c.name, c.id.substr(0, 12));
        return;
    }
    if (e.kept) set_kept(e, false);
    e.state = c.state.paused ? ProjectState::paused : ProjectState::running;
    if (!c.state.running) {
        // Exited while nobody watched: as if the die event had been seen now.
        on_exited(e, c.state.exit_code, c.state.oom_killed);
        return;
    }
    // Adoption restarts the idle clock; a paused one's as if it had paused just now (the
    // engine does not tell when it did), so its idle stop comes idle_timeout - pause_after on.
    e.last_trigger = c.state.paused ? t - policy.lifecycle.pause_after : t;
    e.last_wake = "adopted";
    e.checked = false;
    spdlog::info("orchestrator: {}: adopted {} {} ({})", e.key,
                 c.state.paused ? "paused" : "running", c.name, c.id.substr(0, 12));
    if (policy.network.mode == NetworkMode::isolated || policy.network.mode == NetworkMode::egress)
        submit([this, ref = e.ref, p = policy] { reenforce_network(ref, p); });
    if (policy.lifecycle.on_policy_change == PolicyChange::immediately) {
        e.want_running = true;  // checks the digest and replaces a stale container
        progress(e);
    }
}

}  // namespace tenex::sandbox
