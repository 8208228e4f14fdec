// Deliberately naive reference implementations for differential fuzzing (strfry's trick):
// written for obviousness, not speed, and independent of the code under test.
#pragma once

#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tenex::fuzz {

// Decodes code point by code point and checks the RFC 3629 ranges.
inline bool naive_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto b = [&](std::size_t k) -> std::uint32_t { return static_cast<unsigned char>(s[k]); };
        std::uint32_t c = b(i);
        std::size_t len;
        std::uint32_t cp;
        if (c < 0x80) {
            len = 1;
            cp = c;
        } else if ((c >> 5) == 0x6) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c >> 4) == 0xe) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c >> 3) == 0x1e) {
            len = 4;
            cp = c & 0x07;
        } else
            return false;
        if (i + len > s.size()) return false;
        for (std::size_t k = 1; k < len; ++k) {
            if ((b(i + k) >> 6) != 0x2) return false;
            cp = (cp << 6) | (b(i + k) & 0x3f);
        }
        const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

// bech32 per BIP-173 as written in its reference code, with the 5000 character limit.
inline std::optional<std::pair<std::string, std::vector<std::uint8_t>>> naive_bech32(
    std::string_view in) {
    const std::string charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    if (in.size() > 5000) return std::nullopt;
    std::string s(in);
    bool lo = false, up = false;
    for (char c : s) {
        if (c < 33 || c > 126) return std::nullopt;
        if (std::islower(static_cast<unsigned char>(c))) lo = true;
        if (std::isupper(static_cast<unsigned char>(c))) up = true;
    }
    if (lo && up) return std::nullopt;
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto pos = s.rfind('1');
    if (pos == std::string::npos || pos < 1 || pos + 7 > s.size()) return std::nullopt;
    std::string hrp = s.substr(0, pos);
    std::vector<std::uint32_t> values;
    for (char c : hrp)
        values.push_back(static_cast<std::uint32_t>(static_cast<unsigned char>(c)) >> 5);
    values.push_back(0);
    for (char c : hrp)
        values.push_back(static_cast<std::uint32_t>(static_cast<unsigned char>(c)) & 31);
    std::vector<std::uint32_t> data;
    for (std::size_t i = pos + 1; i < s.size(); ++i) {
        auto k = charset.find(s[i]);
        if (k == std::string::npos) return std::nullopt;
        data.push_back(static_cast<std::uint32_t>(k));
    }
    values.insert(values.end(), data.begin(), data.end());
    const std::uint32_t gen[] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    std::uint32_t chk = 1;
    for (auto v : values) {
        std::uint32_t top = chk >> 25;
        chk = (chk & 0x1ffffff) << 5 ^ v;
        for (int i = 0; i < 5; ++i)
            if ((top >> i) & 1) chk ^= gen[i];
    }
    if (chk != 1) return std::nullopt;
    data.resize(data.size() - 6);
    std::vector<std::uint8_t> out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (auto v : data) {
        acc = (acc << 5) | v;
        bits += 5;
        while (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
        }
    }
    if (bits >= 5 || ((acc << (8 - bits)) & 0xff) != 0) return std::nullopt;
    return std::make_pair(hrp, out);
}

}  // namespace tenex::fuzz
