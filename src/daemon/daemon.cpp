#include "daemon/daemon.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>

#include "common/disk_quota.hpp"
#include "common/log.hpp"
#include "common/private_file.hpp"
#include "daemon/daemon_internal.hpp"
#include "daemon/lifecycle_nostr.hpp"
#include "daemon/monitor.hpp"
#include "docker/nodes.hpp"
#include "nostr/key_file.hpp"
#include "nostr/verify.hpp"
#include "project/agent_keys.hpp"
#include "project/agent_profile.hpp"
#include "project/workspace_path.hpp"
#include "relay/url.hpp"
#include "sandbox/policy_set.hpp"

namespace tenex::daemon {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The daemon key: loaded from its file, or generated there (0600) on first start.
Result<nostr::Keys> load_or_create_key(const fs::path& file) {
    std::error_code ec;
    if (fs::exists(file, ec)) {
        struct stat st {};
        if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
            spdlog::warn("key file {} is readable by others (mode {:o}); chmod 600 it",
                         file.string(), st.st_mode & 0777);
        return nostr::load_key_file(file.string());
    }
    fs::create_directories(file.parent_path(), ec);
    auto keys = nostr::Keys::generate();
    if (auto st = write_private_file(file.string(), keys.secret.reveal_nsec() + "\n"); !st)
        return make_error("cannot create the daemon key: " + st.error().message);
    spdlog::info("generated a new daemon key at {} ({})", file.string(), keys.pub.npub());
    return keys;
}

Status make_dir(const fs::path& dir, const char* what) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        return make_error(std::string("cannot create the ") + what + " " + dir.string() + ": " +
                          ec.message());
    return Unit{};
}

// Policies must load without errors: a broken override silently left out could run a
// project with weaker limits than the operator wrote.
Result<sandbox::PolicySet> load_policies(const fs::path& dir) {
    auto loaded = sandbox::load_policy_dir(dir);
    std::string errors;
    for (const auto& d : loaded.diagnostics) {
        if (d.severity == sandbox::Severity::error)
            errors += "\n  " + sandbox::format_diagnostic(d);
        else
            spdlog::warn("policy: {}", sandbox::format_diagnostic(d));
    }
    if (!errors.empty())
        return make_error("policies in " + dir.string() + " have errors:" + errors);
    return std::move(loaded.set);
}

// Every forwarded connection and gateway client costs descriptors: the daemon asks for its
// hard limit instead of the common 1024 soft one.
void raise_descriptor_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    const rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) == 0)
        spdlog::debug("open files limit raised from {} to {}", before, rl.rlim_cur);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Start-up

Daemon::Daemon() : impl_(std::make_unique<Impl>()) {}

Daemon::~Daemon() {
    request_stop();
    wait();
}

Result<std::unique_ptr<Daemon>> Daemon::start(DaemonConfig config, ConfigReloader reload) {
    if (auto diags = validate_config(config); sandbox::has_errors(diags)) {
        std::string text;
        for (const auto& d : diags) text += "\n  " + sandbox::format_diagnostic(d);
        return make_error("invalid configuration:" + text);
    }
    raise_descriptor_limit();
    std::unique_ptr<Daemon> daemon(new Daemon());
    if (auto st = daemon->impl_->start(std::move(config), std::move(reload)); !st)
        return st.error();
    return daemon;
}

Status Daemon::Impl::start(DaemonConfig cfg, ConfigReloader reload) {
    config = std::move(cfg);
    reloader = std::move(reload);
    inbox = std::make_unique<Inbox<Message>>("daemon thread", config.monitor.queue_size);
    metrics.configure_projects(config.metrics.per_project, config.metrics.max_projects);
    notifier = SystemdNotifier::from_environment();

    auto k = load_or_create_key(config.key_file);
    if (!k) return k.error();
    keys.emplace(std::move(*k));
    id = config.daemon_id.empty() ? "tenex-" + keys->pub.hex().substr(0, 16) : config.daemon_id;

    for (auto [dir, what] : {std::pair{config.state_dir, "state directory"},
                             std::pair{config.projects_path, "projects path"}})
        if (auto st = make_dir(dir, what); !st) return st;
    if (const auto q = disk::probe(config.projects_path); q.btrfs)
        spdlog::info(
            "projects path {} is on btrfs: project directories are subvolumes, resources.disk is "
            "enforced",
            config.projects_path.string());
    else
        spdlog::info(
            "projects path {} is on {}: resources.disk cannot be enforced there; a project whose "
            "policy "
            "sets it is refused at start (README: Disk limits)",
            config.projects_path.string(), q.fs_type);
    auto st = StateStore::open(config.state_dir);
    if (!st) return make_error("state store: " + st.error().message);
    state = std::move(*st);

    auto set = load_policies(config.policies_dir);
    if (!set) return set.error();
    policies.store(std::make_shared<const sandbox::PolicySet>(std::move(*set)));

    auto client = docker::Client::connect({.socket = config.docker_socket});
    if (!client) return make_error("Docker engine: " + client.error().describe());
    docker = std::move(*client);
    if (config.engine == "swarm") {
        // Services need a manager: a worker or an engine outside a swarm refuses them.
        auto swarm_info = docker::swarm_state(*docker);
        if (!swarm_info) return make_error("engine swarm: " + swarm_info.error().describe());
        if (!swarm_info->control_available)
            return make_error("engine swarm: the engine at " + docker->socket_path() +
                              " is not a swarm manager (swarm state " +
                              (swarm_info->local_node_state.empty()
                                   ? std::string("unknown")
                                   : swarm_info->local_node_state) +
                              "): point docker_socket at a manager");
        spdlog::info("engine: swarm of {} node(s), {} manager(s)", swarm_info->nodes,
                     swarm_info->managers);
        auto owned = std::make_unique<sandbox::SwarmEngine>(*docker);
        swarm = owned.get();
        engine = std::move(owned);
        spdlog::info("engine: swarm, through the manager at {} (API {})", docker->socket_path(),
                     docker->api_version().to_string());
    } else {
        engine = std::make_unique<sandbox::DockerEngine>(*docker);
    }
    exec_sessions = std::make_unique<ExecSessions>(*docker);

    if (!config.embedded_relay.empty()) {
        auto addr = relay::ListenAddress::parse(config.embedded_relay);
        if (!addr) return make_error("embedded_relay: " + addr.error().message);
        relay::RelayServerOptions ro;
        ro.host = addr->host;
        ro.port = addr->port;
        ro.db_path = (config.state_dir / "relay.sqlite3").string();
        ro.store_limits = config.embedded_relay_quota;
        auto server = relay::EmbeddedRelay::start(ro);
        if (!server)
            return make_error("embedded relay on " + config.embedded_relay + ": " +
                              server.error().message);
        embedded = std::move(*server);
        relay_urls.push_back(embedded->url());
    }
    for (const auto& url : config.relays)
        if (std::find(relay_urls.begin(), relay_urls.end(), url) == relay_urls.end())
            relay_urls.push_back(url);

    relay::PoolOptions po;
    po.signer = *keys;
    if (!config.relay_ca_file.empty()) {
        if (std::ifstream probe(config.relay_ca_file); !probe)
            return make_error("relay_ca_file: cannot read " + config.relay_ca_file.string());
        po.ca_file = config.relay_ca_file.string();
    }
    pool = std::make_unique<relay::RelayPool>(po);
    for (const auto& url : relay_urls)
        if (auto added = pool->add_relay(url); !added)
            return make_error("relay " + url + ": " + added.error().message);

    if (!config.gateway_listen.empty()) {
        auto addr = relay::ListenAddress::parse(config.gateway_listen);
        if (!addr) return make_error("gateway.listen: " + addr.error().message);
        gateway::GatewayOptions go;
        go.host = addr->host;
        go.port = addr->port;
        go.bindings_db = config.state_dir / "state.sqlite3";
        go.write_rate_per_s = config.gateway_writes_per_second;
        go.write_burst = config.gateway_write_burst;
        auto gw = gateway::Gateway::start(go, *pool);
        if (!gw)
            return make_error("gateway on " + config.gateway_listen + ": " + gw.error().message);
        gateway = std::move(*gw);
        set_gateway_reserved_keys();
    }

    workspaces = std::make_unique<project::WorkspaceManager>(
        project::WorkspaceConfig{.projects_root = config.projects_path,
                                 .repo_policy = config.git,
                                 .clone_limits = config.clone},
        project::nostr_key_generator());
    loader = std::make_unique<project::ProjectLoader>(*pool, *workspaces);
    {
        const std::size_t threads = std::max(4u, config.start_concurrency);
        workers = std::make_unique<WorkerPool>(
            "daemon workers", threads,
            std::vector<WorkerPool::Lane>{{.name = "start"},
                                          {.name = "first load", .max_running = threads / 2}});
    }

    if (auto stored = state->projects())
        for (const auto& p : *stored) known_projects.insert(p.address);
    known.store(std::make_shared<const std::set<std::string>>(known_projects));

    sandbox::OrchestratorOptions oo;
    oo.daemon_id = id;
    oo.max_starts_in_flight = static_cast<int>(config.start_concurrency);
    oo.policies = [this](const sandbox::ProjectRef& ref) { return policy_for(ref); };
    oo.workspace = [this](const sandbox::ProjectRef& ref) -> Result<fs::path> {
        auto name = project::map_workspace(ref.owner, ref.d);
        if (!name) return name.error();
        return config.projects_path / name->relative();
    };
    oo.relays = relay_urls;
    oo.runtime_root = config.state_dir / "runtime";
    oo.kept_file = config.state_dir / "kept-containers";  // warm starts across daemon restarts
    if (swarm) oo.network_enforcer = std::make_shared<sandbox::SwarmNetworkEnforcer>();
    if (gateway) {
        oo.gateway_port = gateway->port();
        // Each container start: the project's keys known to the gateway and a new secret. The
        // agents' keys are the ones the daemon made in the workspace (and hands to the TENEX
        // runtime), so events addressed to them reach the project before they first write.
        oo.gateway_secret = [this](const sandbox::ProjectRef& ref) -> std::string {
            if (!ref.has_owner()) return {};
            gateway::ProjectKeys keys{
                nostr::Address{gateway::kProjectKind, ref.owner, ref.d}, {}, {}};
            if (auto name = project::map_workspace(ref.owner, ref.d))
                if (auto agents = project::read_agent_profiles(
                        config.projects_path / name->relative(),
                        project::ProjectDefinition{.identifier = ref.d, .owner = ref.owner}))
                    for (const auto& a : *agents) keys.agents.insert(a.pubkey());
            // The policy's write rate, where it sets one (else the daemon's gateway knobs).
            std::optional<gateway::Gateway::WriteRate> rate;
            if (auto policy = policy_for(ref)) {
                const auto& n = policy->network;
                if (n.relay_writes_per_second > 0 || n.relay_write_burst > 0)
                    rate = gateway::Gateway::WriteRate{
                        n.relay_writes_per_second > 0
                            ? static_cast<double>(n.relay_writes_per_second)
                            : config.gateway_writes_per_second,
                        n.relay_write_burst > 0 ? static_cast<double>(n.relay_write_burst)
                                                : config.gateway_write_burst};
            }
            return gateway->open_project(std::move(keys), rate);
        };
    }
    if (config.lifecycle_events)
        event_log.set_listener([this](const LifecycleEvent& e) {
            if (auto state = nostr_state(e)) (void)post(PublishLifecycle{e, *state});
        });
    orchestrator = std::make_unique<sandbox::Orchestrator>(std::move(oo), *engine);
    if (swarm) {
        // The manager's events carry no task exits of other nodes: its tasks are polled.
        swarm_watch = std::make_unique<sandbox::SwarmTaskWatch>(*swarm, *orchestrator);
        swarm_watch->start();
    } else {
        orchestrator_events = std::make_unique<sandbox::OrchestratorEvents>(*docker, *orchestrator);
        if (!orchestrator_events->start())
            spdlog::warn("Docker events stream not connected yet; retrying");
    }
    if (auto rec = orchestrator->reconcile().get(); !rec)
        spdlog::warn("reconcile: {}", rec.error().message);
    for (const auto& s : orchestrator->snapshot()) {
        last_states[s.project.address()] = s;
        if (s.state == sandbox::ProjectState::running)
            event_log.record({.seq = 0,
                              .at_ms = 0,
                              .type = "adopted",
                              .project = s.project.address(),
                              .container = s.container_id.substr(0, 12),
                              .exit_code = {},
                              .reason = {}});
    }

    http = std::make_unique<HttpApi>(*this, metrics,
                                     HttpOptions{.listen = config.http_listen,
                                                 .exec_enabled = config.exec_enabled,
                                                 .events = &event_log});
    if (auto started = http->start(); !started)
        return make_error("HTTP API on " + config.http_listen + ": " + started.error().message);

    monitor.emplace(config.monitor, config.whitelist);
    pool->wait_connected(relay_urls.size(), 5s);
    last_status = status_summary(static_cast<int>(running_projects().size()));
    loop = std::thread([this] { run(); });
    // Ready for systemd only now: the HTTP API accepts connections and the reconcile above
    // has adopted (or cleaned up) what a previous run left.
    notifier.ready(last_status);
    spdlog::info(
        "tenex-sandbox daemon {} up: pubkey {}, {} relays, {} whitelisted, http {}, gateway {}", id,
        keys->pub.npub(), relay_urls.size(), config.whitelist.size(), config.http_listen,
        gateway ? "127.0.0.1:" + std::to_string(gateway->port()) : std::string("off"));
    return Unit{};
}

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
        if (!ws) {
            outcome = make_error("workspace: " + ws.error().message);
        } else {
            (void)post(ProjectKnown{key});
            outcome = orchestrator->ensure_running(ref).get();
        }
        // A start that failed while the engine does not answer is not the project's fault.
        const bool engine_down =
            (!outcome || outcome->state != sandbox::ProjectState::running) && !docker->ping();
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

// Every tick: project states into the store and the metrics, relay states, cursors.
// A project that published through its gateway since the last tick is at work: its idle and
// pause timers start again, as for a trigger (an agent on a long task that no new message
// started is not frozen or stopped under it). Gateway::activity says which events count.
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
    if (std::unique_lock lock(usage_mu, std::try_to_lock); lock.owns_lock()) {
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
// Workers (workspace loads wait on clones and relays; starts wait on the orchestrator)

// Loads of projects this daemon never ran (the first trigger of a new project, or an address
// that names no project and waits on every relay until the fetch times out) get at most half
// of the workers: a flood of them never delays a start of a project that is known here.
void Daemon::Impl::submit(bool known_project, std::function<void()> job) {
    (void)workers->submit(known_project ? kKnownLane : kFirstLoadLane, std::move(job));
}

// ---------------------------------------------------------------------------------------------
// SIGHUP and shutdown

std::string Daemon::Impl::status_summary(int running) const {
    std::size_t connected = 0, total = 0;
    for (const auto& r : pool->status()) {
        ++total;
        connected += r.connected ? 1 : 0;
    }
    return std::to_string(running) + (running == 1 ? " project" : " projects") + " running; " +
           std::to_string(connected) + "/" + std::to_string(total) + " relays connected";
}

void Daemon::Impl::reload() {
    notifier.reloading();
    if (auto set = load_policies(config.policies_dir); set) {
        policies.store(std::make_shared<const sandbox::PolicySet>(std::move(*set)));
        spdlog::info("reload: policies from {}", config.policies_dir.string());
    } else {
        spdlog::error("reload: keeping the previous policies: {}", set.error().message);
    }
    reload_config();
    // Running projects pick up the new policies and relays (a container whose spec changed is
    // replaced now where its policy says immediately, else at its next trigger).
    orchestrator->policies_changed();
    last_status = status_summary(static_cast<int>(running_projects().size()));
    notifier.ready(last_status);
}

// The whitelisted owners and the daemon itself never write through a project's gateway.
void Daemon::Impl::set_gateway_reserved_keys() {
    if (!gateway) return;
    std::set<std::string> reserved(config.whitelist.begin(), config.whitelist.end());
    reserved.insert(keys->pub.hex());
    gateway->set_reserved_keys(std::move(reserved));
}

void Daemon::Impl::reload_config() {
    if (!reloader) return;
    auto fresh = reloader();
    if (!fresh) {
        for (const auto& d : fresh.error())
            spdlog::error("reload: {}", sandbox::format_diagnostic(d));
        spdlog::error("reload: configuration has errors; keeping the running one");
        return;
    }
    if (auto diags = validate_config(*fresh); sandbox::has_errors(diags)) {
        for (const auto& d : diags) spdlog::error("reload: {}", sandbox::format_diagnostic(d));
        return;
    }
    // Removed relays first: a URL written differently but meaning the same relay is re-added.
    for (const auto& url : config.relays) {
        if (std::find(fresh->relays.begin(), fresh->relays.end(), url) != fresh->relays.end())
            continue;
        if (embedded && url == embedded->url()) continue;  // the embedded relay stays
        if (auto removed = pool->remove_relay(url); removed) {
            std::erase(relay_urls, url);
            spdlog::info("reload: removed relay {}", url);
        } else {
            spdlog::error("reload: relay {}: {}", url, removed.error().message);
        }
    }
    for (const auto& url : fresh->relays) {
        if (std::find(relay_urls.begin(), relay_urls.end(), url) != relay_urls.end()) continue;
        if (auto added = pool->add_relay(url); added) {
            relay_urls.push_back(url);
            spdlog::info("reload: added relay {}", url);
        } else {
            spdlog::error("reload: relay {}: {}", url, added.error().message);
        }
    }
    orchestrator->set_relays(relay_urls);
    config.relays = fresh->relays;
    config.whitelist = fresh->whitelist;
    monitor->set_whitelist(config.whitelist);
    set_gateway_reserved_keys();
    subscribe();
    spdlog::info("reload: {} whitelisted pubkeys, {} relays", config.whitelist.size(),
                 relay_urls.size());
}

void Daemon::request_reload() {
    if (impl_->inbox) (void)impl_->post(Impl::ReloadRequested{});
}

void Daemon::request_stop() {
    if (!impl_->stopping.exchange(true) && impl_->loop.joinable())
        impl_->notifier.stopping(impl_->config.stop_projects_on_exit
                                     ? "stopping, with the projects"
                                     : "stopping; projects keep running");
    if (impl_->inbox) impl_->inbox->close();
}

void Daemon::wait() {
    auto& i = *impl_;
    if (!i.loop.joinable()) return;
    i.loop.join();
    spdlog::info("shutting down: {}", i.config.stop_projects_on_exit ? "stopping every project"
                                                                     : "projects keep running");
    i.pool->unsubscribe(kSubscription);
    // Workers finish their current job: a start in flight completes (so nothing is left
    // half-created); its event stays pending if the daemon is gone before it is marked.
    // Queued jobs are dropped: their events stay pending for the next start.
    i.workers->stop();
    if (i.http) i.http->stop();
    if (i.orchestrator_events) i.orchestrator_events->stop();
    if (i.swarm_watch) i.swarm_watch->stop();
    if (i.orchestrator) i.orchestrator->shutdown(i.config.stop_projects_on_exit);
    for (const auto& [url, newest] : i.cursors) (void)i.state->set_cursor(url, newest);
    i.loader.reset();
    if (i.gateway) i.gateway->stop();
    if (i.pool) i.pool->stop();
    if (i.embedded) i.embedded->stop();
}

int Daemon::http_port() const {
    return impl_->http ? impl_->http->port() : 0;
}
std::string Daemon::pubkey() const {
    return impl_->keys->pub.hex();
}
std::string Daemon::daemon_id() const {
    return impl_->id;
}

}  // namespace tenex::daemon
