// Where a server listens, the one reader of the project's listen options: the HTTP API
// (`http.listen`, also a unix socket), the embedded relay, the project gateway and
// `tenex-sandbox relay --listen` (TCP only).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tenex {

struct ListenAddress {
    bool unix_socket{false};
    std::string host{};  // without brackets
    std::uint16_t port{0};
    std::string path{};  // the unix socket's absolute path

    // A unix socket, "localhost", 127.0.0.0/8 or ::1.
    bool loopback() const;
    // As written back: "unix:/path", "host:port" or "[v6]:port".
    std::string to_string() const;
};

// "HOST:PORT", "[IPv6]:PORT" (port 0 picks a free one) or "unix:/absolute/path". The host is
// an address or a name (letters, digits, '.', '-'); every interface is "0.0.0.0" or "[::]".
Result<ListenAddress> parse_listen_address(std::string_view text);

// The same for servers that listen on TCP only: a unix socket is refused with the reason.
Result<ListenAddress> parse_tcp_listen_address(std::string_view text);

}  // namespace tenex
