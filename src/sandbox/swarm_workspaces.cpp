// Node-local workspaces on a swarm (policies/SWARM.md, "Workspaces"): the seed task and the pin.
#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/private_file.hpp"
#include "common/sha256.hpp"
#include "docker/logs.hpp"
#include "docker/tar_writer.hpp"
#include "sandbox/runtime_contract.hpp"
#include "sandbox/sandbox_spec.hpp"
#include "sandbox/swarm_engine.hpp"

namespace tenex::sandbox {

namespace {

constexpr const char* kLabelSeedOf = "tenex.seed-of";  // on a seed service: the project's service

// The last line the seed task wrote ("seed: <why>"), else the task's own error.
std::string seed_failure(const docker::Client& client, const std::string& service,
                         const docker::TaskInfo& task) {
    if (auto logs = docker::service_logs(client, service, {.tail = "5"})) {
        std::string text = logs->err.empty() ? logs->out : logs->err;
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        if (auto nl = text.rfind('\n'); nl != std::string::npos) text = text.substr(nl + 1);
        if (!text.empty()) return text;
    }
    return "its task " + task.state + (task.err.empty() ? "" : ": " + task.err);
}

}  // namespace

std::string seed_service_name(const std::string& service) {
    return "tenex-seed-" + sha256_hex(service).substr(0, 16);
}

nlohmann::json seed_service_spec(const SeedSpec& s) {
    nlohmann::json args = {"seed", "--owner", s.owner};
    for (const auto& r : s.replace) {
        args.push_back("--replace");
        args.push_back(r);
    }
    args.push_back(s.url);
    args.push_back("/seed");
    nlohmann::json mounts = nlohmann::json::array();
    for (std::size_t i = 0; i < s.volumes.size(); ++i)
        mounts.push_back(
            {{"Type", "volume"},
             {"Source", s.volumes[i]},
             {"Target", "/seed/" + std::to_string(i)},
             {"VolumeOptions",
              {{"NoCopy", true}, {"Labels", {{"tenex.managed-by", "tenex-sandbox"}}}}}});
    const nlohmann::json labels = {{kLabelSeedOf, s.service}, {kLabelForwarderDaemon, s.daemon_id}};
    nlohmann::json placement = nlohmann::json::object();
    if (!s.constraints.empty()) placement["Constraints"] = s.constraints;
    for (const auto& d : s.spread)
        placement["Preferences"].push_back({{"Spread", {{"SpreadDescriptor", d}}}});
    nlohmann::json task = {
        {"ContainerSpec",
         {{"Image", s.image},
          {"Args", args},
          {"Labels", labels},
          {"User", "0:0"},
          {"ReadOnly", true},
          {"CapabilityDrop", {"ALL"}},
          {"CapabilityAdd", {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"}},
          {"Mounts", mounts}}},
        {"Resources",
         {{"Limits", {{"MemoryBytes", 64LL << 20}, {"NanoCPUs", 500'000'000LL}, {"Pids", 16}}}}},
        {"RestartPolicy", {{"Condition", "none"}, {"MaxAttempts", 0}}},
        {"Networks", nlohmann::json::array({{{"Target", s.uplink_network}}})},
    };
    if (!placement.empty()) task["Placement"] = std::move(placement);
    nlohmann::json reservations = nlohmann::json::object();
    if (s.reserve_nano_cpus > 0) reservations["NanoCPUs"] = s.reserve_nano_cpus;
    if (s.reserve_memory_bytes > 0) reservations["MemoryBytes"] = s.reserve_memory_bytes;
    if (!reservations.empty()) task["Resources"]["Reservations"] = std::move(reservations);
    return {{"Name", seed_service_name(s.service)},
            {"Labels", labels},
            {"TaskTemplate", std::move(task)},
            {"Mode", {{"Replicated", {{"Replicas", 1}}}}},
            {"EndpointSpec", {{"Mode", "dnsrr"}}}};
}

std::vector<docker::VolumeMapping> SwarmEngine::volume_mappings() const {
    if (!options_.node_local.enabled()) return options_.volumes;
    std::vector<docker::VolumeMapping> out;
    for (const auto& root : options_.node_local.roots)
        out.push_back({.path = root, .driver = "local", .options = {}, .node_local = true});
    return out;
}

docker::DResult<std::string> SwarmEngine::place_workspace(const docker::ContainerSpec& spec) {
    const auto& nl = options_.node_local;
    const std::string op = "workspace of " + spec.name;
    auto fail = [&](const std::string& why) { return docker::DockerError{op, 0, why}; };
    // The spec's binds beneath the roots: each a volume of the node, /seed/<index> in the seed.
    std::vector<const docker::BindMount*> binds;
    for (const auto& m : spec.mounts)
        for (const auto& root : nl.roots)
            if (m.source == root || m.source.starts_with(root == "/" ? root : root + "/")) {
                binds.push_back(&m);
                break;
            }
    if (binds.empty()) return std::string();
    std::string pin = nl.pin(spec.name);
    const auto label = spec.labels.find(kLabelProject);
    const std::string project = label != spec.labels.end() ? label->second : spec.name;
    if (!pin.empty()) {
        auto nodes = this->nodes(true);
        if (!nodes) return nodes.error();
        auto it =
            std::find_if(nodes->begin(), nodes->end(), [&](const auto& n) { return n.id == pin; });
        std::string gone;
        const std::string known = it == nodes->end() ? node_name(pin) : std::string();
        {
            MutexLock lock(nodes_mu_);
            if (it == nodes->end()) {
                gone = "node " + (known.empty() ? "" : known + " ") + "(" + pin.substr(0, 12) +
                       ") left the swarm";
            } else if (it->state == "ready") {
                down_since_.erase(pin);
            } else {
                const auto since = down_since_.try_emplace(pin, Clock::now()).first->second;
                const auto down_for =
                    std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - since);
                if (down_for < nl.lost_after)
                    return fail("its workspace is on node " + it->hostname + ", which is " +
                                it->state + " (for " + std::to_string(down_for.count()) +
                                " s): the project starts there when the node is back, or on "
                                "another node from the daemon's copy after " +
                                std::to_string(nl.lost_after.count()) +
                                " s (swarm.node_lost_after)");
                gone = "node " + it->hostname + " is " + it->state + " for " +
                       std::to_string(down_for.count()) + " s";
            }
        }
        if (!gone.empty()) {
            const std::string why =
                "workspace lost: " + gone +
                "; the project is laid out anew on another node from the daemon's copy, without "
                "what its sandbox wrote there";
            spdlog::error("swarm: {}: {}", project, why);
            if (nl.lost) nl.lost(project, why);
            nl.set_pin(spec.name, "");
            pin.clear();
        }
    }
    if (options_.forwarder_image.empty() || !options_.gateway.enabled())
        return fail(
            "node-local workspaces need gateway.forwarder_image and an address the nodes reach "
            "the gateway on (gateway.advertise): the seed task fetches the workspace there");
    const bool first = pin.empty();
    // The archive: every volume the first time; then the runtime's directory only (the files
    // the daemon writes before each start), the node's copy of the rest being the project's.
    docker::TarWriter tar;
    SeedSpec seed{.service = spec.name,
                  .image = pinned(options_.forwarder_image),
                  .uplink_network = uplink_network_name(options_.daemon_id),
                  .daemon_id = options_.daemon_id};
    const auto [uid, gid] = numeric_owner(spec.user);
    seed.owner = uid + ":" + gid;
    for (std::size_t i = 0; i < binds.size(); ++i) {
        const std::string index = std::to_string(i);
        seed.volumes.push_back(docker::node_local_volume(binds[i]->source));
        if (!first && binds[i]->target != kRuntimeBaseDir) continue;
        seed.replace.insert(index);
        if (auto added = tar.add_tree(binds[i]->source, index); !added)
            return fail("archiving " + binds[i]->source + ": " + added.error().message);
    }
    if (seed.replace.empty()) return pin;  // nothing to send: the node has it all
    if (first) {
        // Where the project may run and fits: its placement and its reservations.
        seed.constraints = spec.placement_constraints;
        seed.spread = spec.placement_spread;
        seed.reserve_nano_cpus = spec.nano_cpus_reservation;
        seed.reserve_memory_bytes = spec.memory_reservation_bytes;
    } else {
        seed.constraints = {"node.id==" + pin};
    }
    std::error_code ec;
    std::filesystem::create_directories(nl.spool, ec);
    const auto file = nl.spool / (spec.name + ".tar");
    const std::string archive = tar.finish();
    if (auto w = write_private_file(file.string(), archive, true); !w)
        return fail(w.error().message);
    const std::string path =
        nl.offer(file, std::chrono::duration_cast<std::chrono::seconds>(nl.seed_timeout));
    seed.url = "http://" + options_.gateway.target_ip + ":" +
               std::to_string(options_.gateway.target_port) + path;
    auto task = run_seed(seed);
    nl.withdraw(path);
    std::filesystem::remove(file, ec);
    if (!task) return task.error();
    if (first) {
        nl.set_pin(spec.name, task->node_id);
        spdlog::info(
            "swarm: {}: workspace laid out on node {} ({} bytes), the project is pinned "
            "there",
            project, node_name(task->node_id), archive.size());
    }
    return task->node_id;
}

void SwarmEngine::remove_stale_seeds() {
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(options_.node_local.spool, ec))
        std::filesystem::remove(f.path(), ec);
    auto left = docker::list_services(
        client_, {kLabelSeedOf, std::string(kLabelForwarderDaemon) + "=" + options_.daemon_id});
    if (!left) {
        spdlog::warn("swarm: seed services: {}", left.error().describe());
        return;
    }
    for (const auto& svc : *left) {
        spdlog::info("swarm: removing the seed service {} an earlier run left", svc.name);
        if (auto r = docker::remove_service(client_, svc.id); !r)
            spdlog::warn("swarm: removing {}: {}", svc.name, r.error().describe());
    }
}

docker::DResult<docker::TaskInfo> SwarmEngine::run_seed(const SeedSpec& seed) {
    const std::string name = seed_service_name(seed.service);
    const std::string op = "seed task " + name;
    docker::DResult<std::string> id = std::string();
    {
        // Made under the forwarders' lock: the uplink is not removed meanwhile, and once the
        // seed service exists its daemon label keeps it (remove_forwarders). Seeds of several
        // projects then run at once.
        MutexLock lock(forwarders_mu_);
        if (auto up = ensure_uplink(seed.uplink_network); !up) return up.error();
        (void)docker::remove_service(client_, name);  // one left by a daemon that died meanwhile
        id = docker::create_service(client_, seed_service_spec(seed));
    }
    if (!id) return id.error();
    const auto deadline = Clock::now() + options_.node_local.seed_timeout;
    std::optional<docker::TaskInfo> done;
    std::optional<docker::DockerError> error;
    while (!done && !error) {
        auto tasks = list_tasks({.services = {*id}, .labels = {}});
        if (!tasks) {
            error = tasks.error();
            break;
        }
        const auto* newest = docker::newest_task(*tasks);
        if (newest && newest->terminal()) {
            if (newest->state == "complete")
                done = *newest;
            else
                error = docker::DockerError{op, 0,
                                            "on node " + node_name(newest->node_id) + ": " +
                                                seed_failure(client_, *id, *newest)};
        } else if (Clock::now() >= deadline) {
            error =
                docker::DockerError{op, 0,
                                    newest && newest->state == "pending"
                                        ? "no node takes it (" + newest->err + newest->message + ")"
                                        : "not done by the deadline"};
        } else {
            std::this_thread::sleep_for(options_.poll);
        }
    }
    if (auto removed = docker::remove_service(client_, *id); !removed)
        spdlog::warn("swarm: {}: {}", op, removed.error().describe());
    if (error) return *error;
    return *done;
}

}  // namespace tenex::sandbox
