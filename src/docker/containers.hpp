// Typed container calls of the Engine API. All are safe to call from several threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "docker/client.hpp"
#include "docker/container_spec.hpp"

namespace tenex::docker {

struct ContainerState {
    std::string status{};  // created, running, paused, restarting, removing, exited, dead
    bool running = false;
    bool paused = false;
    bool restarting = false;
    bool oom_killed = false;
    bool dead = false;
    int pid = 0;
    int exit_code = 0;
    std::string error{};
    std::string started_at{};  // RFC 3339; "0001-01-01T00:00:00Z" when never started
    std::string finished_at{};
};

struct ContainerInfo {
    std::string id{};
    std::string name{};  // without the leading '/'
    std::string image_id{};
    std::string created{};
    ContainerState state{};
    ContainerSpec spec{};  // Config + HostConfig as the engine holds them
    std::map<std::string, std::string> network_ips{};  // network name -> IPv4 address
    std::string node_id{};    // swarm: the node of the service's newest task; empty otherwise
    std::string node_name{};  // swarm: that node's hostname, when the manager knows the node
    // What ps and the metrics name the node by: its hostname, else its id; empty off swarm.
    const std::string& node() const { return node_name.empty() ? node_id : node_name; }
};

// One entry of GET /containers/json.
struct ContainerSummary {
    std::string id{};
    std::vector<std::string> names{};  // without the leading '/'
    std::string image{};
    std::string state{};   // running, exited, ...
    std::string status{};  // "Up 2 minutes", ...
    std::int64_t created = 0;
    std::map<std::string, std::string> labels{};
};

struct ListOptions {
    bool all = false;                   // include stopped containers
    std::vector<std::string> labels{};  // "key" or "key=value"; all must match
    std::vector<std::string> names{};   // name filters (substring match by the engine)
};

enum class WaitCondition { NotRunning, NextExit, Removed };

struct WaitResult {
    int status_code = 0;
    std::string error{};
};

// Parsers, exposed for tests and benchmarks.
Result<ContainerInfo> parse_container_inspect(std::string_view body);
Result<std::vector<ContainerSummary>> parse_container_list(std::string_view body);
std::string list_query(const ListOptions& options);  // "?all=1&filters=..."

// POST /containers/create?name=: returns the id. A taken name is a conflict() error.
DResult<std::string> create_container(const Client& client, const ContainerSpec& spec);
DStatus start_container(const Client& client, const std::string& id);
// Already stopped (304) counts as success. timeout_s: seconds before SIGKILL (-1: engine's).
// budget: how long to wait for the engine's answer (0: the client's timeout plus timeout_s).
DStatus stop_container(const Client& client, const std::string& id, int timeout_s = -1,
                       std::chrono::milliseconds budget = {});
// Freezes every process of the container (cgroup freezer) / thaws them again. The engine
// answers 409 for a container that is not running (pause) or not paused (unpause).
DStatus pause_container(const Client& client, const std::string& id);
DStatus unpause_container(const Client& client, const std::string& id);
DStatus kill_container(const Client& client, const std::string& id,
                       const std::string& signal = "SIGKILL");
// timeout: how long to wait for the engine's answer (0: the client's timeout).
DStatus remove_container(const Client& client, const std::string& id, bool force = false,
                         bool volumes = false, std::chrono::milliseconds timeout = {});
DResult<ContainerInfo> inspect_container(const Client& client, const std::string& id);
DResult<std::vector<ContainerSummary>> list_containers(const Client& client,
                                                       const ListOptions& options = {});
// Blocks until the condition holds or timeout passes (a transport error).
DResult<WaitResult> wait_container(const Client& client, const std::string& id,
                                   WaitCondition condition = WaitCondition::NotRunning,
                                   std::chrono::milliseconds timeout = std::chrono::minutes(5));

}  // namespace tenex::docker
