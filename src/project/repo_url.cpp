#include "project/repo_url.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace tenex::project {

namespace {

constexpr std::size_t kMaxUrlBytes = 2048;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

AddressClass classify_v4(std::uint32_t a) {  // host byte order
    auto in = [a](std::uint32_t net, int bits) {
        const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
        return (a & mask) == net;
    };
    if (in(0x7f000000, 8)) return AddressClass::loopback;
    if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16))
        return AddressClass::private_network;
    if (in(0xa9fe0000, 16)) return AddressClass::link_local;  // incl. 169.254.169.254 metadata
    if (in(0x64400000, 10)) return AddressClass::cgnat;       // incl. 100.100.100.200 metadata
    if (in(0x00000000, 8) || in(0xc0000000, 24) || in(0xc0000200, 24) || in(0xc6120000, 15) ||
        in(0xc6336400, 24) || in(0xcb007100, 24) || in(0xe0000000, 4) || in(0xf0000000, 4))
        return AddressClass::reserved;  // this-network, IETF, TEST-NETs, benchmarking, multicast,
                                        // 240/4
    return AddressClass::public_address;
}

AddressClass classify_v6(const std::array<unsigned char, 16>& b) {
    auto v4_at = [&b](int off) {
        return (std::uint32_t{b[off]} << 24) | (std::uint32_t{b[off + 1]} << 16) |
               (std::uint32_t{b[off + 2]} << 8) | std::uint32_t{b[off + 3]};
    };
    const bool first10_zero =
        std::all_of(b.begin(), b.begin() + 10, [](unsigned char c) { return c == 0; });
    if (first10_zero && b[10] == 0xff && b[11] == 0xff)
        return classify_v4(v4_at(12));  // ::ffff:a.b.c.d
    const bool first12_zero = first10_zero && b[10] == 0 && b[11] == 0;
    if (first12_zero) {
        const std::uint32_t tail = v4_at(12);
        if (tail == 1) return AddressClass::loopback;  // ::1
        if (tail == 0) return AddressClass::reserved;  // ::
        return classify_v4(tail);                      // deprecated v4-compatible ::a.b.c.d
    }
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)
        return classify_v4(v4_at(12));                               // NAT64
    if (b[0] == 0x20 && b[1] == 0x02) return classify_v4(v4_at(2));  // 6to4
    if ((b[0] & 0xfe) == 0xfc)
        return AddressClass::private_network;  // fc00::/7 (incl. fd00:ec2::254)
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressClass::link_local;  // fe80::/10
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return AddressClass::private_network;         // fec0::/10 site-local
    if (b[0] == 0xff) return AddressClass::reserved;  // multicast
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
        return AddressClass::reserved;  // docs
    return AddressClass::public_address;
}

bool valid_hostname(std::string_view h) {
    if (h.empty() || h.size() > 253) return false;
    std::size_t label = 0;
    for (std::size_t i = 0; i < h.size(); ++i) {
        const char c = h[i];
        if (c == '.') {
            if (label == 0) return false;
            if (h[i - 1] == '-') return false;
            label = 0;
            continue;
        }
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return false;
        if (label == 0 && c == '-') return false;  // also keeps "-oProxyCommand" out
        if (++label > 63) return false;
    }
    return h.back() != '-' && h.back() != '.';  // "localhost." must not dodge the name checks
}

bool valid_path(std::string_view p) {
    for (char c : p) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f || c == '\\') return false;
    }
    return true;
}

Result<std::uint16_t> parse_port(std::string_view s) {
    if (s.empty() || s.size() > 5) return make_error("repository URL has an invalid port");
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return make_error("repository URL has an invalid port");
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return make_error("repository URL has an invalid port");
    return static_cast<std::uint16_t>(v);
}

const char* scheme_name(RepoScheme s) {
    switch (s) {
        case RepoScheme::https:
            return "https";
        case RepoScheme::http:
            return "http";
        case RepoScheme::ssh:
            return "ssh";
        case RepoScheme::git:
            return "git";
    }
    return "?";
}

// Parses "host[:port]" or "[v6][:port]" into url (host lowercased).
Status parse_authority(std::string_view auth, RepoUrl& url) {
    std::string_view host = auth;
    std::string_view port;
    if (!auth.empty() && auth.front() == '[') {
        const auto close = auth.find(']');
        if (close == std::string_view::npos)
            return make_error("repository URL has an unterminated IPv6 literal");
        host = auth.substr(1, close - 1);
        const auto rest = auth.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':')
                return make_error("repository URL has junk after the IPv6 literal");
            port = rest.substr(1);
        }
        in6_addr a6{};
        const std::string h(host);
        if (h.find('%') != std::string::npos || inet_pton(AF_INET6, h.c_str(), &a6) != 1)
            return make_error("repository URL has an invalid IPv6 literal");
    } else {
        const auto colon = auth.rfind(':');
        if (colon != std::string_view::npos) {
            host = auth.substr(0, colon);
            port = auth.substr(colon + 1);
        }
        if (!valid_hostname(lower(host)))
            return make_error("repository URL has an invalid host name");
    }
    url.host = lower(host);
    if (!port.empty() || (auth.size() > 0 && auth.back() == ':')) {
        auto p = parse_port(port);
        if (!p) return p.error();
        url.port = *p;
    }
    return Unit{};
}

Status check_host(const RepoUrl& url, const RepoPolicy& policy) {
    if (!policy.allowed_hosts.empty() && !host_allowlisted(policy, url.host))
        return make_error("repository host " + url.host + " is not in the allowed hosts");
    AddressClass c{};
    if (classify_ip_literal(url.host, &c) && !address_allowed(policy, url.host, c))
        return make_error(std::string("repository host is a ") + to_string(c) +
                          " address, which the configuration does not allow");
    if (url.host == "localhost" || url.host.ends_with(".localhost")) {
        if (!address_allowed(policy, url.host, AddressClass::loopback))
            return make_error(
                "repository host is localhost, which the configuration does not allow");
    }
    return Unit{};
}

}  // namespace

const char* to_string(AddressClass c) {
    switch (c) {
        case AddressClass::public_address:
            return "public";
        case AddressClass::loopback:
            return "loopback";
        case AddressClass::private_network:
            return "private-network";
        case AddressClass::link_local:
            return "link-local (incl. cloud metadata)";
        case AddressClass::cgnat:
            return "carrier-grade NAT";
        case AddressClass::reserved:
            return "reserved or special-purpose";
    }
    return "?";
}

bool classify_ip_literal(std::string_view host, AddressClass* out) {
    std::string h(host);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
        std::array<unsigned char, 16> b{};
        std::memcpy(b.data(), &a6, 16);
        *out = classify_v6(b);
        return true;
    }
    in_addr a4{};
    if (!h.empty() && inet_aton(h.c_str(), &a4) != 0) {  // accepts 127.1, 0x7f.1, 2130706433
        *out = classify_v4(ntohl(a4.s_addr));
        return true;
    }
    // Anything made only of digits, dots and hex markers is an IP-ish literal a resolver
    // might still interpret: treat it as reserved rather than as a name.
    if (!h.empty() && h.find_first_not_of("0123456789abcdefx.") == std::string::npos &&
        h.find_first_of("0123456789") == 0) {
        *out = AddressClass::reserved;
        return true;
    }
    return false;
}

bool host_allowlisted(const RepoPolicy& policy, std::string_view host) {
    const std::string h = lower(host);
    return std::any_of(policy.allowed_hosts.begin(), policy.allowed_hosts.end(),
                       [&](const std::string& a) { return lower(a) == h; });
}

bool address_allowed(const RepoPolicy& policy, std::string_view host, AddressClass c) {
    if (c == AddressClass::public_address) return true;
    return policy.allow_private_hosts || host_allowlisted(policy, host);
}

Result<RepoUrl> validate_repo_url(std::string_view raw, const RepoPolicy& policy) {
    if (raw.empty()) return make_error("repository URL is empty");
    if (raw.size() > kMaxUrlBytes) return make_error("repository URL is longer than 2048 bytes");
    for (char c : raw) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || u == ' ')
            return make_error("repository URL contains whitespace or control characters");
        if (u >= 0x80) return make_error("repository URL contains non-ASCII characters");
    }
    if (raw.find("::") != std::string_view::npos && raw.find("://") == std::string_view::npos)
        return make_error(
            "repository URL uses a remote-helper transport (\"<transport>::\"), which is refused");

    RepoUrl url;
    std::string_view rest;
    const auto sep = raw.find("://");
    if (sep != std::string_view::npos) {
        const std::string scheme = lower(raw.substr(0, sep));
        if (scheme == "https")
            url.scheme = RepoScheme::https;
        else if (scheme == "http")
            url.scheme = RepoScheme::http;
        else if (scheme == "ssh" || scheme == "git+ssh" || scheme == "ssh+git")
            url.scheme = RepoScheme::ssh;
        else if (scheme == "git")
            url.scheme = RepoScheme::git;
        else if (scheme == "file")
            return make_error("repository URL uses file://, local repositories are refused");
        else
            return make_error("repository URL scheme is not one of https, http, ssh, git");
        rest = raw.substr(sep + 3);
    } else {
        // scp-like "user@host:path" (ssh), else a local path.
        const auto colon = raw.find(':');
        const auto slash = raw.find('/');
        if (raw.front() == '/' || raw.front() == '.' || raw.front() == '~' ||
            colon == std::string_view::npos || colon == 1 /* C:\\path */ ||
            (slash != std::string_view::npos && slash < colon))
            return make_error("repository URL is a local path, which is refused");
        url.scheme = RepoScheme::ssh;
        const std::string_view authority = raw.substr(0, colon);
        std::string_view path = raw.substr(colon + 1);
        if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
            url.user = std::string(authority.substr(0, at));
            if (url.user.find(':') != std::string::npos)
                return make_error("repository URL contains credentials, which are refused");
        }
        const std::string_view host = authority.substr(
            authority.rfind('@') == std::string_view::npos ? 0 : authority.rfind('@') + 1);
        if (!valid_hostname(lower(host)))
            return make_error("repository URL has an invalid host name");
        url.host = lower(host);
        if (path.empty() || path.front() == '-' || !valid_path(path))
            return make_error("repository URL has an invalid path");
        url.path = path.front() == '/' ? std::string(path) : "/" + std::string(path);
        if (!policy.allow_ssh)
            return make_error("repository URL scheme ssh is not allowed by the configuration");
        if (auto st = check_host(url, policy); !st) return st.error();
        url.clone_url = "ssh://" + (url.user.empty() ? "" : url.user + "@") + url.host + url.path;
        url.redacted = "ssh://" + url.host + url.path;
        return url;
    }

    const auto path_start = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, path_start);
    std::string_view path =
        path_start == std::string_view::npos ? std::string_view("/") : rest.substr(path_start);
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const std::string_view userinfo = authority.substr(0, at);
        if (url.scheme != RepoScheme::ssh || userinfo.find(':') != std::string_view::npos ||
            userinfo.find('%') != std::string_view::npos)
            return make_error("repository URL contains credentials, which are refused");
        url.user = std::string(userinfo);
        if (url.user.empty() || url.user.front() == '-')
            return make_error("repository URL has an invalid user name");
        authority = authority.substr(at + 1);
    }
    if (authority.empty()) return make_error("repository URL has no host");
    if (auto st = parse_authority(authority, url); !st) return st.error();
    if (path.front() != '/' || !valid_path(path))
        return make_error("repository URL has an invalid path");
    if (path.find('?') != std::string_view::npos || path.find('#') != std::string_view::npos)
        return make_error("repository URL has a query or fragment");
    url.path = std::string(path);

    const bool allowed = url.scheme == RepoScheme::https ||
                         (url.scheme == RepoScheme::http && policy.allow_http) ||
                         (url.scheme == RepoScheme::ssh && policy.allow_ssh) ||
                         (url.scheme == RepoScheme::git && policy.allow_git);
    if (!allowed)
        return make_error(std::string("repository URL scheme ") + scheme_name(url.scheme) +
                          " is not allowed by the configuration");
    if (auto st = check_host(url, policy); !st) return st.error();

    const bool v6 = url.host.find(':') != std::string::npos;
    std::string hostport = v6 ? "[" + url.host + "]" : url.host;
    if (url.port != 0) hostport += ":" + std::to_string(url.port);
    url.redacted = std::string(scheme_name(url.scheme)) + "://" + hostport + url.path;
    url.clone_url = std::string(scheme_name(url.scheme)) + "://" +
                    (url.user.empty() ? "" : url.user + "@") + hostport + url.path;
    return url;
}

}  // namespace tenex::project
