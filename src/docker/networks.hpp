// Network calls of the Engine API.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "docker/client.hpp"

namespace tenex::docker {

struct NetworkSpec {
    std::string name{};
    std::string driver = "bridge";
    bool internal = false;  // no route to the outside world (see PROTOCOL.md for the host)
    std::map<std::string, std::string> labels{};
    std::map<std::string, std::string> options{};  // driver options
};

struct NetworkInfo {
    std::string id{};
    std::string name{};
    std::string driver{};
    bool internal = false;
    std::map<std::string, std::string> labels{};
    std::map<std::string, std::string> options{};  // driver options
    std::vector<std::string> subnets{};
    // IPAM gateways; for a bridge whose IPAM config names none (see inspect_network), the
    // bridge interface's own IPv4 address.
    std::vector<std::string> gateways{};
    std::map<std::string, std::string> containers{};  // container id -> IPv4 address (CIDR)
};

// Returns the id. An existing name is a conflict() error.
DResult<std::string> create_network(const Client& client, const NetworkSpec& spec);
DResult<NetworkInfo> inspect_network(const Client& client, const std::string& id_or_name);
// The first IPv4 address of a host network interface ("docker0"), or "" if it has none.
std::string host_interface_ipv4(const std::string& name);
DResult<std::vector<NetworkInfo>> list_networks(const Client& client,
                                                const std::vector<std::string>& labels = {});
DStatus connect_network(const Client& client, const std::string& network,
                        const std::string& container, const std::vector<std::string>& aliases = {});
DStatus disconnect_network(const Client& client, const std::string& network,
                           const std::string& container, bool force = false);
DStatus remove_network(const Client& client, const std::string& id_or_name);

}  // namespace tenex::docker
