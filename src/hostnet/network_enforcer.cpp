#include "hostnet/network_enforcer.hpp"

#include <arpa/inet.h>

#include <spdlog/spdlog.h>

#include <filesystem>

#include "hostnet/egress_firewall.hpp"

namespace tenex::hostnet {

std::string bridge_interface(const docker::NetworkInfo& network) {
    auto it = network.options.find(kBridgeNameOption);
    if (it != network.options.end() && !it->second.empty()) return it->second;
    return "br-" + network.id.substr(0, 12);
}

Result<std::string> forwarder_address(const std::string& gateway, const std::string& subnet,
                                      int k) {
    if (k == 0) return gateway;
    const auto slash = subnet.find('/');
    in_addr base{};
    if (slash == std::string::npos ||
        inet_pton(AF_INET, subnet.substr(0, slash).c_str(), &base) != 1)
        return make_error("not an IPv4 subnet: " + subnet);
    const int bits = std::atoi(subnet.c_str() + slash + 1);
    if (bits < 8 || bits > 28) return make_error("subnet too small for forwarders: " + subnet);
    const std::uint32_t size = std::uint32_t(1) << (32 - bits);
    if (static_cast<std::uint32_t>(k) + 1 >= size / 2)
        return make_error("too many egress names for subnet " + subnet);
    const std::uint32_t top = (ntohl(base.s_addr) & ~(size - 1)) + size - 1;  // broadcast
    in_addr out{htonl(top - static_cast<std::uint32_t>(k))};
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &out, buf, sizeof buf);
    return std::string(buf);
}

void HostNetworkEnforcer::retire(Project& p) {
    if (!p.proxy) return;
    p.proxy->stop();
    p.refused += p.proxy->refused();
    p.forwarded += p.proxy->forwarded();
    p.proxy.reset();
}

Result<std::vector<std::string>> HostNetworkEnforcer::enforce(const std::string& project,
                                                              const NetworkPlan& plan,
                                                              const docker::NetworkInfo& network) {
    const std::string bridge = bridge_interface(network);
    std::vector<std::string> hosts;
    std::vector<ProxyRoute> routes;
    std::vector<OpenPort> open;
    // isolated: the relay gateway's forwarder is the one destination it may have (the plan
    // holds no other; anything else would be a way out of an isolated network).
    if (plan.mode == NetworkMode::isolated)
        for (const auto& f : plan.forwards)
            if (f.name != kGatewayName)
                return make_error("mode isolated forwards nothing but the relay gateway, not " +
                                  f.name);
    if ((plan.mode == NetworkMode::egress || plan.mode == NetworkMode::isolated) &&
        !plan.forwards.empty()) {
        if (network.gateways.empty() || network.subnets.empty())
            return make_error("network " + network.name + " has no IPv4 gateway");
        std::map<std::string, std::string> address_of;  // name -> host address
        for (const auto& f : plan.forwards) {
            if (!address_of.count(f.name)) {
                auto ip = forwarder_address(network.gateways[0], network.subnets[0],
                                            static_cast<int>(address_of.size()));
                if (!ip) return make_error(ip.error().message);
                if (address_of.size() > 0) {
                    auto added =
                        HostFirewall::run({"ip", "addr", "replace", *ip + "/32", "dev", bridge});
                    if (!added)
                        return make_error("cannot add " + *ip + " to " + bridge + ": " +
                                          added.error().message);
                }
                address_of[f.name] = *ip;
                hosts.push_back(f.name + ":" + *ip);
            }
            const std::string& ip = address_of[f.name];
            routes.push_back(ProxyRoute{.listen_ip = ip,
                                        .listen_port = f.port,
                                        .target_host = f.target_host,
                                        .target_port = f.target_port,
                                        .trusted = f.trusted,
                                        .device = bridge});
            open.push_back(OpenPort{.ip = ip, .port = f.port});
        }
    }
    if (auto fw = HostFirewall::apply(bridge, open); !fw) return make_error(fw.error().message);
    MutexLock lock(mu_);
    Project& p = projects_[project];
    p.bridge = bridge;
    if (p.proxy && p.proxy->routes() == routes) return hosts;
    retire(p);
    if (routes.empty()) return hosts;
    auto proxy = std::make_unique<EgressProxy>(project);
    if (auto started = proxy->start(routes); !started) return make_error(started.error().message);
    p.proxy = std::move(proxy);
    spdlog::info("{}: {}: {} forwarder(s) on {}", to_string(plan.mode), project, routes.size(),
                 bridge);
    return hosts;
}

void HostNetworkEnforcer::stop_forwarders(const std::string& project) {
    MutexLock lock(mu_);
    auto it = projects_.find(project);
    if (it != projects_.end()) retire(it->second);
}

void HostNetworkEnforcer::remove_rules(const std::string& bridge) {
    if (auto r = HostFirewall::remove(bridge); !r)
        spdlog::warn("egress: removing the rules of {}: {}", bridge, r.error().message);
}

void HostNetworkEnforcer::remove_stale_rules() {
    for (const auto& bridge : HostFirewall::bridges()) {
        std::error_code ec;
        if (std::filesystem::exists("/sys/class/net/" + bridge, ec)) continue;
        spdlog::info("egress: removing the rules of {} (its network is gone)", bridge);
        remove_rules(bridge);
    }
}

EnforcementStats HostNetworkEnforcer::stats(const std::string& project) {
    MutexLock lock(mu_);
    EnforcementStats s;
    auto it = projects_.find(project);
    if (it == projects_.end()) return s;
    const Project& p = it->second;
    s.dropped_packets = HostFirewall::dropped_packets(p.bridge);
    s.refused = p.refused + (p.proxy ? p.proxy->refused() : 0);
    s.forwarded = p.forwarded + (p.proxy ? p.proxy->forwarded() : 0);
    return s;
}

EnforcementStats HostNetworkEnforcer::totals() {
    MutexLock lock(mu_);
    EnforcementStats s;
    for (const auto& [name, p] : projects_) {
        s.refused += p.refused + (p.proxy ? p.proxy->refused() : 0);
        s.forwarded += p.forwarded + (p.proxy ? p.proxy->forwarded() : 0);
    }
    return s;
}

}  // namespace tenex::hostnet
