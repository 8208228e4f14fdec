// Lowercase hex for the fixed-size byte strings Nostr uses (ids, keys, signatures).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tenex::nostr {

using Bytes32 = std::array<std::uint8_t, 32>;
using Bytes64 = std::array<std::uint8_t, 64>;

// Lowercase hex of the bytes.
std::string to_hex(std::span<const std::uint8_t> bytes);

// Decodes exactly out.size()*2 hex characters. Lowercase only when strict_lower (the
// Nostr wire form); upper case allowed otherwise. Returns false on any other input.
bool from_hex(std::string_view hex, std::span<std::uint8_t> out, bool strict_lower = true);

// True if s is exactly n lowercase hex characters.
bool is_lower_hex(std::string_view s, std::size_t n);

}  // namespace tenex::nostr
