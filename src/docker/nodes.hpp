// Swarm membership as the engine reports it: whether this engine is in a swarm and may manage
// it (GET /info, Swarm), and the nodes a manager knows (GET /nodes). Used by `doctor --swarm`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "docker/client.hpp"

namespace tenex::docker {

struct SwarmState {
    std::string local_node_state{};  // inactive, pending, active, error, locked
    bool control_available = false;  // this engine is a manager
    std::string node_id{};
    std::string node_address{};
    std::int64_t nodes = 0;
    std::int64_t managers = 0;
    std::string error{};
};

struct NodeInfo {
    std::string id{};
    std::string hostname{};
    std::string role{};          // manager, worker
    std::string availability{};  // active, pause, drain
    std::string state{};         // ready, down, unknown, disconnected
    std::string address{};
    std::string message{};  // why a node is not ready, when the manager knows
    bool leader = false;
    std::map<std::string, std::string> labels{};  // Spec.Labels (the operator's node labels)
};

SwarmState parse_swarm_state(const nlohmann::json& info);
DResult<SwarmState> swarm_state(const Client& client);

// Sorted by hostname, then id. Entries that are not objects are skipped.
std::vector<NodeInfo> parse_nodes(const nlohmann::json& nodes);
DResult<std::vector<NodeInfo>> list_nodes(const Client& client);

}  // namespace tenex::docker
