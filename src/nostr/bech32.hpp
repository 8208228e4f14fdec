// bech32 (BIP-173, checksum constant 1; not bech32m) with the length limit lifted to 5000
// characters as NIP-19 needs.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace tenex::nostr::bech32 {

inline constexpr std::size_t kMaxLength = 5000;

struct Decoded {
    std::string hrp{};                 // lowercase
    std::vector<std::uint8_t> data{};  // 8-bit bytes (converted from 5-bit groups)
};

// Encodes 8-bit bytes under the human-readable part (lowercase).
std::string encode(std::string_view hrp, std::span<const std::uint8_t> data);
// Decodes, checks the checksum and converts to bytes (padding must be zero, < 5 bits).
Result<Decoded> decode(std::string_view text);

}  // namespace tenex::nostr::bech32
