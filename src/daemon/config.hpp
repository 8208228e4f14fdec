// The daemon's configuration: a YAML file (examples/sandbox.yaml documents every key), then
// command-line flags over it. Every value has a safe default; an invalid value stops start-up
// with a message naming the file, line, column and key.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "docker/volume_mapping.hpp"
#include "project/clone.hpp"
#include "project/repo_url.hpp"
#include "relay/store.hpp"
#include "sandbox/diagnostic.hpp"

namespace tenex::daemon {

struct MonitorLimits {
    double events_per_second = 5;            // per whitelisted pubkey (token bucket rate)
    double burst = 20;                       // bucket size
    std::size_t queue_size = 10000;          // events waiting to be routed; overflow is counted
    std::size_t max_projects_per_event = 8;  // distinct projects one event may wake
};

// Per-project series in /metrics (metrics.hpp): one label, project, bounded by the projects
// the daemon knows and capped at max_projects; hosts with very many projects may turn them off.
struct MetricsConfig {
    bool per_project = true;
    std::size_t max_projects = 1000;
};

struct DaemonConfig {
    std::vector<std::string> relays{};  // ws:// or wss:// URLs
    // PEM bundle trusted for wss:// relays instead of the system store (a private CA);
    // empty: the system store. Certificates and host names are verified either way.
    std::filesystem::path relay_ca_file{};
    std::vector<std::string> whitelist{};  // pubkeys, 64 lowercase hex (npubs decoded)
    std::filesystem::path key_file{"/var/lib/tenex-sandbox/daemon.key"};
    std::filesystem::path projects_path{"/var/lib/tenex-sandbox/projects"};
    std::filesystem::path policies_dir{"/etc/tenex-sandbox/policies"};
    std::filesystem::path state_dir{"/var/lib/tenex-sandbox/state"};
    std::string docker_socket{};  // empty: DOCKER_HOST, then /var/run/docker.sock
    // "docker": containers on the engine at docker_socket; "swarm": one service per project on
    // the swarm whose manager docker_socket is (policies/SWARM.md).
    std::string engine{"docker"};
    std::string http_listen{"127.0.0.1:7878"};
    std::string daemon_id{};       // empty: derived from the daemon key's pubkey
    std::string embedded_relay{};  // e.g. "127.0.0.1:7777": local mode
    // What the embedded relay stores (<state_dir>/relay.sqlite3): one event, per author, in
    // total, number of events (the index in memory). Over one, OK false and nothing stored.
    relay::StoreLimits embedded_relay_quota{};
    // The per-project relay gateway (policies/GATEWAY.md) on host loopback: egress projects
    // with network.relays: true reach it (and only it) through their forwarder. "": off, the
    // daemon's relays are forwarded to them as they are.
    std::string gateway_listen{"127.0.0.1:7879"};
    // engine swarm (policies/SWARM.md): the IPv4 address and port of this host where the
    // nodes reach the gateway (the project forwarders connect there); "": gateway.listen when
    // that is a specific address, else no gateway for swarm tasks. On swarm gateway.listen may
    // be such an address (or 0.0.0.0) instead of loopback.
    std::string gateway_advertise{};
    // engine swarm: the image of the project forwarders, as the nodes pull it (the cluster's
    // registry: tenex-sandbox image push tenex-forwarder:latest --registry HOST:PORT).
    std::string gateway_forwarder_image{"tenex-forwarder:latest"};
    // engine swarm: shared storage (policies/SWARM.md, "Workspaces"): the projects' directories
    // (and the runtime's) beneath each path are mounted on the task's node as named volumes of
    // that driver and options ({path} in a value: the directory below the path). None: they
    // are binds of the same path on the node (one shared directory at the same path everywhere).
    std::vector<docker::VolumeMapping> swarm_volumes{};
    // engine swarm: "shared" (above) or "node-local" (policies/SWARM.md, "Workspaces"): each
    // project's directories are local volumes of one node, laid out there by a seed task through
    // the gateway's listener, and the project is pinned to that node; a pinned node that left
    // the swarm or is down longer than swarm_node_lost_after is given up (the project is laid
    // out anew elsewhere from the daemon's copy).
    std::string swarm_workspaces{"shared"};
    std::chrono::milliseconds swarm_node_lost_after{std::chrono::minutes(10)};
    double gateway_writes_per_second = 10;  // per project (token bucket rate)
    double gateway_write_burst = 50;        // bucket size
    // Log format ("text" or "json") and level; "" leaves what the command line set (its
    // --log-format/--log-level win over the file). Read at start, not on SIGHUP.
    std::string log_format{};
    std::string log_level{};
    unsigned start_concurrency = 4;
    bool stop_projects_on_exit = false;
    // Tell each project's owner on Nostr what happens to its sandbox (kinds 24013/34013,
    // lifecycle_nostr.hpp).
    bool lifecycle_events = true;
    // `tenex-sandbox exec|shell` through the HTTP API (exec.enabled). Unset: on when the API
    // listens on loopback or a unix socket, off otherwise.
    std::optional<bool> exec_enabled{};
    MonitorLimits monitor{};
    MetricsConfig metrics{};
    // Disk pressure: while the engine's data root (its DockerRootDir) has less than this free,
    // the daemon removes kept containers (stopped for a warm start), the longest stopped first,
    // one every check (10 s). 0: never.
    std::uint64_t disk_pressure_min_free = 2ULL << 30;
    project::RepoPolicy git{};  // allowed schemes and hosts for clones
    project::CloneLimits clone{};
};

using Diagnostics = std::vector<sandbox::Diagnostic>;

// Parses YAML text (`name` is used in messages). Unknown keys, wrong types and out-of-range
// values are errors; the result holds every error found, not only the first.
Result<DaemonConfig, Diagnostics> parse_config(std::string_view text, const std::string& name);
Result<DaemonConfig, Diagnostics> load_config(const std::filesystem::path& file);

// Checks what spans keys and what flags may have changed: at least one relay (or an embedded
// relay), relay URLs, whitelist entries, paths absolute.
Diagnostics validate_config(const DaemonConfig& config);

// "npub1..." or 64 hex (either case) -> 64 lowercase hex.
Result<std::string> normalize_pubkey(std::string_view text);

}  // namespace tenex::daemon
