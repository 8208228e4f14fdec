// The orchestrator's side of the Engine's /events stream: die, oom and destroy events of its
// containers, gaps in the stream (answered with a reconcile), and the feed that connects them.
#include <spdlog/spdlog.h>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

using namespace detail;

namespace {

// The signal attribute of a kill event ("15", "9"; a name on some engines).
bool is_stop_signal(const std::string& signal) {
    static const char* const kStopping[] = {"",       "2",       "3",       "9",      "15",
                                            "SIGINT", "SIGQUIT", "SIGKILL", "SIGTERM"};
    for (const char* s : kStopping)
        if (signal == s) return true;
    return false;
}

}  // namespace

void Orchestrator::on_engine_event(const docker::Event& event) {
    post([this, event] {
        if (closing_) return;
        auto it = entries_.find(event.attribute(kLabelProject));
        if (it == entries_.end()) return;
        Entry& e = *it->second;
        // During a start the id is not known yet: remember what died, match it later.
        if (event.id != e.container_id && !(e.busy && e.state == ProjectState::starting)) return;
        if (event.kind == docker::EventKind::Oom) {
            // One per process the kernel killed: PID 1 (a die follows) or a child, after
            // which the container may well go on running.
            e.oom_seen = true;
            ++e.oom_kills;
            spdlog::warn("orchestrator: {}: the OOM killer killed a process of {}", e.key,
                         event.id.substr(0, 12));
        } else if (event.kind == docker::EventKind::Kill) {
            // Our own stops happen in state stopping; a kill of a running container comes from
            // someone else (docker stop/kill/rm -f). Signals that do not end a process don't count.
            if ((e.state == ProjectState::running || e.state == ProjectState::paused) &&
                is_stop_signal(event.attribute("signal")))
                e.kill_seen = true;
        } else if (event.kind == docker::EventKind::Die ||
                   event.kind == docker::EventKind::Destroy) {
            if (e.state == ProjectState::stopped && e.kept && !e.busy) {
                if (event.kind == docker::EventKind::Destroy) {  // docker rm by someone else
                    set_kept(e, false);
                    e.container_id.clear();
                }
            } else if ((e.state == ProjectState::running || e.state == ProjectState::paused) &&
                       !e.busy) {
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
    if (e.died_id != e.container_id ||
        (e.state != ProjectState::running && e.state != ProjectState::paused))
        return false;
    launch_exit_inspect(e, e.died_code);
    return true;
}

void Orchestrator::on_events_gap() {
    spdlog::info("orchestrator: gap in the engine's events: reconciling");
    (void)reconcile();
}

// ---------------------------------------------------------------------------------------------
// Events feed

OrchestratorEvents::OrchestratorEvents(const docker::Client& client, Orchestrator& orchestrator)
    : orchestrator_(orchestrator) {
    docker::EventStreamOptions options;
    options.filter.labels = orchestrator.label_filters();
    options.filter.actions = {"start", "kill", "die", "oom", "destroy"};
    docker::EventHandlers handlers;
    handlers.on_event = [this](const docker::Event& e) { orchestrator_.on_engine_event(e); };
    handlers.on_connected = [this] {
        const bool late = connection_.update([](Connection& c) {
            c.connected = true;
            return c.gave_up;
        });
        // start() stopped waiting before this first connection, and the caller went on (and
        // reconciled): what the engine did since then was not seen.
        if (late) orchestrator_.on_events_gap();
    };
    handlers.on_gap = [this](const docker::EventGap&) { orchestrator_.on_events_gap(); };
    stream_ =
        std::make_unique<docker::EventStream>(client, std::move(options), std::move(handlers));
}

bool OrchestratorEvents::start(std::chrono::milliseconds wait) {
    stream_->start();
    if (connection_.wait_for(wait, [](const Connection& c) { return c.connected; })) return true;
    // Connected since the wait ended: as good as in time. Otherwise the connection, when it
    // comes, is late (on_connected reports the gap).
    return connection_.update([](Connection& c) {
        if (!c.connected) c.gave_up = true;
        return c.connected;
    });
}

void OrchestratorEvents::stop() {
    if (stream_) stream_->stop();
}

}  // namespace tenex::sandbox
