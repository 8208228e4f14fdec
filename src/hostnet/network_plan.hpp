// What the host side must provide for one container's network: the mode, the per-project
// network, and the destinations its forwarders serve. The sandbox module builds a plan from a
// policy (sandbox/sandbox_spec.hpp); the enforcer (network_enforcer.hpp) carries it out.
#pragma once

#include <string>
#include <vector>

namespace tenex::hostnet {

enum class NetworkMode { none, isolated, egress, open };

std::string to_string(NetworkMode m);

// The Docker network option that names a bridge network's host interface.
inline constexpr const char* kBridgeNameOption = "com.docker.network.bridge.name";
// The name the daemon's relay gateway has inside a container (egress or isolated with
// relays: true).
inline constexpr const char* kGatewayName = "tenex-gateway";

// One allowlisted destination for egress: a DNS name (or IP literal) and a port.
struct HostPort {
    std::string host{};
    int port = 0;
    std::string to_string() const { return host + ":" + std::to_string(port); }
    bool operator==(const HostPort&) const = default;
};

// One destination the egress enforcer serves: the container connects to `name:port` (name
// mapped to a host address of its network through /etc/hosts), the host side resolves
// `target_host` at connect time and connects to `target_port`.
struct Forward {
    std::string name{};
    int port = 0;
    std::string target_host{};
    int target_port = 0;
    bool trusted = false;  // the daemon's own relay: loopback/private targets allowed
    bool operator==(const Forward&) const = default;
};

// What the network side must provide for the container (created before it, see README).
struct NetworkPlan {
    NetworkMode mode = NetworkMode::none;
    std::string network_name{};       // isolated/egress: the per-project network to create
    std::string bridge{};             // its host interface name (<= 15 chars)
    bool internal = false;            // create it with Internal: true (no route out)
    std::vector<HostPort> allow{};    // egress: the only destinations the enforcer lets through
    std::vector<Forward> forwards{};  // egress: allow entries and the daemon's relays (or
                                      // its gateway); isolated: the gateway or nothing
    std::vector<std::string> relay_urls{};  // relays: true: the relays (or the gateway, its
                                            // secret redacted) as seen from inside
    bool operator==(const NetworkPlan&) const = default;
};

}  // namespace tenex::hostnet
