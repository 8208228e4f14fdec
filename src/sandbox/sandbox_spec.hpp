// From a resolved policy to exactly one Docker container spec (plus the network it needs),
// with a deterministic name, the labels the daemon finds its containers by, and a digest of
// everything that shapes the container.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "docker/container_spec.hpp"
#include "hostnet/network_plan.hpp"
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

// The upstream resolver of a container on a project network (isolated, egress): an address
// of TEST-NET-1 (RFC 5737), which no route inside an internal network reaches. Without it
// Docker's embedded resolver (127.0.0.11) takes the host's resolv.conf, and a loopback
// resolver there (127.0.0.1: dnsmasq, unbound) is queried *from the host's namespace*, so a
// name looked up inside an internal network left the host (CVE-2024-29018; Debian 12's
// Docker 20.10 has it). With it the query is sent from the container's namespace and fails
// there at once. Container names on the network still resolve; allowed names come from
// /etc/hosts.
inline constexpr const char* kNoUpstreamResolver = "192.0.2.53";
// What stands for the gateway secret in redacted specs and digests.
inline constexpr const char* kRedactedGatewaySecret = "<gateway secret>";

// The network vocabulary of a spec (defined by the host side, hostnet).
using hostnet::Forward;
using hostnet::kBridgeNameOption;
using hostnet::kGatewayName;
using hostnet::NetworkPlan;

struct SandboxSpec {
    docker::ContainerSpec container{};
    NetworkPlan network{};
    std::string llm_url{};    // tenex.llm.base_url as seen from inside; empty: the provider's own
    std::string embed_url{};  // tenex.llm.embed_base_url as seen from inside; empty: none
    // The relays as the container gets them (TENEX_RELAYS): with the gateway's secret when it
    // was built with SecretMode::read (for the TENEX runtime's config.json).
    std::vector<std::string> container_relays{};
    std::string digest{};  // sha256 hex of the canonical form; also the policy-digest label
};

// How secrets get their values: `read` reads each host file (at container start);
// `redact` puts a marker in their place (for `policy render`, digests and logs).
enum class SecretMode { read, redact };

struct SpecContext {
    ProjectRef project{};
    std::string naddr{};                  // the project's naddr, for {naddr}; may be empty
    std::filesystem::path project_dir{};  // absolute host path of the project's directory
    std::string daemon_id{};              // the daemon's identity (label)
    SecretMode secrets = SecretMode::read;
    std::vector<std::string> relays{};  // the daemon's relay URLs (for network.relays)
    // The TENEX runtime's global directory on the host (policies with tenex.llm); mounted at
    // /tenex. Empty: such a policy cannot be built.
    std::filesystem::path runtime_dir{};
    // The daemon's relay gateway (issue 15) on host loopback; 0: none, the relays themselves
    // are forwarded. With a gateway, network.relays gives the container one forwarder,
    // kGatewayName:<port>, and TENEX_RELAYS=ws://tenex-gateway:<port>/<gateway_secret>.
    std::uint16_t gateway_port = 0;
    std::string gateway_secret{};  // this container's (SecretMode::read)
};

// The context every project's container is built with: its naddr (for {naddr} and
// TENEX_PROJECT_NADDR) encoded from the address when the owner is known.
SpecContext project_spec_context(const ProjectRef& project, std::filesystem::path project_dir,
                                 std::string daemon_id, SecretMode secrets,
                                 std::vector<std::string> relays = {});

// "tenex-<d, sanitized, at most 40 chars>-<12 hex of sha256(address)>": valid for Docker,
// readable, and different for different addresses.
std::string container_name(const ProjectRef& project);
// The per-project network for isolated and egress modes: "tenex-net-<same suffix>".
std::string network_name(const ProjectRef& project);
// The host interface of that network: "tnx-<11 hex of sha256(address)>" (15 chars, the limit).
std::string bridge_name(const ProjectRef& project);

// A relay URL split for forwarding. Loopback and IP-literal hosts cannot be mapped by name,
// so they get the synthetic name "tenex-relay-<index>".
struct RelayRoute {
    Forward forward{};
    std::string inside_url{};  // the URL that works from inside the container
};
Result<RelayRoute> relay_route(const std::string& url, int index);
// {address} {d} {naddr} {owner} replaced; everything else kept as written.
std::string expand_placeholders(const std::string& text, const SpecContext& ctx);

// Builds the spec. Fails when the project directory is not absolute or a secret file cannot
// be read (the reason names the variable and the file, never the value).
Result<SandboxSpec> build_sandbox_spec(const Policy& policy, const SpecContext& ctx);

// Checks the host side of the policy's mounts just before a container is created, since the
// project directory is the sandbox's to change (it can swap a directory for a link between two
// runs) and the cloned repository's (it can commit one): every source must resolve beneath the
// project directory with no symbolic link in any component, and a read-only source must have
// no mount point beneath it (the engine's read-only binds are not recursive before API 1.44, so
// a submount would stay writable). `mountinfo` is a /proc/<pid>/mountinfo text; empty reads
// this process's own.
Status verify_mount_sources(const Policy& policy, const std::filesystem::path& project_dir,
                            std::string_view mountinfo = {});

// The marker that stands for a secret's value in redacted specs.
std::string redacted_secret(const std::string& file);

}  // namespace tenex::sandbox
