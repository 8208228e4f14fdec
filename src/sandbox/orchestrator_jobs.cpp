// The orchestrator's Engine jobs as seen from the owner thread: each launch_* marks the project
// busy and submits blocking work to the worker pool; the worker posts the result back, and the
// matching finish_* (or the posted lambda) applies it on the owner thread.
#include <spdlog/spdlog.h>

#include <fstream>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

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
    const bool warm = e.warm_ok && e.kept;
    e.warm_ok = false;
    submit([this, ref = e.ref, key = e.key, p = *policy, old_id, warm] {
        auto outcome = do_start(ref, p, old_id, warm);
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
    if (e.kept) set_kept(e, false);  // started again, or removed by the start
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
    e.node = outcome->node;
    // Our own clock for a start we just made (the engine's clock may differ from ours).
    e.started = outcome->adopted ? steady_from_engine(outcome->started_at, now()) : now();
    e.oom_seen = false;
    e.kill_seen = false;
    e.checked = true;
    e.last_error.clear();
    e.usage.reset();
    e.run_seq = ++run_seq_;
    e.last_wake = outcome->warm ? "warm" : outcome->adopted ? "adopted" : "create";
    spdlog::info("orchestrator: {}: running in {} ({}{})", key, outcome->name,
                 outcome->id.substr(0, 12),
                 outcome->warm      ? ", kept container started again"
                 : outcome->adopted ? ", adopted"
                                    : "");
    if (take_pending_die(e)) return;
    progress(e);
}

void Orchestrator::launch_stop(Entry& e, StopReason why, bool keep) {
    e.busy = true;
    const bool paused = e.state == ProjectState::paused;
    e.state = ProjectState::stopping;
    int t = e.policy ? stop_seconds(*e.policy) : 30;
    std::string id = e.container_id;
    keep = keep && !id.empty();
    spdlog::info("orchestrator: {}: stopping {} ({}{}{})", e.key, id.substr(0, 12), to_string(why),
                 paused ? ", paused: unpaused first" : "", keep ? ", container kept" : "");
    const bool own_network = why != StopReason::replacing && e.policy &&
                             (e.policy->network.mode == NetworkMode::isolated ||
                              e.policy->network.mode == NetworkMode::egress);
    submit([this, key = e.key, ref = e.ref, id, t, why, own_network, paused, keep] {
        docker::DStatus r = Unit{};
        if (!id.empty()) {
            // A frozen process cannot take the stop signal: the engine would wait the whole
            // timeout and SIGKILL it. Thawed, it stops gracefully.
            if (paused) (void)engine_.unpause(id);
            r = engine_.stop(id, t);
            if (r && !keep) r = engine_.remove(id, true);
        }
        if (r && own_network) {
            if (keep)  // the network stays with the kept container; its forwarders do not
                enforcer_->stop_forwarders(ref.address());
            else
                teardown_network(ref);
        }
        post([this, key, id, why, keep, r = std::move(r)]() mutable {
            finish_stop(key, id, why, keep, std::move(r));
        });
    });
}

void Orchestrator::finish_stop(const std::string& key, const std::string& container_id,
                               StopReason why, bool keep, docker::DStatus result) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    Entry& e = *it->second;
    e.busy = false;
    if (!result && !result.error().not_found()) {
        e.state = ProjectState::failed;
        e.last_error = "stop failed: " + result.error().describe();
        spdlog::warn("orchestrator: {}: {}", key, e.last_error);
        e.want_stop = false;
        e.forget = false;  // it still has its container
        fail_waiters(e, e.last_error);
        settle(e);
        return;
    }
    e.state = ProjectState::stopped;
    if (keep && result && e.container_id == container_id) {
        e.stopped_at = now();
        set_kept(e, true);
    } else if (e.container_id == container_id) {
        e.container_id.clear();
    }
    e.usage.reset();
    if (why != StopReason::replacing && why != StopReason::requested) e.last_error = to_string(why);
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
            if ((e.state == ProjectState::running || e.state == ProjectState::paused) &&
                e.container_id == id && digest) {
                if (*digest != e.digest) {
                    // Stopped with its own stop timeout; the start reads the new policy.
                    spdlog::info("orchestrator: {}: policy changed, replacing {}", key,
                                 id.substr(0, 12));
                    e.force_replace = true;
                } else {
                    e.policy = p;  // same container, current lifecycle settings
                }
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
            if (e.container_id != id ||
                (e.state != ProjectState::running && e.state != ProjectState::paused)) {
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

}  // namespace tenex::sandbox

namespace tenex::sandbox {

using namespace detail;

void Orchestrator::launch_pause(Entry& e) {
    e.busy = true;
    spdlog::info(
        "orchestrator: {}: pausing {} (no trigger for {} ms)", e.key, e.container_id.substr(0, 12),
        std::chrono::duration_cast<std::chrono::milliseconds>(now() - e.last_trigger).count());
    submit([this, key = e.key, id = e.container_id] {
        auto r = engine_.pause(id);
        post([this, key, id, r = std::move(r)] {
            auto it = entries_.find(key);
            if (it == entries_.end()) return;
            Entry& e = *it->second;
            e.busy = false;
            if (!r) {
                // Not tried again before the next trigger (the runtime may not support it).
                e.pause_refused = true;
                spdlog::warn("orchestrator: {}: pause refused: {}", key, r.error().describe());
            } else if (e.container_id == id && e.state == ProjectState::running) {
                e.state = ProjectState::paused;
                e.usage.reset();
            }
            if (take_pending_die(e)) return;
            progress(e);
        });
    });
}

void Orchestrator::launch_unpause(Entry& e) {
    e.busy = true;
    submit([this, key = e.key, id = e.container_id] {
        const auto began = Clock::now();
        auto r = engine_.unpause(id);
        bool running = static_cast<bool>(r);
        std::string error;
        if (!r) {
            // Unpaused by someone else meanwhile (409) is fine; anything else: a new container.
            auto info = engine_.inspect(id);
            if (info && info->state.running && !info->state.paused) {
                running = true;
            } else {
                error = r.error().describe();
                if (info) (void)engine_.remove(id, true);
            }
        }
        const auto took =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - began);
        post([this, key, id, running, error, took] {
            auto it = entries_.find(key);
            if (it == entries_.end()) return;
            Entry& e = *it->second;
            e.busy = false;
            if (e.container_id == id && e.state == ProjectState::paused) {
                if (running) {
                    e.state = ProjectState::running;
                    e.checked = false;  // the trigger's digest check comes next
                    e.last_wake = "unpause";
                    spdlog::info("orchestrator: {}: unpaused {} in {} us", key, id.substr(0, 12),
                                 took.count());
                } else {
                    e.state = ProjectState::stopped;
                    e.container_id.clear();
                    e.last_error = "unpause failed: " + error;
                    spdlog::warn("orchestrator: {}: {}; starting a new container", key,
                                 e.last_error);
                }
            }
            if (take_pending_die(e)) return;
            progress(e);
        });
    });
}

void Orchestrator::launch_remove_kept(Entry& e, StopReason why) {
    e.busy = true;
    const bool own_network = e.policy && (e.policy->network.mode == NetworkMode::isolated ||
                                          e.policy->network.mode == NetworkMode::egress);
    spdlog::info("orchestrator: {}: removing the kept container {} ({})", e.key,
                 e.container_id.substr(0, 12), to_string(why));
    submit([this, key = e.key, ref = e.ref, id = e.container_id, own_network] {
        auto r = engine_.remove(id, true);
        if (r && own_network) teardown_network(ref);
        post([this, key, id, r = std::move(r)] {
            auto it = entries_.find(key);
            if (it == entries_.end()) return;
            Entry& e = *it->second;
            e.busy = false;
            if (!r)
                spdlog::warn("orchestrator: {}: removing {}: {}", key, id.substr(0, 12),
                             r.error().describe());
            if (e.container_id == id && e.kept) {
                set_kept(e, false);
                e.container_id.clear();
            }
            progress(e);
        });
    });
}

void Orchestrator::set_kept(Entry& e, bool kept) {
    e.kept = kept;
    if (e.container_id.empty()) return;
    const bool changed =
        kept ? kept_ids_.insert(e.container_id).second : kept_ids_.erase(e.container_id) > 0;
    if (changed) save_kept();
}

// One id a line, replaced as a whole (a crash leaves the old or the new file).
void Orchestrator::save_kept() {
    if (options_.kept_file.empty()) return;
    const auto tmp = options_.kept_file.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        for (const auto& id : kept_ids_) out << id << '\n';
        if (!out.flush()) {
            spdlog::warn("orchestrator: cannot write {}", tmp);
            return;
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, options_.kept_file, ec);
    if (ec)
        spdlog::warn("orchestrator: cannot replace {}: {}", options_.kept_file.string(),
                     ec.message());
}

}  // namespace tenex::sandbox
