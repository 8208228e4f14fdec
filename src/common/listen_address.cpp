#include "common/listen_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cctype>
#include <charconv>

namespace tenex {

bool ListenAddress::loopback() const {
    if (unix_socket) return true;
    if (host == "localhost") return true;
    in_addr v4{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

std::string ListenAddress::to_string() const {
    if (unix_socket) return "unix:" + path;
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
    ListenAddress a;
    if (text.starts_with("unix:")) {
        a.unix_socket = true;
        a.path = std::string(text.substr(5));
        if (a.path.empty() || a.path.front() != '/')
            return make_error("the unix socket path must be absolute: 'unix:/path'");
        if (a.path.find('\0') != std::string::npos) return make_error("NUL in the socket path");
        if (a.path.size() >= sizeof(sockaddr_un::sun_path))
            return make_error("the unix socket path is too long (max " +
                              std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
        return a;
    }
    std::string_view host, port;
    if (text.starts_with("[")) {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return make_error("expected '[ipv6]:port'");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos)
            return make_error("expected 'host:port' or 'unix:/path'");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return make_error("an IPv6 address must be written '[addr]:port'");
    }
    if (host.empty())
        return make_error("the host is empty (127.0.0.1, or 0.0.0.0 for every interface)");
    for (char c : host)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':'))
            return make_error("invalid character in the host");
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p > 65535)
        return make_error("the port must be a number from 0 to 65535");
    a.host = std::string(host);
    a.port = static_cast<std::uint16_t>(p);
    return a;
}

Result<ListenAddress> parse_tcp_listen_address(std::string_view text) {
    auto a = parse_listen_address(text);
    if (a && a->unix_socket)
        return make_error("expected 'host:port' (a unix socket is not supported here)");
    return a;
}

}  // namespace tenex
