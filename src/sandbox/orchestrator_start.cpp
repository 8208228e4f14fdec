// The worker side of a start: claiming the container name (adopting this daemon's own
// container when it holds it), creating and starting.
#include <spdlog/spdlog.h>

#include "common/disk_quota.hpp"
#include "sandbox/orchestrator_detail.hpp"
#include "sandbox/runtime_contract.hpp"

namespace tenex::sandbox {

using namespace detail;

// resources.disk on the project directory (a btrfs subvolume's qgroup), set before every
// start, so a changed policy applies even to a kept container. A limit that cannot be
// enforced refuses the start with the reason; a limit the policy dropped that cannot be
// cleared only warns (the project runs, limited as before).
Status Orchestrator::apply_workspace_limit(const ProjectRef& project, const Policy& policy,
                                           const std::filesystem::path& dir) {
    const auto bytes = policy.resources.disk_bytes;
    auto st = disk::apply_limit(dir, bytes);
    if (st || bytes <= 0) {
        if (!st) spdlog::warn("orchestrator: {}: {}", project.address(), st.error().message);
        return Unit{};
    }
    spdlog::error("orchestrator: {}: start refused: {}", project.address(), st.error().message);
    return st.error();
}

// A kept container whose digest label is the current spec's is started as it is: its
// environment (secrets, the gateway secret it was given, which stays valid until the next
// create) and its network are those it was created with. Nullopt: not possible, create anew.
std::optional<Orchestrator::StartOutcome> Orchestrator::warm_start(const ProjectRef& project,
                                                                   const Policy& policy,
                                                                   const std::string& id) {
    auto dir = options_.workspace(project);
    if (!dir) return std::nullopt;
    if (!apply_workspace_limit(project, policy, *dir)) return std::nullopt;  // do_start says why
    // Redacted: the digest is the same, and no new gateway secret is made.
    auto spec = build_sandbox_spec(policy, spec_context(project, *dir, SecretMode::redact));
    if (!spec) return std::nullopt;
    auto info = engine_.inspect(id);
    if (!info || info->state.running) return std::nullopt;
    auto label = info->spec.labels.find(kLabelPolicyDigest);
    if (label == info->spec.labels.end() || label->second != spec->digest) {
        spdlog::info("orchestrator: {}: the kept container {} is out of date: created anew",
                     project.address(), id.substr(0, 12));
        return std::nullopt;
    }
    if (auto mounts = verify_mount_sources(policy, *dir); !mounts) return std::nullopt;
    if (!spec->network.network_name.empty()) {
        auto hosts = prepare_network(project, spec->network);  // forwarders and rules again
        if (!hosts) return std::nullopt;
    }
    auto started = engine_.start(id);
    if (!started) {
        spdlog::warn("orchestrator: {}: starting the kept container {}: {}; created anew",
                     project.address(), id.substr(0, 12), started.error().describe());
        return std::nullopt;
    }
    auto after = engine_.inspect(id);
    return StartOutcome{.id = id,
                        .name = info->name,
                        .digest = spec->digest,
                        .started_at = after ? after->state.started_at : std::string(),
                        .node = after ? after->node() : std::string(),
                        .adopted = false,
                        .warm = true};
}

Result<Orchestrator::StartOutcome> Orchestrator::do_start(const ProjectRef& project,
                                                          const Policy& policy,
                                                          const std::string& old_id, bool warm) {
    if (warm && !old_id.empty())
        if (auto outcome = warm_start(project, policy, old_id)) return std::move(*outcome);
    if (!old_id.empty()) (void)engine_.remove(old_id, true);
    auto dir = options_.workspace(project);
    if (!dir) return make_error("workspace: " + dir.error().message);
    if (auto limited = apply_workspace_limit(project, policy, *dir); !limited)
        return limited.error();
    const SpecContext ctx = spec_context(project, *dir, SecretMode::read);
    auto spec = build_sandbox_spec(policy, ctx);
    if (!spec) return make_error("container spec: " + spec.error().message);
    if (auto mounts = verify_mount_sources(policy, *dir); !mounts) return mounts.error();
    if (policy.llm.enabled()) {
        auto prepared = prepare_runtime_dir(ctx.runtime_dir, *dir, policy,
                                            RuntimeInputs{.owner = project.owner,
                                                          .d = project.d,
                                                          .relays = spec->container_relays,
                                                          .llm_url = spec->llm_url,
                                                          .embed_url = spec->embed_url});
        if (!prepared) return make_error("TENEX runtime: " + prepared.error().message);
    }
    for (const auto& [k, v] : options_.extra_labels) spec->container.labels.emplace(k, v);
    if (!spec->network.network_name.empty()) {
        auto hosts = prepare_network(project, spec->network);
        if (!hosts) return make_error("network: " + hosts.error().message);
        for (auto& h : *hosts) spec->container.extra_hosts.push_back(std::move(h));
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
        auto id = engine_.create(spec->container);
        if (id) {
            auto started = engine_.start(*id);
            if (!started) {
                (void)engine_.remove(*id, true);
                return make_error(started.error().describe());
            }
            auto info = engine_.inspect(*id);
            return StartOutcome{.id = *id,
                                .name = spec->container.name,
                                .digest = spec->digest,
                                .started_at = info ? info->state.started_at : std::string(),
                                .node = info ? info->node() : std::string(),
                                .adopted = false};
        }
        if (!id.error().conflict()) return make_error(id.error().describe());
        if (auto claimed = claim_taken_name(project, policy, *spec)) return std::move(*claimed);
    }
    return make_error("could not claim the container name " + spec->container.name);
}

// The name is taken: by our own container (another trigger path, another process of this
// daemon), or by something we must not touch. Adopts our own current container, refuses a
// foreign one, or clears the name and returns nullopt (create again).
std::optional<Result<Orchestrator::StartOutcome>> Orchestrator::claim_taken_name(
    const ProjectRef& project, const Policy& policy, const SandboxSpec& spec) {
    const std::string& name = spec.container.name;
    auto existing = engine_.inspect(name);
    if (!existing) {
        if (existing.error().not_found()) return std::nullopt;  // removed meanwhile: try again
        return make_error(existing.error().describe());
    }
    const auto& labels = existing->spec.labels;
    auto label = [&](const char* k) {
        auto it = labels.find(k);
        return it == labels.end() ? std::string() : it->second;
    };
    if (label(kLabelManagedBy) != kManagedByValue || label(kLabelDaemon) != options_.daemon_id ||
        label(kLabelProject) != project.address())
        return make_error("the container name " + name +
                          " is taken by a container this daemon does not manage");
    const bool current = label(kLabelPolicyDigest) == spec.digest;
    // A paused one (left by another process of this daemon) is thawed, and adopted when current.
    // One that is not current is thawed too before it goes, so that it takes its stop signal
    // (a frozen process cannot: a forced removal would SIGKILL it).
    if (existing->state.paused) {
        const bool thawed = static_cast<bool>(engine_.unpause(existing->id));
        if (!current || !thawed) {
            if (thawed) (void)engine_.stop(existing->id, stop_seconds(policy));
            (void)engine_.remove(existing->id, true);
            return std::nullopt;
        }
    }
    if (current && existing->state.running)
        return StartOutcome{.id = existing->id,
                            .name = name,
                            .digest = spec.digest,
                            .started_at = existing->state.started_at,
                            .node = existing->node(),
                            .adopted = true};
    if (current && existing->state.status == "created") {
        auto started = engine_.start(existing->id);
        if (started) {
            auto info = engine_.inspect(existing->id);
            return StartOutcome{.id = existing->id,
                                .name = name,
                                .digest = spec.digest,
                                .started_at = info ? info->state.started_at : std::string(),
                                .node = info ? info->node() : std::string(),
                                .adopted = true};
        }
    }
    if (existing->state.running) (void)engine_.stop(existing->id, stop_seconds(policy));
    (void)engine_.remove(existing->id, true);
    return std::nullopt;
}

}  // namespace tenex::sandbox
