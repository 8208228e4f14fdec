#include "sandbox/swarm_engine.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/sha256.hpp"
#include "docker/images.hpp"
#include "docker/json_util.hpp"
#include "docker/nodes.hpp"
#include "sandbox/orchestrator.hpp"

namespace tenex::sandbox {

namespace {

constexpr int kNotOnSwarm = 501;  // the status of what a swarm engine cannot do

docker::DockerError not_on_swarm(const std::string& operation, const std::string& what) {
    return docker::DockerError{operation, kNotOnSwarm, what};
}

constexpr const char* kLabelSecretOf = "tenex.secret-of";  // on a swarm secret: its service

// A secret's name (at most 64 characters, [A-Za-z0-9_.-]): the service and the value by hash,
// the variable's name readable; a changed value is a new secret (they cannot change).
std::string secret_name(const std::string& service, const std::string& key,
                        const std::string& value) {
    return "tnx-" + sha256_hex(service).substr(0, 12) + "-" + key.substr(0, 24) + "-" +
           sha256_hex(service + '\0' + key + '\0' + value).substr(0, 16);
}

// The internal overlay a `none` project's service is attached to, nothing else on it.
std::string none_network(const std::string& service_name) {
    return service_name + "-none";
}

// A network the manager will not remove while a task of a deleted service still refers to it
// (it lets go within a second or so once the task's container is gone on its node).
bool held_by_task(const docker::DockerError& e) {
    return e.message.find("in use by task") != std::string::npos;
}

bool any_live(const std::vector<docker::TaskInfo>& tasks) {
    return std::any_of(tasks.begin(), tasks.end(), [](const auto& t) { return !t.terminal(); });
}

// The policy key a dropped ContainerSpec field comes from.
std::string policy_key_of(const std::string& field) {
    if (field.starts_with("security_opt")) return "security";
    if (field.starts_with("memory_swap")) return "resources.memory_swap";
    if (field.starts_with("cpuset")) return "resources.cpuset";
    if (field.starts_with("storage_opt")) return "resources.disk";
    if (field.starts_with("runtime")) return "security.runtime";
    if (field.starts_with("tmpfs")) return "security.tmpfs";
    return "";
}

}  // namespace

std::pair<std::string, std::string> numeric_owner(const std::string& user) {
    auto colon = user.find(':');
    std::string uid = user.substr(0, colon),
                gid = colon == std::string::npos ? uid : user.substr(colon + 1);
    auto digits = [](const std::string& v) {
        return !v.empty() &&
               std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!digits(uid) || !digits(gid)) return {"0", "0"};
    return {uid, gid};
}

std::string uplink_network_name(const std::string& daemon_id) {
    return "tenex-uplink-" + sha256_hex(daemon_id).substr(0, 12);
}

std::string forwarder_service_name(const std::string& project_network, const std::string& alias) {
    if (alias == kGatewayName) return "tenex-gw-" + sha256_hex(project_network).substr(0, 16);
    return "tenex-eg-" + sha256_hex(project_network + '\0' + alias).substr(0, 16);
}

nlohmann::json forwarder_service_spec(const ForwarderSpec& f) {
    nlohmann::json labels = nlohmann::json::object();
    // The project's label (teardown and operators find the project's forwarder by it), but
    // not the orchestrator's managed-by and daemon labels: it is no project container.
    if (auto it = f.labels.find(kLabelProject); it != f.labels.end())
        labels[kLabelProject] = it->second;
    labels[kLabelForwarderOf] = f.project_network;
    labels[kLabelForwarderDaemon] = f.daemon_id;
    const std::string target = f.target + ":" + std::to_string(f.target_port);
    labels[f.alias == kGatewayName ? "tenex.gateway-target" : "tenex.egress-target"] = target;
    // What the forwarder is, as configured: a running one that differs is made anew.
    labels[kLabelForwarderConfig] =
        std::to_string(f.listen_port) + " " + target + (f.private_ok ? " any" : "") + " " + f.image;
    nlohmann::json args = nlohmann::json::array();
    if (f.private_ok) args.push_back("--private-ok");
    args.push_back(std::to_string(f.listen_port));
    args.push_back(f.target);
    args.push_back(std::to_string(f.target_port));
    nlohmann::json container = {
        {"Image", f.image},
        {"Args", args},
        {"Labels", labels},
        {"User", "65534:65534"},
        {"ReadOnly", true},
        {"CapabilityDrop", {"ALL"}},
        {"StopGracePeriod", 2'000'000'000LL},
    };
    return {
        {"Name", forwarder_service_name(f.project_network, f.alias)},
        {"Labels", labels},
        {"TaskTemplate",
         {{"ContainerSpec", container},
          {"Resources",
           {{"Limits", {{"MemoryBytes", 32LL << 20}, {"NanoCPUs", 250'000'000LL}, {"Pids", 64}}}}},
          // Swarm restarts it (on any node): it holds nothing, and the project's own task
          // reconnects through whichever copy runs.
          {"RestartPolicy", {{"Condition", "any"}, {"Delay", 1'000'000'000LL}}},
          {"Networks",
           {{{"Target", f.project_network}, {"Aliases", {f.alias}}},
            {{"Target", f.uplink_network}}}}}},
        {"Mode", {{"Replicated", {{"Replicas", 1}}}}},
        {"EndpointSpec", {{"Mode", "dnsrr"}}},
    };
}

namespace {

// A destination on the daemon's host itself, which no swarm task reaches.
bool on_loopback(const std::string& host) {
    return host == "localhost" || host.starts_with("127.") || host == "::1" || host == "[::1]";
}

bool ipv4_literal(const std::string& host) {
    in_addr a{};
    return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

}  // namespace

Result<std::vector<ForwarderSpec>> plan_forwarders(
    const NetworkPlan& plan, const std::string& image, const SwarmGateway& gateway,
    const std::string& daemon_id, const std::map<std::string, std::string>& labels) {
    std::vector<ForwarderSpec> out;
    std::map<std::string, int> port_of;  // alias -> port: one forwarder (one address) per name
    for (const auto& f : plan.forwards) {
        ForwarderSpec spec{.project_network = plan.network_name,
                           .uplink_network = uplink_network_name(daemon_id),
                           .alias = f.name,
                           .listen_port = f.port,
                           .target = f.target_host,
                           .target_port = f.target_port,
                           .private_ok = false,
                           .image = image,
                           .daemon_id = daemon_id,
                           .labels = labels};
        if (f.name == kGatewayName) {
            if (!gateway.enabled())
                return make_error(
                    "the project gateway is not reachable from swarm tasks: set "
                    "gateway.advertise (an address of the daemon's host the nodes reach, where "
                    "the gateway listens) in the daemon's config");
            spec.target = gateway.target_ip;
            spec.target_port = gateway.target_port;
        } else if (plan.mode != NetworkMode::egress) {
            return make_error("mode " + to_string(plan.mode) +
                              " forwards nothing but the project gateway, not " + f.name);
        } else if (f.trusted && on_loopback(f.target_host)) {
            return make_error(f.name + " (" + f.target_host + ":" + std::to_string(f.target_port) +
                              ") is on the daemon's loopback, which no swarm task reaches: name "
                              "an address or a host name of the cluster network instead");
        } else {
            // A destination the policy names itself (its LLM endpoint, the daemon's relays)
            // may be private; an allow-list name reaches public addresses only.
            spec.private_ok = f.trusted && !ipv4_literal(f.target_host);
        }
        if (auto [it, fresh] = port_of.emplace(f.name, f.port); !fresh && it->second != f.port)
            return make_error(f.name + " on ports " + std::to_string(it->second) + " and " +
                              std::to_string(f.port) +
                              ": on swarm a name is one forwarder with one port");
        out.push_back(std::move(spec));
    }
    if (!out.empty() && image.empty())
        return make_error(
            "no forwarder image: set gateway.forwarder_image in the daemon's config (the "
            "tenex-forwarder image as the nodes pull it)");
    return out;
}

std::vector<Diagnostic> swarm_policy_diagnostics(const Policy& policy, const std::string& file) {
    std::vector<Diagnostic> out;
    auto add = [&](const std::string& key, const std::string& message, Severity severity) {
        out.push_back({.file = file,
                       .line = 0,
                       .column = 0,
                       .key_path = key,
                       .message = message,
                       .severity = severity});
    };
    const auto mode = policy.network.mode;
    if (mode == NetworkMode::egress)
        add("network.mode",
            "on swarm each egress destination is a forwarder service of the project's (image "
            "gateway.forwarder_image) that resolves the name on its node at each connection "
            "and connects to public addresses only (SWARM.md); the traffic leaves from that "
            "node",
            Severity::warning);
    if ((mode == NetworkMode::isolated || mode == NetworkMode::egress) && policy.network.relays)
        add("network.relays",
            "on swarm the project gateway is reached through a forwarder service of the "
            "project's (image gateway.forwarder_image, in the cluster's registry) that "
            "connects to gateway.advertise: the daemon's config must set both; the "
            "container's gateway secret crosses the cluster network in clear (SWARM.md)",
            Severity::warning);
    for (const auto& [name, file] : policy.secrets)
        add("secrets." + name,
            "a swarm secret on swarm: the file /run/secrets/" + name +
                " in the container, not the variable " + name +
                " (the tenex-runtime image exports it as the variable)",
            Severity::warning);
    if (policy.lifecycle.pause_after.count() > 0)
        add("lifecycle.pause_after",
            "ignored on swarm (services cannot be paused): the project "
            "runs until its idle timeout",
            Severity::warning);
    SpecContext ctx;
    ctx.project = ProjectRef{.owner = std::string(64, '0'), .d = "swarm-check"};
    ctx.project_dir = "/var/lib/tenex-sandbox/projects/swarm-check";
    ctx.daemon_id = "tenex-sandbox";
    ctx.secrets = SecretMode::redact;
    ctx.runtime_dir = "/var/lib/tenex-sandbox/state/runtime/swarm-check";
    ctx.gateway_port = 7879;  // the daemon's default: relays: true plans the gateway's forwarder
    auto spec = build_sandbox_spec(policy, ctx);
    if (!spec) return out;  // the checks without --engine report it
    // What the forwarders cannot reach (the daemon's relays as the policy check sees none).
    if (auto fw = plan_forwarders(spec->network, "tenex-forwarder",
                                  SwarmGateway{.target_ip = "192.0.2.1", .target_port = 1},
                                  ctx.daemon_id, {});
        !fw)
        add("network", "not on swarm: " + fw.error().message, Severity::error);
    for (const auto& u : docker::swarm_unsupported(spec->container))
        add(policy_key_of(u.field), "not applied on swarm: " + u.field + ": " + u.reason,
            Severity::warning);
    return out;
}

docker::DResult<std::string> SwarmEngine::create(const docker::ContainerSpec& spec) {
    if (auto dropped = docker::swarm_unsupported(spec); !dropped.empty()) {
        MutexLock lock(warned_mu_);
        if (warned_.insert(spec.name).second)
            for (const auto& d : dropped)
                spdlog::warn("swarm: service {}: not applied: {}: {}", spec.name, d.field,
                             d.reason);
    }
    docker::ContainerSpec own = spec;
    own.image = pinned(spec.image);
    // Secrets never as variables of a service (its spec is readable to anyone with the
    // manager's API, and kept in the swarm's log): swarm secrets, files /run/secrets/KEY.
    auto secrets = make_secrets(own);
    if (!secrets) return secrets.error();
    if (spec.network_mode == "none") {
        // The manager has no none network to attach a task to ("network none not found"),
        // and a task without attachments is on its node's bridge. An internal overlay of the
        // service's own instead: nothing else on it, no route off it, no host address in it.
        own.network_mode = none_network(spec.name);
        own.dns = {kNoUpstreamResolver};
        auto net = ensure_overlay(own.network_mode, spec.labels);
        if (!net) return net.error();
    }
    if (options_.node_local.enabled()) {
        auto node = place_workspace(own);
        if (!node) return node.error();
        // The workspace's node decides (the seed task ran under the policy's placement).
        if (!node->empty()) {
            own.placement_constraints = {"node.id==" + *node};
            own.placement_spread.clear();
        }
    }
    auto body = docker::to_service_spec(own, 0, volume_mappings());
    if (!secrets->empty()) body["TaskTemplate"]["ContainerSpec"]["Secrets"] = std::move(*secrets);
    return docker::create_service(client_, body);
}

std::string SwarmEngine::pinned(const std::string& image) {
    if (image.find("@sha256:") != std::string::npos) return image;
    auto digest = docker::registry_digest(client_, image);
    if (digest) return image + "@" + *digest;
    MutexLock lock(warned_mu_);
    if (warned_.insert("image " + image).second)
        spdlog::warn(
            "swarm: image {} is not pinned to a digest ({}): each node pulls the tag or uses "
            "its own copy; push it to the cluster's registry (tenex-sandbox image push)",
            image, digest.error().describe());
    return image;
}

docker::DResult<nlohmann::json> SwarmEngine::make_secrets(docker::ContainerSpec& spec) {
    nlohmann::json refs = nlohmann::json::array();
    const auto [uid, gid] = numeric_owner(spec.user);
    for (const auto& key : spec.secret_env) {
        auto it = std::find_if(spec.env.begin(), spec.env.end(),
                               [&](const std::string& e) { return e.starts_with(key + "="); });
        if (it == spec.env.end()) continue;
        const std::string value = it->substr(key.size() + 1);
        spec.env.erase(it);
        const std::string name = secret_name(spec.name, key, value);
        auto labels = spec.labels;
        labels[kLabelSecretOf] = spec.name;
        labels.erase(kLabelPolicyDigest);
        std::string id;
        if (auto created = docker::create_secret(client_, name, value, labels)) {
            id = *created;
        } else if (created.error().conflict()) {  // made by an earlier create: same value
            auto found = docker::list_secrets(client_, {}, {name});
            if (!found) return found.error();
            if (found->empty()) return created.error();
            id = found->front().id;
        } else {
            return created.error();
        }
        refs.push_back(
            {{"File",
              {{"Name", key}, {"UID", uid}, {"GID", gid}, {"Mode", uid == "0" ? 0444 : 0400}}},
             {"SecretID", id},
             {"SecretName", name}});
    }
    return refs;
}

docker::DResult<docker::NetworkInfo> SwarmEngine::ensure_overlay(
    const std::string& name, const std::map<std::string, std::string>& labels) {
    auto existing = docker::inspect_network(client_, name);
    if (!existing && existing.error().not_found()) {
        docker::NetworkSpec spec{
            .name = name, .driver = "overlay", .internal = true, .labels = labels, .options = {}};
        auto created = docker::create_network(client_, spec);
        if (!created && !created.error().conflict()) return created.error();
        existing = docker::inspect_network(client_, name);
    }
    // A swarm network just made: the manager's first answers may still lack it, or show it
    // without its driver (seen: an empty answer, then "Driver": "" a few ms after the create).
    for (const auto until = Clock::now() + std::chrono::seconds(5);
         (!existing || existing->driver.empty()) && Clock::now() < until;) {
        std::this_thread::sleep_for(options_.poll / 5);
        existing = docker::inspect_network(client_, name);
    }
    if (existing && (existing->driver != "overlay" || !existing->internal))
        return docker::DockerError{"create network " + name, 409,
                                   "a network of that name exists and is not an internal overlay "
                                   "(driver " +
                                       existing->driver + ")"};
    return existing;
}

docker::DStatus SwarmEngine::start(const std::string& id) {
    const std::string op = "start service " + id;
    const auto deadline = Clock::now() + options_.start_timeout;
    std::set<std::string> before;
    for (int attempt = 0;; ++attempt) {
        auto svc = docker::inspect_service(client_, id);
        if (!svc) return svc.error();
        auto tasks = list_tasks({.services = {svc->id}, .labels = {}});
        if (!tasks) return tasks.error();
        if (svc->replicas >= 1) {
            const auto* t = docker::newest_task(*tasks);
            if (t && t->running()) return Unit{};
        }
        before.clear();
        for (const auto& t : *tasks) before.insert(t.id);
        nlohmann::json spec = svc->spec;
        if (svc->replicas != 1) {
            spec["Mode"] = {{"Replicated", {{"Replicas", 1}}}};
        } else if (!any_live(*tasks)) {
            // One replica whose task ended (restart condition none): a new task.
            auto& tt = spec["TaskTemplate"];
            const auto* f = docker::json::field(tt, "ForceUpdate");
            tt["ForceUpdate"] = (f && f->is_number_integer() ? f->get<std::int64_t>() : 0) + 1;
        } else {
            break;  // a task is on its way: wait for it
        }
        auto updated = docker::update_service(client_, svc->id, svc->version, spec);
        if (updated) break;
        // "update out of sequence": someone else updated it meanwhile; read it again.
        if (attempt >= 2 || updated.error().transport() || updated.error().not_found())
            return updated.error();
    }
    for (;;) {
        auto tasks = list_tasks({.services = {id}, .labels = {}});
        if (!tasks) return tasks.error();
        const docker::TaskInfo* fresh = nullptr;
        std::vector<docker::TaskInfo> news;
        for (const auto& t : *tasks)
            if (!before.count(t.id)) news.push_back(t);
        fresh = docker::newest_task(news);
        if (fresh && fresh->running()) return Unit{};
        // The scheduler found no node for it ("no suitable node (scheduling constraints not
        // satisfied on 3 nodes)", "... insufficient resources ..."): the start fails now and
        // says why, and the service goes back to 0 replicas so that no task appears later,
        // outside the orchestrator's view, when a node comes to fit.
        if (fresh && fresh->state == "pending" && !fresh->err.empty()) {
            if (auto back = stop(id, 0); !back)
                spdlog::warn("swarm: service {}: back to 0 replicas: {}", id,
                             back.error().describe());
            return docker::DockerError{
                op, 503, "task " + fresh->id.substr(0, 12) + " not placed: " + fresh->err};
        }
        if (fresh && fresh->terminal())
            return docker::DockerError{op, 500,
                                       "task " + fresh->id.substr(0, 12) + " " + fresh->state +
                                           ": " +
                                           (fresh->err.empty() ? fresh->message : fresh->err)};
        if (Clock::now() >= deadline)
            return docker::DockerError{
                op, 0,
                "no task running after " + std::to_string(options_.start_timeout.count() / 1000) +
                    " s" + (fresh ? " (task " + fresh->state + ": " + fresh->message + ")" : "")};
        std::this_thread::sleep_for(options_.poll);
    }
}

docker::DStatus SwarmEngine::stop_until(const std::string& id, Clock::time_point deadline) {
    const std::string op = "stop service " + id;
    for (int attempt = 0;; ++attempt) {
        auto svc = docker::inspect_service(client_, id);
        if (!svc) return svc.error();
        if (svc->replicas == 0) break;
        nlohmann::json spec = svc->spec;
        spec["Mode"] = {{"Replicated", {{"Replicas", 0}}}};
        auto updated = docker::update_service(client_, svc->id, svc->version, spec);
        if (updated) break;
        if (attempt >= 2 || updated.error().transport() || updated.error().not_found())
            return updated.error();
    }
    for (;;) {
        auto tasks = list_tasks({.services = {id}, .labels = {}});
        if (!tasks) return tasks.error();
        if (!any_live(*tasks)) return Unit{};
        if (Clock::now() >= deadline)
            return docker::DockerError{op, 0, "its task has not ended by the deadline"};
        std::this_thread::sleep_for(options_.poll);
    }
}

docker::DStatus SwarmEngine::stop(const std::string& id, int timeout_s) {
    return stop_until(
        id, Clock::now() + std::chrono::seconds(std::max(timeout_s, 0)) + options_.stop_margin);
}

docker::DStatus SwarmEngine::remove(const std::string& id, bool force) {
    (void)force;  // a live task is always stopped first: never two tasks of one project
    auto tasks = list_tasks({.services = {id}, .labels = {}});
    if (tasks && any_live(*tasks)) {
        auto stopped = stop(id, 10);
        if (!stopped && !stopped.error().not_found())
            spdlog::warn("swarm: removing service {}: {}", id, stopped.error().describe());
    }
    return remove_service(id);
}

docker::DStatus SwarmEngine::remove_service(const std::string& id) {
    auto svc = docker::inspect_service(client_, id);
    if (!svc)
        return svc.error().not_found() ? docker::DStatus(Unit{}) : docker::DStatus(svc.error());
    auto tasks = list_tasks({.services = {svc->id}, .labels = {}});
    // A scale to 0 marks the task for removal, and the manager's task reaper deletes it soon
    // after it stopped. Deleting the service meanwhile races with the reaper, and Debian's
    // dockerd 20.10.24 dies of it (a nil dereference in swarmkit's SetServiceTasksRemove when
    // the reaper deleted a task it had just listed: seen in CI, and every few runs when the
    // swarm bench removed 100 services at once). So the reaper goes first (a lost task is
    // never reaped: its node does not report).
    auto reaping = [](const std::vector<docker::TaskInfo>& ts) {
        return std::any_of(ts.begin(), ts.end(),
                           [](const auto& t) { return !t.lost && t.desired_state == "remove"; });
    };
    for (const auto deadline = Clock::now() + options_.reap_wait;
         tasks && reaping(*tasks) && Clock::now() < deadline;) {
        std::this_thread::sleep_for(options_.poll);
        tasks = list_tasks({.services = {svc->id}, .labels = {}});
    }
    if (tasks && reaping(*tasks))
        spdlog::warn(
            "swarm: service {}: its tasks were not reaped within {} ms; deleting it anyway",
            svc->name, options_.reap_wait.count());
    const bool lost =
        tasks && std::any_of(tasks->begin(), tasks->end(), [](const auto& t) { return t.lost; });
    auto r = docker::remove_service(client_, svc->id);
    if (!r && !r.error().not_found()) return r;
    // A none project's own overlay goes with its service (a missing one is fine). A lost task
    // holds it until its node comes back: then one try, and a new service of the project
    // takes the network over.
    if (auto net = release_network(none_network(svc->name), lost ? std::chrono::milliseconds::zero()
                                                                 : options_.network_release);
        !net)
        spdlog::warn("swarm: service {}: its network: {}", svc->name, net.error().describe());
    // Its secrets (a new service of the project makes them again).
    if (auto secrets =
            docker::list_secrets(client_, {std::string(kLabelSecretOf) + "=" + svc->name}))
        for (const auto& secret : *secrets)
            if (auto gone = docker::remove_secret(client_, secret.id);
                !gone && !gone.error().not_found())
                spdlog::warn("swarm: service {}: secret {}: {}", svc->name, secret.name,
                             gone.error().describe());
    return Unit{};
}

docker::DResult<std::vector<docker::TaskInfo>> SwarmEngine::list_tasks(
    const docker::TaskFilter& filter) {
    auto tasks = docker::list_tasks(client_, filter);
    if (!tasks) return tasks;
    const bool any_placed_live = std::any_of(tasks->begin(), tasks->end(), [](const auto& t) {
        return !t.terminal() && !t.node_id.empty();
    });
    if (!any_placed_live) return tasks;
    auto nodes = this->nodes(false);
    if (!nodes) return tasks;  // the nodes' states unknown: no task is declared lost
    std::map<std::string, const docker::NodeInfo*> by_id;
    for (const auto& n : *nodes) by_id[n.id] = &n;
    for (auto& t : *tasks) {
        if (t.terminal() || t.node_id.empty()) continue;
        auto it = by_id.find(t.node_id);
        if (it != by_id.end() && it->second->state != "down") continue;
        // The manager marks the node down after its heartbeats stop (about 12 s here) and sets
        // the task's desired state to shutdown, but shows it running until the node reports
        // again: with restart condition none nothing replaces it. For the daemon it has ended.
        t.lost = true;
        t.state = "orphaned";
        t.exit_code = 137;
        t.err =
            "node " +
            (it == by_id.end() ? t.node_id.substr(0, 12) + " (removed)" : it->second->hostname) +
            " is down: the task is lost";
    }
    return tasks;
}

docker::DStatus SwarmEngine::stop_and_remove(const std::string& id, int timeout_s,
                                             std::chrono::milliseconds budget) {
    const auto now = Clock::now();
    const auto deadline = std::min(
        now + budget, now + std::chrono::seconds(std::max(timeout_s, 0)) + options_.stop_margin);
    auto r = stop_until(id, deadline);
    if (!r && !r.error().not_found()) return r;
    return remove_service(id);
}

docker::DStatus SwarmEngine::pause(const std::string& id) {
    return not_on_swarm("pause service " + id,
                        "pause is not available on swarm (lifecycle.pause_after is ignored)");
}

docker::DStatus SwarmEngine::unpause(const std::string& id) {
    return not_on_swarm("unpause service " + id, "pause is not available on swarm");
}

docker::DResult<docker::ContainerInfo> SwarmEngine::inspect(const std::string& id_or_name) {
    auto svc = docker::inspect_service(client_, id_or_name);
    if (!svc) return svc.error();
    auto tasks = list_tasks({.services = {svc->id}, .labels = {}});
    if (!tasks) return tasks.error();
    auto info = docker::container_info_from(*svc, *tasks);
    info.node_name = node_name(info.node_id);
    return info;
}

std::string SwarmEngine::node_name(const std::string& node_id) {
    if (node_id.empty()) return {};
    {
        MutexLock lock(nodes_mu_);
        if (auto it = node_names_.find(node_id); it != node_names_.end()) return it->second;
    }
    if (!nodes(true)) return {};  // the id stands in; asked again next time
    // A node the manager no longer knows (removed) does not come back under its id: remember
    // it as nameless rather than list the nodes again at every inspect of its old tasks.
    MutexLock lock(nodes_mu_);
    return node_names_.try_emplace(node_id).first->second;
}

docker::DResult<std::vector<docker::NodeInfo>> SwarmEngine::nodes(bool fresh) {
    // Under the lock throughout: callers at the same moment wait for one read, not make several.
    MutexLock lock(nodes_mu_);
    const auto now = Clock::now();
    if (!fresh && nodes_ && now - nodes_at_ < kNodesMaxAge) return *nodes_;
    auto nodes = docker::list_nodes(client_);
    if (!nodes) return nodes;
    for (const auto& n : *nodes) node_names_[n.id] = n.hostname;
    nodes_ = *nodes;
    nodes_at_ = now;
    return nodes;
}

docker::DResult<std::vector<docker::ContainerSummary>> SwarmEngine::list(
    const docker::ListOptions& options) {
    auto services = docker::list_services(client_, options.labels, options.names);
    if (!services) return services.error();
    std::vector<docker::ContainerSummary> out;
    if (services->empty()) return out;
    docker::TaskFilter filter;
    for (const auto& s : *services) filter.services.push_back(s.id);
    auto tasks = list_tasks(filter);
    if (!tasks) return tasks.error();
    std::map<std::string, std::vector<docker::TaskInfo>> by_service;
    for (auto& t : *tasks) by_service[t.service_id].push_back(std::move(t));
    for (const auto& s : *services) {
        auto info = docker::container_info_from(s, by_service[s.id]);
        if (!options.all && !info.state.running) continue;
        out.push_back(docker::ContainerSummary{.id = s.id,
                                               .names = {s.name},
                                               .image = info.spec.image,
                                               .state = info.state.status,
                                               .status = info.state.status,
                                               .created = 0,
                                               .labels = s.labels});
    }
    return out;
}

docker::DResult<docker::ContainerStats> SwarmEngine::stats(const std::string& id) {
    return not_on_swarm("stats of service " + id,
                        "stats are not available through a swarm manager");
}

docker::DResult<docker::NetworkInfo> SwarmEngine::ensure_network(
    const NetworkPlan& plan, const std::map<std::string, std::string>& labels) {
    const std::string op = "create network " + plan.network_name;
    if (plan.mode != NetworkMode::isolated && plan.mode != NetworkMode::egress)
        return not_on_swarm(
            op, "network.mode " + to_string(plan.mode) + " has no network of the project's own");
    auto forwarders = plan_forwarders(plan, options_.forwarder_image, options_.gateway,
                                      options_.daemon_id, labels);
    if (!forwarders) return not_on_swarm(op, forwarders.error().message);
    auto net = ensure_overlay(plan.network_name, labels);
    if (!net) return net;
    if (auto fw = ensure_forwarders(plan.network_name, *forwarders); !fw) return fw.error();
    return net;
}

docker::DStatus SwarmEngine::ensure_uplink(const std::string& uplink) {
    // A plain (not internal) overlay, the forwarders' one way off the cluster.
    auto net = docker::inspect_network(client_, uplink);
    if (!net && net.error().not_found()) {
        docker::NetworkSpec spec{.name = uplink,
                                 .driver = "overlay",
                                 .internal = false,
                                 .labels = {{kLabelForwarderDaemon, options_.daemon_id}},
                                 .options = {}};
        auto created = docker::create_network(client_, spec);
        if (!created && !created.error().conflict()) return created.error();
        return Unit{};
    }
    if (!net) return net.error();
    if (net->driver != "overlay" || net->internal)
        return docker::DockerError{"uplink " + uplink, 409,
                                   "the network exists and is not a plain overlay"};
    return Unit{};
}

docker::DStatus SwarmEngine::ensure_forwarders(const std::string& project_network,
                                               const std::vector<ForwarderSpec>& wanted) {
    MutexLock lock(forwarders_mu_);
    std::set<std::string> names;
    for (const auto& f : wanted) names.insert(forwarder_service_name(project_network, f.alias));
    // Those of an earlier plan (a destination the policy no longer allows) go first.
    remove_forwarders(project_network, names);
    if (wanted.empty()) return Unit{};
    std::vector<std::string> made;
    for (const auto& f : wanted) {
        const std::string name = forwarder_service_name(project_network, f.alias);
        const auto body = forwarder_service_spec(f);
        const std::string config = body["Labels"][kLabelForwarderConfig];
        if (auto svc = docker::inspect_service(client_, name)) {
            auto it = svc->labels.find(kLabelForwarderConfig);
            if (it != svc->labels.end() && it->second == config && svc->replicas == 1)
                continue;  // Swarm keeps it running
            spdlog::info("swarm: forwarder {} is '{}', not '{}': made anew", name,
                         it == svc->labels.end() ? "?" : it->second, config);
            if (auto gone = remove(svc->id, true); !gone) return gone;
        } else if (!svc.error().not_found()) {
            return svc.error();
        }
        if (auto up = ensure_uplink(f.uplink_network); !up) return up;
        auto spec = body;
        spec["TaskTemplate"]["ContainerSpec"]["Image"] = pinned(f.image);
        auto id = docker::create_service(client_, spec);
        if (!id && !id.error().conflict()) return id.error();
        made.push_back(name);
    }
    // Until their tasks run (the project's task would otherwise find no such name yet).
    const auto deadline = Clock::now() + options_.start_timeout;
    for (const auto& name : made) {
        const std::string op = "forwarder " + name;
        for (;;) {
            auto tasks = list_tasks({.services = {name}, .labels = {}});
            if (!tasks) return tasks.error();
            if (std::any_of(tasks->begin(), tasks->end(),
                            [](const auto& t) { return t.running(); }))
                break;
            const auto* newest = docker::newest_task(*tasks);
            std::optional<docker::DockerError> error;
            if (newest && newest->terminal() && !newest->err.empty())
                error =
                    docker::DockerError{op, 0, "its task " + newest->state + ": " + newest->err};
            else if (Clock::now() >= deadline)
                error = docker::DockerError{op, 0, "its task is not running by the deadline"};
            if (error) {
                remove_forwarders(project_network);
                return *error;
            }
            std::this_thread::sleep_for(options_.poll);
        }
    }
    return Unit{};
}

// A forwarder is stopped before it is deleted (as a project's service): deleted while its task
// ran, the manager let its networks be removed while the task still held them, and the
// manager's own copy of the uplink stayed listed (seen on the test cluster).
void SwarmEngine::remove_forwarders(const std::string& project_network,
                                    const std::set<std::string>& keep) {
    auto services = docker::list_services(
        client_, {std::string(kLabelForwarderOf) + "=" + project_network,
                  std::string(kLabelForwarderDaemon) + "=" + options_.daemon_id});
    if (!services) {
        spdlog::warn("swarm: forwarders of {}: {}", project_network, services.error().describe());
        return;
    }
    bool removed = false;
    for (const auto& svc : *services) {
        if (keep.count(svc.name)) continue;
        removed = true;
        if (auto gone = remove(svc.id, true); !gone)
            spdlog::warn("swarm: removing forwarder {}: {}", svc.name, gone.error().describe());
    }
    if (!removed) return;
    // The uplink overlay goes with the daemon's last forwarder.
    auto left = docker::list_services(
        client_, {std::string(kLabelForwarderDaemon) + "=" + options_.daemon_id});
    if (left && left->empty())
        if (auto r =
                release_network(uplink_network_name(options_.daemon_id), options_.network_release);
            !r)
            spdlog::warn("swarm: the uplink overlay: {}", r.error().describe());
}

docker::DStatus SwarmEngine::remove_network(const std::string& name) {
    {
        MutexLock lock(forwarders_mu_);
        remove_forwarders(name);
    }
    return release_network(name, options_.network_release);
}

docker::DStatus SwarmEngine::release_network(const std::string& name,
                                             std::chrono::milliseconds wait) {
    const auto deadline = Clock::now() + wait;
    for (;;) {
        auto r = docker::remove_network(client_, name);
        if (r || r.error().not_found()) return Unit{};
        if (!held_by_task(r.error()) || Clock::now() >= deadline) return r;
        std::this_thread::sleep_for(options_.poll);
    }
}

docker::DResult<std::vector<docker::TaskInfo>> SwarmEngine::tasks(
    const std::vector<std::string>& labels) {
    auto services = docker::list_services(client_, labels);
    if (!services) return services.error();
    if (services->empty()) return std::vector<docker::TaskInfo>{};
    docker::TaskFilter filter;
    for (const auto& s : *services) filter.services.push_back(s.id);
    return list_tasks(filter);
}

Result<std::vector<std::string>> SwarmNetworkEnforcer::enforce(const std::string& project,
                                                               const NetworkPlan& plan,
                                                               const docker::NetworkInfo& network) {
    (void)project;
    // An internal overlay needs no host-side filter: the node's host has no address in it, and
    // it has no route off it. Its forwarders are services on it (the engine's ensure_network
    // made them), found by their aliases through the overlay's DNS: no hosts entries.
    if ((plan.mode == NetworkMode::isolated || plan.mode == NetworkMode::egress) &&
        network.internal && network.driver == "overlay")
        return std::vector<std::string>{};
    return make_error("network.mode " + to_string(plan.mode) + " needs an internal overlay, not " +
                      (network.driver.empty() ? "?" : network.driver) +
                      (network.internal ? " (internal)" : ""));
}

// ---------------------------------------------------------------------------------------------
// SwarmTaskWatch

SwarmTaskWatch::SwarmTaskWatch(SwarmEngine& engine, Orchestrator& orchestrator,
                               std::chrono::milliseconds interval)
    : engine_(engine),
      orchestrator_(orchestrator),
      interval_(interval),
      labels_(orchestrator.label_filters()) {}

void SwarmTaskWatch::start() {
    MutexLock lock(thread_mu_);
    if (thread_.joinable()) return;
    state_.update([](State& s) { s.stopping = false; });
    thread_ = std::thread([this] { run(); });
}

void SwarmTaskWatch::stop() {
    state_.update([](State& s) { s.stopping = true; });
    if (thread_.joinable()) thread_.join();
}

std::uint64_t SwarmTaskWatch::polls() const {
    return state_.read([](const State& s) { return s.polls; });
}

void SwarmTaskWatch::run() {
    bool first = true;
    for (;;) {
        poll_once(first);
        first = false;
        if (state_.wait_for(interval_, [](const State& s) { return s.stopping; })) return;
    }
}

void SwarmTaskWatch::poll_once(bool first) {
    auto tasks = engine_.tasks(labels_);
    if (!tasks) {
        if (!failing_)
            spdlog::warn("swarm: polling the tasks: {}; retrying", tasks.error().describe());
        failing_ = true;
        return;
    }
    if (failing_) {
        failing_ = false;
        spdlog::info("swarm: polling the tasks again");
        orchestrator_.on_events_gap();  // what ended meanwhile: the reconcile sees it
    }
    auto event_of = [](const docker::TaskInfo& t, docker::EventKind kind) {
        docker::Event e;
        e.type = "container";
        e.kind = kind;
        e.id = t.service_id;  // the orchestrator's container id
        e.attributes = t.labels;
        if (kind == docker::EventKind::Die) {
            e.action = "die";
            e.exit_code = t.exit_code;
            e.attributes["exitCode"] = std::to_string(t.exit_code);
        } else {
            e.action = "destroy";
        }
        return e;
    };
    std::map<std::string, docker::TaskInfo> now;
    for (const auto& t : *tasks) {
        now[t.id] = t;
        if (!t.terminal()) continue;
        auto prev = last_.find(t.id);
        const bool was_live = prev != last_.end() && !prev->second.terminal();
        // A task that started and ended between two polls: seen first as ended.
        const bool ended_unseen = prev == last_.end() && !first;
        if (was_live || ended_unseen) {
            spdlog::info("swarm: task {} of service {} {} (exit code {}){}", t.id.substr(0, 12),
                         t.service_id.substr(0, 12), t.state, t.exit_code,
                         t.err.empty() ? "" : ": " + t.err);
            orchestrator_.on_engine_event(event_of(t, docker::EventKind::Die));
        }
    }
    // A live task whose service is gone (deleted by someone else).
    for (const auto& [id, t] : last_)
        if (!now.count(id) && !t.terminal())
            orchestrator_.on_engine_event(event_of(t, docker::EventKind::Destroy));
    last_ = std::move(now);
    state_.update([](State& s) { ++s.polls; });
}

}  // namespace tenex::sandbox
