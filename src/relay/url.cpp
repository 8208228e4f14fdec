#include "relay/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace tenex::relay {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

Result<std::uint16_t> parse_port(std::string_view s) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || p != s.data() + s.size() || v > 65535)
        return make_error("bad port");
    return static_cast<std::uint16_t>(v);
}

}  // namespace

Result<RelayUrl> RelayUrl::parse(std::string_view url) {
    for (unsigned char c : url) {
        if (c <= 0x20 || c == 0x7f)
            return make_error("relay URL contains whitespace or control characters");
        // ASCII only: a host in punycode, anything else percent-encoded (a raw byte past ASCII
        // could be part of no valid UTF-8 and break every JSON that carries the URL).
        if (c >= 0x80)
            return make_error("relay URL contains non-ASCII characters (use punycode or %XX)");
    }
    RelayUrl r;
    auto sep = url.find("://");
    if (sep == std::string_view::npos) return make_error("relay URL needs ws:// or wss://");
    auto scheme = lower(url.substr(0, sep));
    if (scheme == "wss")
        r.tls = true;
    else if (scheme != "ws")
        return make_error("relay URL scheme must be ws or wss");
    auto rest = url.substr(sep + 3);
    auto slash = rest.find_first_of("/?");
    auto authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        r.path = std::string(rest.substr(slash));
        if (r.path[0] == '?') r.path = "/" + r.path;
    }
    if (authority.find('@') != std::string_view::npos)
        return make_error("relay URL must not contain credentials");
    std::string_view host = authority, port;
    if (!authority.empty() && authority[0] == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return make_error("relay URL has an unclosed [");
        host = authority.substr(1, close - 1);
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return make_error("relay URL has junk after ]");
            port = after.substr(1);
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) return make_error("relay URL has no host");
    r.host = lower(host);
    if (!port.empty()) {
        auto p = parse_port(port);
        if (!p || *p == 0) return make_error("relay URL has a bad port");
        r.port = *p;
    } else {
        r.port = r.tls ? 443 : 80;
    }
    const bool default_port = (r.tls && r.port == 443) || (!r.tls && r.port == 80);
    const bool v6 = r.host.find(':') != std::string::npos;
    r.normalized = scheme + "://" + (v6 ? "[" + r.host + "]" : r.host) +
                   (default_port ? "" : ":" + std::to_string(r.port)) + r.path;
    return r;
}

}  // namespace tenex::relay
