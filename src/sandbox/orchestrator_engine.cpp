#include "sandbox/orchestrator_engine.hpp"

namespace tenex::sandbox {

docker::DResult<std::string> DockerEngine::create(const docker::ContainerSpec& spec) {
    return docker::create_container(client_, spec);
}

docker::DStatus DockerEngine::start(const std::string& id) {
    return docker::start_container(client_, id);
}

docker::DStatus DockerEngine::stop(const std::string& id, int timeout_s) {
    return docker::stop_container(client_, id, timeout_s);
}

docker::DStatus DockerEngine::stop_and_remove(const std::string& id, int timeout_s,
                                              std::chrono::milliseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    auto r = docker::stop_container(client_, id, timeout_s, budget);
    if (!r) return r;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
        return docker::DockerError{"remove container " + id, 0, "no time left before the deadline"};
    auto removed = docker::remove_container(client_, id, true, true, left);
    if (!removed && removed.error().not_found()) return Unit{};
    return removed;
}

docker::DStatus DockerEngine::remove(const std::string& id, bool force) {
    auto r = docker::remove_container(client_, id, force, true);
    if (!r && r.error().not_found()) return Unit{};
    return r;
}

docker::DStatus DockerEngine::pause(const std::string& id) {
    return docker::pause_container(client_, id);
}

docker::DStatus DockerEngine::unpause(const std::string& id) {
    return docker::unpause_container(client_, id);
}

docker::DResult<docker::ContainerInfo> DockerEngine::inspect(const std::string& id_or_name) {
    return docker::inspect_container(client_, id_or_name);
}

docker::DResult<std::vector<docker::ContainerSummary>> DockerEngine::list(
    const docker::ListOptions& options) {
    return docker::list_containers(client_, options);
}

docker::DResult<docker::ContainerStats> DockerEngine::stats(const std::string& id) {
    return docker::container_stats(client_, id);
}

docker::DResult<docker::NetworkInfo> DockerEngine::ensure_network(
    const NetworkPlan& plan, const std::map<std::string, std::string>& labels) {
    auto existing = docker::inspect_network(client_, plan.network_name);
    if (existing) return existing;
    if (!existing.error().not_found()) return existing.error();
    docker::NetworkSpec spec;
    spec.name = plan.network_name;
    spec.internal = plan.internal;
    spec.labels = labels;
    if (!plan.bridge.empty()) spec.options[kBridgeNameOption] = plan.bridge;
    auto created = docker::create_network(client_, spec);
    if (!created && !created.error().conflict()) return created.error();
    return docker::inspect_network(client_, plan.network_name);
}

docker::DStatus DockerEngine::remove_network(const std::string& name) {
    auto r = docker::remove_network(client_, name);
    if (!r && r.error().not_found()) return Unit{};
    return r;
}

}  // namespace tenex::sandbox
