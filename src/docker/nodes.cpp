#include "docker/nodes.hpp"

#include <algorithm>
#include <tuple>

#include "docker/json_util.hpp"

namespace tenex::docker {

SwarmState parse_swarm_state(const nlohmann::json& info) {
    const auto& swarm = json::object(info, "Swarm");
    SwarmState s;
    s.local_node_state = json::str(swarm, "LocalNodeState");
    s.control_available = json::boolean(swarm, "ControlAvailable");
    s.node_id = json::str(swarm, "NodeID");
    s.node_address = json::str(swarm, "NodeAddr");
    s.nodes = json::i64(swarm, "Nodes");
    s.managers = json::i64(swarm, "Managers");
    s.error = json::str(swarm, "Error");
    return s;
}

DResult<SwarmState> swarm_state(const Client& client) {
    auto r = client.call_json("GET", "/info", "engine info");
    if (!r) return std::move(r).error();
    return parse_swarm_state(*r);
}

std::vector<NodeInfo> parse_nodes(const nlohmann::json& nodes) {
    std::vector<NodeInfo> out;
    if (!nodes.is_array()) return out;
    for (const auto& n : nodes) {
        if (!n.is_object()) continue;
        const auto& spec = json::object(n, "Spec");
        const auto& status = json::object(n, "Status");
        NodeInfo info;
        info.id = json::str(n, "ID");
        info.hostname = json::str(json::object(n, "Description"), "Hostname");
        info.role = json::str(spec, "Role");
        info.availability = json::str(spec, "Availability");
        info.labels = json::str_map(spec, "Labels");
        info.state = json::str(status, "State");
        info.address = json::str(status, "Addr");
        info.message = json::str(status, "Message");
        info.leader = json::boolean(json::object(n, "ManagerStatus"), "Leader");
        out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(), [](const NodeInfo& a, const NodeInfo& b) {
        return std::tie(a.hostname, a.id) < std::tie(b.hostname, b.id);
    });
    return out;
}

DResult<std::vector<NodeInfo>> list_nodes(const Client& client) {
    auto r = client.call_json("GET", "/nodes", "list swarm nodes");
    if (!r) return std::move(r).error();
    return parse_nodes(*r);
}

}  // namespace tenex::docker
