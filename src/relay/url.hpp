// ws:// and wss:// relay URLs, parsed into what libwebsockets needs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tenex::relay {

struct RelayUrl {
    bool tls{false};
    std::string host{};  // without brackets for IPv6
    std::uint16_t port{0};
    std::string path{"/"};     // with the query, if any
    std::string normalized{};  // scheme://host[:port]path, lowercase scheme and host

    // Rejects other schemes, user info (credentials never go in relay URLs), empty hosts,
    // bad ports, whitespace and control characters.
    static Result<RelayUrl> parse(std::string_view url);
};

}  // namespace tenex::relay
