// Which destinations count as public: what an untrusted egress forward may connect to, on the
// daemon's host (egress_proxy) and in the forwarder services of a swarm (images/forwarder,
// which compiles public_address.cpp on its own: it uses nothing else of the project).
#pragma once

#include <sys/socket.h>

#include <string>

namespace tenex::hostnet {

// False for loopback, private (RFC 1918, CGNAT, ULA), link-local (metadata), multicast,
// unspecified and reserved addresses; IPv4-mapped IPv6 is judged as IPv4.
bool is_public_address(const sockaddr* address);

// The address as text ("203.0.113.5", "2001:db8::1"), "?" for another family: for the refusals
// both forwarders log.
std::string address_text(const sockaddr* address);

}  // namespace tenex::hostnet
