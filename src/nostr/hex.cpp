#include "nostr/hex.hpp"

namespace tenex::nostr {

namespace {

constexpr char kDigits[] = "0123456789abcdef";

int nibble(char c, bool strict_lower) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (!strict_lower && c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
    std::string out(bytes.size() * 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        out[2 * i] = kDigits[bytes[i] >> 4];
        out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
    }
    return out;
}

bool from_hex(std::string_view hex, std::span<std::uint8_t> out, bool strict_lower) {
    if (hex.size() != out.size() * 2) return false;
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(hex[2 * i], strict_lower);
        int lo = nibble(hex[2 * i + 1], strict_lower);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
    }
    return true;
}

bool is_lower_hex(std::string_view s, std::size_t n) {
    if (s.size() != n) return false;
    for (char c : s)
        if (nibble(c, true) < 0) return false;
    return true;
}

}  // namespace tenex::nostr
