// The orchestrator's network side: a project's network exists and is enforced (host filter,
// egress forwarders) before its container is created, again after an adoption, and is
// removed with its rules once the project's container is gone for good.
#include <spdlog/spdlog.h>

#include "sandbox/orchestrator_detail.hpp"

namespace tenex::sandbox {

std::map<std::string, std::string> Orchestrator::network_labels(const ProjectRef& project) const {
    std::map<std::string, std::string> labels{{kLabelManagedBy, kManagedByValue},
                                              {kLabelDaemon, options_.daemon_id},
                                              {kLabelProject, project.address()}};
    for (const auto& [k, v] : options_.extra_labels) labels.emplace(k, v);
    return labels;
}

SpecContext Orchestrator::spec_context(const ProjectRef& project, const std::filesystem::path& dir,
                                       SecretMode secrets) const {
    std::vector<std::string> relays;
    {
        MutexLock lock(relays_mu_);
        relays = relays_;
    }
    auto ctx = project_spec_context(project, dir, options_.daemon_id, secrets, std::move(relays));
    if (!options_.runtime_root.empty())
        ctx.runtime_dir = options_.runtime_root / container_name(project);
    ctx.gateway_port = options_.gateway_port;
    // A container start (the only caller with SecretMode::read) rotates the gateway secret.
    if (secrets == SecretMode::read && options_.gateway_port != 0 && options_.gateway_secret)
        ctx.gateway_secret = options_.gateway_secret(project);
    return ctx;
}

Result<std::vector<std::string>> Orchestrator::prepare_network(const ProjectRef& project,
                                                               const NetworkPlan& plan) {
    auto net = engine_.ensure_network(plan, network_labels(project));
    if (!net) return make_error(net.error().describe());
    auto hosts = enforcer_->enforce(project.address(), plan, *net);
    if (!hosts) return make_error("enforcement: " + hosts.error().message);
    return hosts;
}

void Orchestrator::reenforce_network(const ProjectRef& project, const Policy& policy) {
    auto dir = options_.workspace(project);
    if (!dir) return;
    auto spec = build_sandbox_spec(policy, spec_context(project, *dir, SecretMode::redact));
    if (!spec || spec->network.network_name.empty()) return;
    auto hosts = prepare_network(project, spec->network);
    if (!hosts)
        spdlog::warn("orchestrator: {}: network of the adopted container: {}", project.address(),
                     hosts.error().message);
}

void Orchestrator::teardown_network(const ProjectRef& project) {
    enforcer_->stop_forwarders(project.address());
    const std::string name = network_name(project);
    auto removed = engine_.remove_network(name);
    if (!removed) {
        // Still in use (a new container of the project, or someone else's): keep its rules.
        spdlog::info("orchestrator: {}: network {} kept: {}", project.address(), name,
                     removed.error().describe());
        return;
    }
    enforcer_->remove_rules(bridge_name(project));
    enforcer_->remove_stale_rules();
}

}  // namespace tenex::sandbox
