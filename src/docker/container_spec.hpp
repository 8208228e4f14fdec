// Everything the daemon may ask of a container at create time. The sandbox module fills it
// from a policy; the docker module turns it into the Engine's create request.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "docker/api_version.hpp"

namespace tenex::docker {

struct Ulimit {
    std::string name;  // e.g. "nofile"
    std::int64_t soft = 0;
    std::int64_t hard = 0;
    bool operator==(const Ulimit&) const = default;
};

// A bind mount of a host path (HostConfig.Mounts, type "bind").
struct BindMount {
    std::string source;  // host path, absolute
    std::string target;  // container path, absolute
    bool read_only = false;
    bool operator==(const BindMount&) const = default;
};

struct ContainerSpec {
    std::string name;                       // container name (create ?name=)
    std::string image;                      // a local image reference
    std::vector<std::string> entrypoint{};  // empty: the image's
    std::vector<std::string> cmd{};         // empty: the image's
    std::vector<std::string> env{};         // "KEY=value"
    // The keys of `env` whose values are the policy's secrets: one engine passes them as
    // variables like the rest; the swarm engine takes them out and makes them swarm secrets.
    std::vector<std::string> secret_env{};
    std::map<std::string, std::string> labels{};
    std::string user{};         // "uid:gid" or name; empty: the image's
    std::string working_dir{};  // empty: the image's
    std::string hostname{};
    std::string stop_signal{};            // e.g. "SIGTERM"; empty: the image's
    std::optional<int> stop_timeout_s{};  // seconds between stop signal and SIGKILL

    // HostConfig
    std::int64_t memory_bytes = 0;       // 0: no limit
    std::int64_t memory_swap_bytes = 0;  // memory + swap; == memory: no swap; 0: engine default
    std::int64_t nano_cpus = 0;          // 1e9 = one CPU; 0: no limit
    std::string cpuset_cpus{};           // e.g. "0-1"
    std::optional<std::int64_t> pids_limit{};
    std::vector<Ulimit> ulimits{};
    bool read_only_rootfs = false;
    std::map<std::string, std::string> tmpfs{};  // path -> mount options ("size=64m,mode=1777")
    std::vector<std::string> cap_drop{};         // e.g. {"ALL"}
    std::vector<std::string> cap_add{};
    std::vector<std::string> security_opt{};  // e.g. {"no-new-privileges:true"}
    bool init = false;
    std::vector<BindMount> mounts{};
    std::string network_mode{};  // "none", "bridge", or a network name; empty: engine default
    std::map<std::string, std::string> storage_opt{};  // e.g. {"size": "10G"}
    std::string runtime{};                             // e.g. "runsc"; empty: engine default
    std::vector<std::string> extra_hosts{};            // "name:ip"
    std::vector<std::string> dns{};

    // A swarm service's task template only (one engine has no scheduler): the node resources
    // reserved for the task, and where it may be placed ("node.labels.zone==a"; spread over
    // "node.labels.zone").
    std::int64_t memory_reservation_bytes = 0;
    std::int64_t nano_cpus_reservation = 0;
    std::vector<std::string> placement_constraints{};
    std::vector<std::string> placement_spread{};

    bool operator==(const ContainerSpec&) const = default;
};

// The JSON body of POST /containers/create for the given API version (the name goes in the
// query string, not the body).
nlohmann::json to_create_body(const ContainerSpec& spec, ApiVersion api);

// The spec as the engine reports it back in GET /containers/{id}/json (Config, HostConfig and
// Name). Fields the engine fills with its own defaults (Env from the image, ...) come back
// as the engine holds them. Tolerant of missing or mistyped fields.
ContainerSpec spec_from_inspect(const nlohmann::json& inspect);

}  // namespace tenex::docker
