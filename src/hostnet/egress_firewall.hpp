// Host-side packet filtering for the per-project networks: traffic that enters the host from a
// project's bridge (the INPUT path: the gateway address, docker0's address, every other host
// address) is dropped except the egress forwarders' own ip:port pairs. The rules live in the
// chain TENEX-INPUT (jumped to first from INPUT), each tagged with the comment
// "tenex:<bridge>", so they are found, replaced and removed per network. Each change reads the
// filter table once (`iptables -S -v`) and applies what differs in one `iptables-restore
// --noflush` transaction: two processes per start instead of one per rule and check, and no
// state between two rule changes ever exists on the host.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace tenex::hostnet {

inline constexpr const char* kFirewallChain = "TENEX-INPUT";

struct OpenPort {
    std::string ip{};  // a host address on the bridge
    int port = 0;      // TCP
    bool operator==(const OpenPort&) const = default;
};

class HostFirewall {
  public:
    // Makes the bridge's rules exactly: established/related accepted, the given ports
    // accepted, everything else from the bridge dropped. Idempotent; never opens a window
    // (the drop rule stays while accept rules change).
    static Status apply(const std::string& bridge, const std::vector<OpenPort>& open);
    // Removes every rule of the bridge.
    static Status remove(const std::string& bridge);
    // Bridges that have rules in the chain.
    static std::vector<std::string> bridges();
    // Packets the bridge's drop rule has dropped (denied attempts); 0 without rules.
    static std::uint64_t dropped_packets(const std::string& bridge);
    // Runs a command (no shell) with input as its stdin; stdout on success, stderr and the
    // exit status otherwise.
    static Result<std::string> run(const std::vector<std::string>& argv,
                                   std::string_view input = {});
};

}  // namespace tenex::hostnet
