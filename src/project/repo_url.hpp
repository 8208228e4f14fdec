// Repository URL policy: which `repo` tags may be cloned. Everything not explicitly allowed
// is refused with a reason; reasons never contain the URL's credentials (nor the URL).
#pragma once

#include "common/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tenex::project {

struct RepoPolicy {
    bool allow_http{false};  // http:// (cleartext)
    bool allow_ssh{false};   // ssh:// and scp-like git@host:path
    bool allow_git{false};   // git:// (cleartext, unauthenticated)
    // When non-empty, only these hosts (lowercase names or IP literals as written in the
    // URL, IPv6 without brackets) may be cloned from. A host listed here also may be a
    // loopback/private address (e.g. "127.0.0.1" for tests).
    std::vector<std::string> allowed_hosts{};
    // Allow any loopback, private, link-local, CGNAT or metadata address.
    bool allow_private_hosts{false};
};

enum class RepoScheme { https, http, ssh, git };

struct RepoUrl {
    RepoScheme scheme{RepoScheme::https};
    std::string host{};       // lowercase; IPv6 without brackets
    std::uint16_t port{0};    // 0 = scheme default
    std::string path{};       // starts with '/' (scp-like paths get one)
    std::string user{};       // ssh only (e.g. "git"); never a password
    std::string clone_url{};  // what to hand to libgit2
    std::string redacted{};   // scheme://host[:port]/path, safe to log
};

// Parses and checks `url` against `policy`.
Result<RepoUrl> validate_repo_url(std::string_view url, const RepoPolicy& policy);

// Host-level check shared with the connection guard (which re-checks every resolved
// address at connect time, against DNS rebinding and redirects).
enum class AddressClass { public_address, loopback, private_network, link_local, cgnat, reserved };
const char* to_string(AddressClass c);

// Classifies an IP literal in any form the C library would accept (inet_aton: "127.1",
// "0x7f.1", "2130706433", "0177.0.0.1"; IPv6 incl. v4-mapped/NAT64/6to4). nullopt-like:
// returns false when `host` is not an IP literal.
bool classify_ip_literal(std::string_view host, AddressClass* out);

// Whether `policy` lets the daemon connect to `host` (by name) whose address class is `c`.
bool address_allowed(const RepoPolicy& policy, std::string_view host, AddressClass c);
bool host_allowlisted(const RepoPolicy& policy, std::string_view host);

}  // namespace tenex::project
