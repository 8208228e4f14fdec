// The host side of the isolated and egress network modes (see policies/README.md):
// packet filtering of everything that enters the host from a project's bridge, and the
// forwarders that are the only way out: for egress its allowed names and relays (or the relay
// gateway), for isolated the relay gateway alone (relays: true). Called from the orchestrator's
// workers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/thread_annotations.hpp"
#include "docker/networks.hpp"
#include "hostnet/egress_proxy.hpp"
#include "hostnet/network_plan.hpp"

namespace tenex::hostnet {

struct EnforcementStats {
    std::uint64_t dropped_packets = 0;  // stopped by the host filter
    std::uint64_t refused = 0;          // forwarder: name unresolvable or not public
    std::uint64_t forwarded = 0;        // forwarder: connections passed through
};

class NetworkEnforcer {
  public:
    virtual ~NetworkEnforcer() = default;
    // Brings filter and forwarders in line with the plan for the created network; returns
    // the "name:ip" /etc/hosts entries the container needs (ExtraHosts).
    virtual Result<std::vector<std::string>> enforce(const std::string& project,
                                                     const NetworkPlan& plan,
                                                     const docker::NetworkInfo& network) = 0;
    // Stops the project's forwarders (its container is gone).
    virtual void stop_forwarders(const std::string& project) = 0;
    // Removes the filter rules of a bridge (after its network was removed).
    virtual void remove_rules(const std::string& bridge) = 0;
    // Removes the rules of bridges that no longer exist on this host.
    virtual void remove_stale_rules() = 0;
    virtual EnforcementStats stats(const std::string& project) = 0;
    // Connections refused and forwarded by every project's forwarders since the start.
    virtual EnforcementStats totals() = 0;
};

// The host interface of a Docker bridge network.
std::string bridge_interface(const docker::NetworkInfo& network);
// The host address the forwarders of the k-th distinct name listen on: the gateway for k=0,
// then addresses counted down from the top of the subnet (IPAM hands out from the bottom).
Result<std::string> forwarder_address(const std::string& gateway, const std::string& subnet, int k);

// iptables (HostFirewall) and EgressProxy. Needs root (CAP_NET_ADMIN).
class HostNetworkEnforcer final : public NetworkEnforcer {
  public:
    Result<std::vector<std::string>> enforce(const std::string& project, const NetworkPlan& plan,
                                             const docker::NetworkInfo& network) override;
    void stop_forwarders(const std::string& project) override;
    void remove_rules(const std::string& bridge) override;
    void remove_stale_rules() override;
    EnforcementStats stats(const std::string& project) override;
    EnforcementStats totals() override;

  private:
    struct Project {
        std::string bridge{};
        std::unique_ptr<EgressProxy> proxy{};
        std::uint64_t refused = 0, forwarded = 0;  // of proxies already stopped
    };
    static void retire(Project& p);
    Mutex mu_;
    std::map<std::string, Project> projects_ TENEX_GUARDED_BY(mu_);
};

}  // namespace tenex::hostnet
