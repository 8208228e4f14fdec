// The daemon thread's loop and what it routes: relay events into the state store and the
// monitor, triggers to the projects they wake, starts on the workers and their outcomes
// (finish), starts kept while the engine does not answer. Also the policies and the set of
// known projects as the orchestrator asks for them.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <variant>

#include "common/log.hpp"
#include "daemon/daemon_internal.hpp"
#include "nostr/verify.hpp"
#include "project/workspace_path.hpp"

namespace tenex::daemon {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Policies and the set of known projects (read from the orchestrator's and workers' threads)

// A project is known when the state store has it or its workspace exists: the workspace is
// created before the container, so even a kill -9 before the next state write cannot make a
// restarted daemon remove a running project's container as a leftover. Any thread: a project
// found by its workspace is added by the daemon thread (ProjectKnown), so the next call finds
// it in the snapshot.
bool Daemon::Impl::is_known(const sandbox::ProjectRef& ref) {
    if (known.load()->count(ref.address())) return true;
    auto name = project::map_workspace(ref.owner, ref.d);
    std::error_code ec;
    if (!name || !fs::is_directory(config.projects_path / name->relative(), ec)) return false;
    (void)post(ProjectKnown{ref.address()});
    return true;
}

void Daemon::Impl::add_known(const std::string& address) {
    if (known_projects.insert(address).second)
        known.store(std::make_shared<const std::set<std::string>>(known_projects));
}

Result<sandbox::Policy> Daemon::Impl::policy_for(const sandbox::ProjectRef& ref) {
    if (!is_known(ref)) return make_error("unknown project " + ref.address());
    const auto set = policies.load();
    auto resolved = sandbox::resolve_policy(*set, ref);
    if (sandbox::has_errors(resolved.diagnostics)) {
        std::string text;
        for (const auto& d : resolved.diagnostics) text += " " + sandbox::format_diagnostic(d);
        return make_error("policy for " + ref.address() + ":" + text);
    }
    return resolved.policy;
}

// ---------------------------------------------------------------------------------------------
// The daemon thread

// Replies and requests: never shed (false once the daemon stops).
bool Daemon::Impl::post(Message message) {
    return inbox->push(std::move(message));
}

// Relay events: shed (and counted) while config.monitor.queue_size messages wait.
void Daemon::Impl::on_relay_event(const relay::DeliveredEvent& d) {
    if (inbox->try_push(Incoming{d.relay, d.event}) == Inbox<Message>::Offer::full)
        overflowed.fetch_add(1, std::memory_order_relaxed);
}

namespace {
template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;  // clang 14 (fuzz and TSan builds) deduces no aggregate
}  // namespace

void Daemon::Impl::dispatch(Message& message) {
    std::visit(Overloaded{
                   [this](Incoming& in) { handle(in); },
                   [this](StartFinished& f) {
                       finish(f.address, f.key, std::move(f.outcome), f.engine_down);
                   },
                   [this](ReloadRequested&) { reload(); },
                   [this](Forgotten& f) { forgotten(f.last); },
                   [this](PublishLifecycle& p) { publish_lifecycle(p.event, p.state); },
                   [this](ProjectKnown& k) { add_known(k.address); },
               },
               message);
}

void Daemon::Impl::subscribe() {
    nostr::Filter f;
    f.authors = config.whitelist;
    // Resume where the last run stopped (the pool adds the overlap); a first start is live.
    std::optional<std::int64_t> since;
    std::vector<std::string> without_cursor;
    for (const auto& relay : pool->status()) {  // cursors are kept under the pool's URLs
        auto c = state->cursor(relay.url);
        if (c && *c)
            since = since ? std::min(*since, **c) : **c;
        else if (c)
            without_cursor.push_back(relay.url);
    }
    f.since = since ? *since - 120 : unix_now();
    // A first start records where it began, so a restart resumes from there even when the
    // daemon dies before its first event.
    for (const auto& url : without_cursor) {
        (void)state->set_cursor(url, *f.since);
        cursors.emplace(url, *f.since);
    }
    if (f.authors->empty()) {
        pool->unsubscribe(kSubscription);
        spdlog::warn("the whitelist is empty: no event can wake a project");
        return;
    }
    auto sub = pool->subscribe(kSubscription, {f},
                               [this](const relay::DeliveredEvent& d) { on_relay_event(d); });
    if (!sub) spdlog::error("subscribe: {}", sub.error().message);
}

void Daemon::Impl::run() {
    // Events that were received but not handled before the last exit.
    if (auto pending = state->pending()) {
        if (!pending->empty())
            spdlog::info("routing {} events left pending by the last run", pending->size());
        for (const auto& p : *pending) {
            auto ev = nostr::parse_event(p.json);
            if (!ev || !nostr::verify_event(*ev)) {
                (void)state->mark_handled(p.id, unix_now());
                continue;
            }
            route(*ev);
        }
    }
    subscribe();
    publish_heartbeat();

    auto next_tick = std::chrono::steady_clock::now();
    auto next_heartbeat = next_tick + kHeartbeatInterval;
    // systemd's watchdog is fed from here, so a loop stuck in a task stops the pings.
    const auto watchdog_every = notifier.watchdog_interval();
    auto next_watchdog = watchdog_every ? next_tick : std::chrono::steady_clock::time_point::max();
    while (true) {
        // At most 256 messages between two looks at the clock: a backlog of relay events does
        // not hold up the tick, the heartbeat or the watchdog.
        auto batch = inbox->pop_all(std::min(next_tick, next_watchdog), 256);
        if (!batch || stopping) break;  // queued messages are dropped (events stay pending)
        if (watchdog_every && std::chrono::steady_clock::now() >= next_watchdog) {
            notifier.watchdog();
            next_watchdog = std::chrono::steady_clock::now() + *watchdog_every;
        }
        const std::uint64_t lost = overflowed.exchange(0, std::memory_order_relaxed);
        for (std::uint64_t i = 0; i < lost; ++i) metrics.event_rejected("queue_full");
        // The message boundary: a handler that throws is logged and counted, the loop goes on.
        for (auto& m : *batch) {
            static constexpr const char* kNames[] = {"relay event",     "start result",
                                                     "reload",          "forget",
                                                     "lifecycle event", "known project"};
            static_assert(std::size(kNames) == std::variant_size_v<Message>);
            inbox->deliver(kNames[m.index()], [&] { dispatch(m); });
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= next_tick) {
            inbox->deliver("tick", [&] { tick(); });
            next_tick = now + kTickInterval;
        }
        if (now >= next_heartbeat || running_projects() != heartbeat_projects) {
            inbox->deliver("heartbeat", [&] { publish_heartbeat(); });
            next_heartbeat = now + kHeartbeatInterval;
        }
    }
}

void Daemon::Impl::handle(const Incoming& in) {
    metrics.event_received(in.relay);
    auto& newest = cursors[in.relay];
    newest = std::max(newest, in.event.created_at);
    auto fresh = state->record_pending(
        {.id = in.event.id, .json = nostr::to_json(in.event), .received_at = unix_now()});
    if (!fresh) {
        spdlog::error("state store: {} (event {} not recorded)", fresh.error().message,
                      in.event.id);
    } else if (!*fresh) {
        metrics.event_rejected("duplicate");
        return;
    }
    route(in.event);
}

void Daemon::Impl::route(const nostr::Event& event) {
    Routed r = monitor->route(event);
    if (r.projects.empty()) {
        metrics.event_rejected(to_string(r.reason));
        spdlog::debug("event {} from {}: dropped ({})", event.id, event.pubkey,
                      to_string(r.reason));
        (void)state->mark_handled(event.id, unix_now());
        return;
    }
    metrics.event_accepted();
    int waiting = 0;
    for (const auto& address : r.projects) {
        // The gateway hands it to the project's runtime even when it subscribes only once
        // started, for new events (a no-op when the project already has it live).
        if (gateway) gateway->hold_for_project(address.to_string(), event);
        waiting += trigger(address, event.id) ? 1 : 0;
    }
    if (waiting == 0)
        (void)state->mark_handled(event.id, unix_now());
    else
        outstanding[event.id] += waiting;
}

// Returns true when the event must wait for this project to come up.
bool Daemon::Impl::trigger(const nostr::Address& address, const std::string& event_id) {
    sandbox::ProjectRef ref{.owner = address.pubkey, .d = address.identifier};
    const std::string key = ref.address();
    if (auto it = inflight.find(key); it != inflight.end()) {
        it->second.events.push_back(event_id);
        return true;
    }
    // An identifier no workspace can be made for (too long, control characters, only dots)
    // is refused here, before any relay is asked for it.
    if (auto name = project::map_workspace(ref.owner, ref.d); !name) {
        metrics.event_rejected("bad_address");
        spdlog::warn("{}: refused: {}", log::printable(key), name.error().message);
        event_log.record({.seq = 0,
                          .at_ms = 0,
                          .type = "refused",
                          .project = log::printable(key),
                          .container = {},
                          .exit_code = {},
                          .reason = name.error().message});
        return false;
    }
    auto current = last_states.find(key);
    if (current != last_states.end() && current->second.state == sandbox::ProjectState::running) {
        // Running: the trigger refreshes its idle timer (and replaces a stale container).
        metrics.trigger("touch");
        (void)orchestrator->ensure_running(ref);
        return false;
    }
    if (auto w = engine_waits.find(key); w != engine_waits.end()) {  // waits for the engine
        w->second.inflight.events.push_back(event_id);
        return true;
    }
    metrics.trigger("start");
    (void)state->add_history(key, {.at = unix_now(), .what = "trigger", .detail = event_id});
    // Paused: thawed in place, its workspace is as it was (no fetch from the relays first).
    const bool paused =
        current != last_states.end() && current->second.state == sandbox::ProjectState::paused;
    launch_start(address, key,
                 Inflight{.events = {event_id}, .since = std::chrono::steady_clock::now()},
                 !paused);
    return true;
}

// Loads the workspace and starts the project on a worker; finish() takes the outcome.
void Daemon::Impl::launch_start(const nostr::Address& address, const std::string& key,
                                Inflight waiting, bool load_workspace) {
    inflight[key] = std::move(waiting);
    const sandbox::ProjectRef project{.owner = address.pubkey, .d = address.identifier};
    submit(is_known(project), [this, address, key, ref = project, load_workspace] {
        Result<project::WorkspaceResult> ws = project::WorkspaceResult{};
        if (load_workspace) ws = loader->load(address);
        Result<sandbox::ProjectStatus> outcome = make_error("");
        const auto lost_before = docker->transport().connection_failures();
        if (!ws) {
            outcome = make_error("workspace: " + ws.error().message);
        } else {
            (void)post(ProjectKnown{key});
            outcome = orchestrator->ensure_running(ref).get();
        }
        // A start that failed while the engine does not answer is not the project's fault,
        // nor is one that failed because the engine went away during it (it may answer again
        // by the time the start has failed: an engine coming back at that moment).
        const bool engine_down =
            (!outcome || outcome->state != sandbox::ProjectState::running) &&
            (docker->transport().connection_failures() != lost_before || !docker->ping());
        post(StartFinished{address, key, std::move(outcome), engine_down});
    });
}

void Daemon::Impl::finish(const nostr::Address& address, const std::string& key,
                          Result<sandbox::ProjectStatus> outcome, bool engine_down) {
    auto it = inflight.find(key);
    if (it == inflight.end()) return;
    Inflight done = std::move(it->second);
    inflight.erase(it);
    if (engine_down) {
        // Kept: the events stay pending (a restart of the daemon routes them again) and the
        // start is tried again, 1 s after the first failure and then up to every 30 s.
        auto& w = engine_waits[key];
        w.address = address;
        w.inflight = std::move(done);
        const auto delay = std::min<std::chrono::seconds>(
            std::chrono::seconds(1LL << std::min(w.inflight.engine_attempts, 5)), 30s);
        w.retry_at = std::chrono::steady_clock::now() + delay;
        const int attempts = ++w.inflight.engine_attempts;
        metrics.trigger("engine_wait");
        std::string why = outcome ? outcome->last_error : outcome.error().message;
        spdlog::warn(
            "{} not started: the Docker engine does not answer ({}); {} event(s) kept, trying "
            "again in {} s",
            log::printable(key), log::printable(why, 300), w.inflight.events.size(), delay.count());
        if (attempts == 1)
            (void)state->add_history(
                key, {.at = unix_now(), .what = "engine-unavailable", .detail = why});
        return;
    }
    if (outcome && outcome->state == sandbox::ProjectState::running) {
        const double took =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - done.since).count();
        metrics.observe_trigger_to_running(took);
        last_wake_seconds[key] = took;
        spdlog::info("{} running in {} ({})", log::printable(key), outcome->container_name,
                     outcome->container_id.substr(0, 12));
        observe(key, *outcome);
        note_if_started(key, *outcome);  // here or in tick(), whichever sees it running first
        last_states[key] = *outcome;
        (void)state->upsert_project({.address = key,
                                     .status = "running",
                                     .container_id = outcome->container_id,
                                     .updated_at = unix_now()});
    } else {
        std::string why = outcome
                              ? sandbox::to_string(outcome->state) +
                                    (outcome->last_error.empty() ? "" : ": " + outcome->last_error)
                              : outcome.error().message;
        spdlog::error("{} not started: {}", log::printable(key), log::printable(why, 300));
        (void)state->add_history(key, {.at = unix_now(), .what = "start-failed", .detail = why});
        event_log.record({.seq = 0,
                          .at_ms = 0,
                          .type = "start-failed",
                          .project = key,
                          .container = {},
                          .exit_code = {},
                          .reason = log::printable(why, 300)});
        (void)state->upsert_project(
            {.address = key, .status = "failed", .container_id = {}, .updated_at = unix_now()});
    }
    // Failed starts are handled too: a later trigger tries again, a restart does not loop.
    for (const auto& id : done.events) {
        auto o = outstanding.find(id);
        if (o == outstanding.end() || --o->second <= 0) {
            if (o != outstanding.end()) outstanding.erase(o);
            (void)state->mark_handled(id, unix_now());
        }
    }
}

// Starts kept while the engine did not answer, whose delay has passed.
void Daemon::Impl::retry_engine_waits() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = engine_waits.begin(); it != engine_waits.end();) {
        if (it->second.retry_at > now || inflight.count(it->first)) {
            ++it;
            continue;
        }
        EngineWait w = std::move(it->second);
        it = engine_waits.erase(it);
        metrics.trigger("engine_retry");
        launch_start(w.address, w.address.to_string(), std::move(w.inflight));
    }
}

// ---------------------------------------------------------------------------------------------
// Workers (workspace loads wait on clones and relays; starts wait on the orchestrator)

// Loads of projects this daemon never ran (the first trigger of a new project, or an address
// that names no project and waits on every relay until the fetch times out) get at most half
// of the workers: a flood of them never delays a start of a project that is known here.
void Daemon::Impl::submit(bool known_project, std::function<void()> job) {
    (void)workers->submit(known_project ? kKnownLane : kFirstLoadLane, std::move(job));
}

}  // namespace tenex::daemon
