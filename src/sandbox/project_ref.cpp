#include "sandbox/project_ref.hpp"

#include <variant>

#include "nostr/address.hpp"
#include "nostr/nip19.hpp"

namespace tenex::sandbox {
namespace {

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::string ProjectRef::address() const {
    return std::string(kProjectKindPrefix) + owner + ":" + d;
}

bool is_hex_pubkey(std::string_view text) {
    if (text.size() != 64) return false;
    for (char c : text) {
        const char l = lower(c);
        if (!((l >= '0' && l <= '9') || (l >= 'a' && l <= 'f'))) return false;
    }
    return true;
}

Result<ProjectRef> parse_address(std::string_view text) {
    if (!text.starts_with(kProjectKindPrefix))
        return make_error("not a project address: expected \"31933:<owner pubkey hex>:<d>\"");
    std::string_view rest = text.substr(kProjectKindPrefix.size());
    const auto colon = rest.find(':');
    if (colon == std::string_view::npos)
        return make_error("not a project address: missing \":<d>\" after the owner pubkey");
    const std::string_view owner = rest.substr(0, colon);
    if (!is_hex_pubkey(owner))
        return make_error("not a project address: the owner must be 64 hex digits");
    ProjectRef ref;
    for (char c : owner) ref.owner.push_back(lower(c));
    ref.d = std::string(rest.substr(colon + 1));
    return ref;
}

Result<ProjectRef> parse_project_arg(std::string_view text) {
    if (text.starts_with(kProjectKindPrefix)) return parse_address(text);
    if (text.empty()) return make_error("empty project: give an address or a d identifier");
    return ProjectRef{.owner = "", .d = std::string(text)};
}

Result<std::string> decode_npub(std::string_view npub) {
    auto entity = nostr::decode_entity(npub);
    if (!entity) return make_error("not an npub: " + entity.error().message);
    if (const auto* p = std::get_if<nostr::Npub>(&*entity)) return p->pubkey;
    return make_error("not an npub: a different NIP-19 entity");
}

Result<std::string> encode_naddr(const ProjectRef& project) {
    if (!project.has_owner()) return make_error("an naddr needs the owner pubkey");
    if (!is_hex_pubkey(project.owner)) return make_error("the owner must be 64 hex digits");
    return nostr::Address{31933, project.owner, project.d}.to_naddr();
}

}  // namespace tenex::sandbox
