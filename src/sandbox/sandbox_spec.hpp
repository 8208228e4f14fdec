// From a resolved policy to exactly one Docker container spec (plus the network it needs),
// with a deterministic name, the labels the daemon finds its containers by, and a digest of
// everything that shapes the container.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "docker/container_spec.hpp"
#include "sandbox/policy.hpp"
#include "sandbox/project_ref.hpp"

namespace tenex::sandbox {

// Labels on every managed container (the orchestrator lists and reconciles by them).
inline constexpr const char* kLabelManagedBy = "tenex.managed-by";
inline constexpr const char* kManagedByValue = "tenex-sandbox";
inline constexpr const char* kLabelDaemon = "tenex.daemon";
inline constexpr const char* kLabelProject = "tenex.project";
inline constexpr const char* kLabelPolicyDigest = "tenex.policy-digest";
inline constexpr const char* kWorkspace = "/workspace";

// What the network side must provide for the container (created before it, see README).
struct NetworkPlan {
    NetworkMode mode = NetworkMode::none;
    std::string network_name{};      // isolated/egress: the per-project network to create
    bool internal = false;           // create it with Internal: true (no route out)
    std::vector<HostPort> allow{};   // egress: the only destinations the enforcer lets through
    bool operator==(const NetworkPlan&) const = default;
};

struct SandboxSpec {
    docker::ContainerSpec container{};
    NetworkPlan network{};
    std::string digest{};  // sha256 hex of the canonical form; also the policy-digest label
};

// How secrets get their values: `read` reads each host file (at container start);
// `redact` puts a marker in their place (for `policy render`, digests and logs).
enum class SecretMode { read, redact };

struct SpecContext {
    ProjectRef project{};
    std::string naddr{};                   // the project's naddr, for {naddr}; may be empty
    std::filesystem::path project_dir{};   // absolute host path of the project's directory
    std::string daemon_id{};               // the daemon's identity (label)
    SecretMode secrets = SecretMode::read;
};

// "tenex-<d, sanitized, at most 40 chars>-<12 hex of sha256(address)>": valid for Docker,
// readable, and different for different addresses.
std::string container_name(const ProjectRef& project);
// The per-project network for isolated and egress modes: "tenex-net-<same suffix>".
std::string network_name(const ProjectRef& project);
// {address} {d} {naddr} {owner} replaced; everything else kept as written.
std::string expand_placeholders(const std::string& text, const SpecContext& ctx);

// Builds the spec. Fails when the project directory is not absolute or a secret file cannot
// be read (the reason names the variable and the file, never the value).
Result<SandboxSpec> build_sandbox_spec(const Policy& policy, const SpecContext& ctx);

// The marker that stands for a secret's value in redacted specs.
std::string redacted_secret(const std::string& file);

}  // namespace tenex::sandbox
