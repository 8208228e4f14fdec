#include "docker/networks.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include "docker/json_util.hpp"
#include "docker/url.hpp"

namespace tenex::docker {
namespace {

NetworkInfo network_from(const nlohmann::json& j) {
    NetworkInfo n;
    n.id = json::str(j, "Id");
    n.name = json::str(j, "Name");
    n.driver = json::str(j, "Driver");
    n.internal = json::boolean(j, "Internal");
    n.labels = json::str_map(j, "Labels");
    n.options = json::str_map(j, "Options");
    if (auto* cfg = json::field(json::object(j, "IPAM"), "Config"); cfg && cfg->is_array())
        for (const auto& c : *cfg) {
            if (auto s = json::str(c, "Subnet"); !s.empty()) n.subnets.push_back(s);
            if (auto g = json::str(c, "Gateway"); !g.empty()) n.gateways.push_back(g);
        }
    // The engine leaves the gateway out of its default bridge's IPAM config when it picked the
    // subnet itself (docker0 did not exist when it started, no --bip). The gateway is then the
    // bridge interface's address; the engine is on this host (unix socket), so read it there.
    if (n.gateways.empty() && !n.subnets.empty())
        if (auto it = n.options.find("com.docker.network.bridge.name"); it != n.options.end())
            if (auto ip = host_interface_ipv4(it->second); !ip.empty()) n.gateways.push_back(ip);
    const auto& containers = json::object(j, "Containers");
    for (auto it = containers.begin(); it != containers.end(); ++it)
        n.containers[it.key()] = json::str(*it, "IPv4Address");
    return n;
}

}  // namespace

std::string host_interface_ipv4(const std::string& name) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return {};
    std::string out;
    for (ifaddrs* a = list; a && out.empty(); a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || name != a->ifa_name) continue;
        char buf[INET_ADDRSTRLEN];
        const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
        if (inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) out = buf;
    }
    freeifaddrs(list);
    return out;
}

DResult<std::string> create_network(const Client& client, const NetworkSpec& spec) {
    nlohmann::json body = {{"Name", spec.name},         {"Driver", spec.driver},
                           {"Internal", spec.internal}, {"CheckDuplicate", true},
                           {"Labels", spec.labels},     {"Options", spec.options}};
    std::string op = "create network " + spec.name;
    auto r = client.call_json("POST", "/networks/create", op, body);
    if (!r) return std::move(r).error();
    auto id = json::str(*r, "Id");
    if (id.empty()) return DockerError{op, 201, "engine sent no Id"};
    return id;
}

DResult<NetworkInfo> inspect_network(const Client& client, const std::string& id_or_name) {
    std::string op = "inspect network " + id_or_name;
    auto r = client.call_json("GET", "/networks/" + url_encode(id_or_name), op);
    if (!r) return std::move(r).error();
    if (!r->is_object()) return DockerError{op, 200, "not a JSON object"};
    return network_from(*r);
}

DResult<std::vector<NetworkInfo>> list_networks(const Client& client,
                                                const std::vector<std::string>& labels) {
    std::string path = "/networks";
    if (!labels.empty()) path += "?filters=" + url_encode(nlohmann::json{{"label", labels}}.dump());
    auto r = client.call_json("GET", path, "list networks");
    if (!r) return std::move(r).error();
    std::vector<NetworkInfo> out;
    if (r->is_array())
        for (const auto& n : *r) out.push_back(network_from(n));
    return out;
}

DStatus connect_network(const Client& client, const std::string& network,
                        const std::string& container, const std::vector<std::string>& aliases) {
    nlohmann::json body = {{"Container", container}};
    if (!aliases.empty()) body["EndpointConfig"] = {{"Aliases", aliases}};
    auto r = client.call_json("POST", "/networks/" + url_encode(network) + "/connect",
                              "connect container " + container + " to network " + network, body);
    if (!r) return std::move(r).error();
    return Unit{};
}

DStatus disconnect_network(const Client& client, const std::string& network,
                           const std::string& container, bool force) {
    nlohmann::json body = {{"Container", container}, {"Force", force}};
    auto r =
        client.call_json("POST", "/networks/" + url_encode(network) + "/disconnect",
                         "disconnect container " + container + " from network " + network, body);
    if (!r) return std::move(r).error();
    return Unit{};
}

DStatus remove_network(const Client& client, const std::string& id_or_name) {
    auto r = client.call("DELETE", "/networks/" + url_encode(id_or_name),
                         "remove network " + id_or_name);
    if (!r) return std::move(r).error();
    return Unit{};
}

}  // namespace tenex::docker
