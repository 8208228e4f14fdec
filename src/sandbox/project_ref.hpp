// Which project a policy is for: the project address "31933:<owner hex>:<d>", or a bare `d`
// identifier when the owner is not known (`policy show my-project`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tenex::sandbox {

inline constexpr std::string_view kProjectKindPrefix = "31933:";

struct ProjectRef {
    std::string owner{};  // 64 lowercase hex; empty when only `d` is known
    std::string d{};      // the `d` identifier (may be empty in an address)

    bool has_owner() const { return !owner.empty(); }
    // "31933:<owner>:<d>"; with no owner: "31933::<d>".
    std::string address() const;
    bool operator==(const ProjectRef&) const = default;
};

// "31933:<64 hex>:<d>" (hex is lowercased). Anything else is an error with a reason.
Result<ProjectRef> parse_address(std::string_view text);

// An address when the text starts with "31933:", otherwise a bare `d` identifier.
Result<ProjectRef> parse_project_arg(std::string_view text);

bool is_hex_pubkey(std::string_view text);  // 64 hex digits, either case

// NIP-19 npub -> 64 lowercase hex (tenex::nostr decodes it).
Result<std::string> decode_npub(std::string_view npub);

// The project's NIP-19 naddr without relay hints (TLVs kind, author, d: the order nostr-tools
// writes). Needs the owner; the daemon normally gets the naddr from tenex::nostr instead.
Result<std::string> encode_naddr(const ProjectRef& project);

}  // namespace tenex::sandbox
