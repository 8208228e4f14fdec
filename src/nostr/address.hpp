// Addresses of replaceable/addressable events: the `a` tag value <kind>:<pubkey>:<identifier>,
// and kind classes (NIP-01).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace tenex::nostr {

enum class KindClass { regular, replaceable, ephemeral, addressable };

// regular: 1, 2, 4-44, 1000-9999 and every kind NIP-01 leaves unassigned; replaceable: 0, 3,
// 10000-19999; ephemeral: 20000-29999; addressable: 30000-39999.
KindClass kind_class(std::uint32_t kind);
const char* to_string(KindClass c);

struct Address {
    std::uint32_t kind{0};
    std::string pubkey{};      // 64 lowercase hex
    std::string identifier{};  // the `d` tag; may be empty and may contain ':'

    // Splits on the first two colons; kind is decimal 0..65535 without sign or leading zeros,
    // pubkey 64 lowercase hex, identifier valid UTF-8.
    static Result<Address> parse(std::string_view text);
    // Decodes an naddr1 string (relays are dropped; see nip19.hpp for them).
    static Result<Address> from_naddr(std::string_view naddr);

    std::string to_string() const;  // kind:pubkey:identifier
    // naddr with optional relay hints. Fails if the identifier or a relay is over 255 bytes.
    Result<std::string> to_naddr(std::span<const std::string> relays = {}) const;

    friend bool operator==(const Address&, const Address&) = default;
    friend auto operator<=>(const Address&, const Address&) = default;
};

}  // namespace tenex::nostr
