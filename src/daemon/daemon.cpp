// The daemon's start-up wiring and lifetime: Daemon::start puts the pieces of the other modules
// together (key, state store, policies, engine, relays, gateway, workers, orchestrator, HTTP API)
// and starts the daemon thread; request_stop and wait take them down again. The daemon thread's
// loop and routing are in daemon_routing.cpp, its tick, heartbeat and lifecycle publishing in
// daemon_status.cpp, the SIGHUP reload in daemon_reload.cpp, the HTTP control plane in
// daemon_control.cpp.
#include "daemon/daemon.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <utility>

#include "common/disk_quota.hpp"
#include "common/listen_address.hpp"
#include "common/private_file.hpp"
#include "daemon/daemon_internal.hpp"
#include "daemon/lifecycle_nostr.hpp"
#include "docker/nodes.hpp"
#include "nostr/key_file.hpp"
#include "project/agent_keys.hpp"
#include "project/agent_profile.hpp"
#include "project/workspace_path.hpp"

namespace tenex::daemon {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

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
        sandbox::SwarmEngineOptions swarm_options;
        swarm_options.volumes = config.swarm_volumes;
        if (config.swarm_workspaces == "node-local") {
            // Each project's directories on one node, laid out there through the gateway's
            // listener (set up below, before any project starts).
            auto& nl = swarm_options.node_local;
            nl.roots = {config.projects_path.lexically_normal().string(),
                        (config.state_dir / "runtime").lexically_normal().string()};
            nl.lost_after =
                std::chrono::duration_cast<std::chrono::seconds>(config.swarm_node_lost_after);
            nl.spool = config.state_dir / "seeds";
            nl.pin = [this](const std::string& service) {
                auto pin = state->node_pin(service);
                if (!pin) spdlog::error("state store: {}", pin.error().message);
                return pin ? *pin : std::string();
            };
            nl.set_pin = [this](const std::string& service, const std::string& node) {
                if (auto s = state->set_node_pin(service, node, unix_now()); !s)
                    spdlog::error("state store: {}", s.error().message);
            };
            nl.offer = [this](const fs::path& file, std::chrono::seconds ttl) {
                return gateway ? gateway->offer_file(file, ttl) : std::string("/");
            };
            nl.withdraw = [this](const std::string& path) {
                if (gateway) gateway->withdraw_file(path);
            };
            nl.lost = [this](const std::string& project, const std::string& why) {
                (void)state->add_history(
                    project, {.at = unix_now(), .what = "workspace-lost", .detail = why});
                event_log.record({.seq = 0,
                                  .at_ms = 0,
                                  .type = "workspace-lost",
                                  .project = project,
                                  .container = "",
                                  .exit_code = std::nullopt,
                                  .reason = why});
            };
        }
        auto owned = std::make_unique<sandbox::SwarmEngine>(*docker, swarm_options);
        swarm = owned.get();
        // The forwarder services of isolated and egress projects (policies/SWARM.md).
        swarm->set_forwarders(config.gateway_forwarder_image, id);
        if (config.swarm_workspaces == "node-local") swarm->remove_stale_seeds();
        engine = std::move(owned);
        spdlog::info("engine: swarm, through the manager at {} (API {})", docker->socket_path(),
                     docker->api_version().to_string());
    } else {
        engine = std::make_unique<sandbox::DockerEngine>(*docker);
    }
    exec_sessions = std::make_unique<ExecSessions>(*docker);

    if (!config.embedded_relay.empty()) {
        auto addr = parse_tcp_listen_address(config.embedded_relay);
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
        auto addr = parse_tcp_listen_address(config.gateway_listen);
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
        if (swarm) {
            // The nodes' forwarders connect to gateway.advertise, or to gateway.listen when
            // that is a specific address (policies/SWARM.md, "The project gateway").
            std::string advertise = config.gateway_advertise;
            if (advertise.empty() && addr->host != "0.0.0.0" && addr->host != "127.0.0.1")
                advertise = addr->host + ":" + std::to_string(gateway->port());
            if (auto a = parse_tcp_listen_address(advertise); a && !advertise.empty()) {
                swarm->set_gateway(
                    sandbox::SwarmGateway{.target_ip = a->host, .target_port = a->port});
                spdlog::info(
                    "gateway: swarm tasks reach it through forwarder services ({}) "
                    "connecting to {}",
                    config.gateway_forwarder_image, advertise);
            } else {
                spdlog::warn(
                    "gateway: on {} only, which no swarm node reaches: isolated "
                    "projects with relays: true do not start (set gateway.advertise)",
                    config.gateway_listen);
            }
        }
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
        gateway ? parse_tcp_listen_address(config.gateway_listen)->host + ":" +
                      std::to_string(gateway->port())
                : std::string("off"));
    return Unit{};
}

// ---------------------------------------------------------------------------------------------
// Shutdown

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
