// Repository URLs: any text, under each combination of the policy's switches, is refused or
// accepted without a crash; a password in the URL never shows in a refusal's reason or the
// redacted form; an accepted URL is of a scheme the policy allows, its redacted form carries no
// credentials, and a host that is an IP literal outside the public internet is accepted only
// when the policy lets private hosts (or that host) through.
#include <string>
#include <string_view>

#include "project/repo_url.hpp"

using namespace tenex::project;

#define CHECK(x)              \
    do {                      \
        if (!(x)) {           \
            __builtin_trap(); \
        }                     \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t flags = data[0];
    // With flag 32 the input follows credentials whose password must never show again.
    static const std::string kPassword = "S3cr3tPassw0rdMarker";
    const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    const bool secret = (flags & 32) && rest.find(kPassword) == std::string::npos;
    const std::string url = (secret ? "https://user:" + kPassword + "@" : std::string()) + rest;
    RepoPolicy policy;
    policy.allow_http = flags & 1;
    policy.allow_ssh = flags & 2;
    policy.allow_git = flags & 4;
    policy.allow_private_hosts = flags & 8;
    if (flags & 16) policy.allowed_hosts = {"example.com", "127.0.0.1"};
    auto r = validate_repo_url(url, policy);
    if (!r) {
        if (secret) CHECK(r.error().message.find(kPassword) == std::string::npos);
        return 0;
    }
    switch (r->scheme) {
        case RepoScheme::https:
            break;
        case RepoScheme::http:
            CHECK(policy.allow_http);
            break;
        case RepoScheme::ssh:
            CHECK(policy.allow_ssh);
            break;
        case RepoScheme::git:
            CHECK(policy.allow_git);
            break;
    }
    if (secret) CHECK(r->redacted.find(kPassword) == std::string::npos);
    CHECK(!r->host.empty());
    for (char c : r->host) CHECK(!(c >= 'A' && c <= 'Z'));
    // No credentials in the redacted form: its authority (after "://", up to the path) has no '@'.
    const auto authority = r->redacted.find("://");
    CHECK(authority != std::string::npos);
    CHECK(r->redacted.substr(authority + 3, r->redacted.find('/', authority + 3) - authority - 3)
              .find('@') == std::string::npos);
    CHECK(!r->path.empty() && r->path[0] == '/');
    CHECK(r->user.find(':') == std::string::npos);
    if (!policy.allowed_hosts.empty()) CHECK(host_allowlisted(policy, r->host));
    AddressClass c{};
    if (classify_ip_literal(r->host, &c) && c != AddressClass::public_address)
        CHECK(policy.allow_private_hosts || host_allowlisted(policy, r->host));
    return 0;
}
