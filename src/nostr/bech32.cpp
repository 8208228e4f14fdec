#include "nostr/bech32.hpp"

namespace tenex::nostr::bech32 {

namespace {

constexpr char kCharset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

constexpr std::int8_t kRev[128] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, 15, -1, 10, 17, 21, 20, 26, 30, 7,  5,  -1, -1, -1, -1, -1, -1, -1, 29,
    -1, 24, 13, 25, 9,  8,  23, -1, 18, 22, 31, 27, 19, -1, 1,  0,  3,  16, 11, 28, 12, 14,
    6,  4,  2,  -1, -1, -1, -1, -1, -1, 29, -1, 24, 13, 25, 9,  8,  23, -1, 18, 22, 31, 27,
    19, -1, 1,  0,  3,  16, 11, 28, 12, 14, 6,  4,  2,  -1, -1, -1, -1, -1,
};

std::uint32_t polymod_step(std::uint32_t chk, std::uint8_t v) {
    std::uint8_t top = static_cast<std::uint8_t>(chk >> 25);
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    if (top & 1) chk ^= 0x3b6a57b2;
    if (top & 2) chk ^= 0x26508e6d;
    if (top & 4) chk ^= 0x1ea119fa;
    if (top & 8) chk ^= 0x3d4233dd;
    if (top & 16) chk ^= 0x2a1462b3;
    return chk;
}

std::uint32_t hrp_polymod(std::string_view hrp) {
    std::uint32_t chk = 1;
    for (char c : hrp) chk = polymod_step(chk, static_cast<std::uint8_t>(c) >> 5);
    chk = polymod_step(chk, 0);
    for (char c : hrp) chk = polymod_step(chk, static_cast<std::uint8_t>(c) & 31);
    return chk;
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::string encode(std::string_view hrp, std::span<const std::uint8_t> data) {
    std::vector<std::uint8_t> five;
    five.reserve(data.size() * 8 / 5 + 1);
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::uint8_t b : data) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            five.push_back(static_cast<std::uint8_t>((acc >> bits) & 31));
        }
    }
    if (bits > 0) five.push_back(static_cast<std::uint8_t>((acc << (5 - bits)) & 31));

    std::string out(hrp);
    out.push_back('1');
    std::uint32_t chk = hrp_polymod(hrp);
    for (std::uint8_t v : five) {
        chk = polymod_step(chk, v);
        out.push_back(kCharset[v]);
    }
    for (int i = 0; i < 6; ++i) chk = polymod_step(chk, 0);
    chk ^= 1;
    for (int i = 0; i < 6; ++i) out.push_back(kCharset[(chk >> (5 * (5 - i))) & 31]);
    return out;
}

Result<Decoded> decode(std::string_view text) {
    if (text.size() > kMaxLength) return make_error("bech32 string longer than 5000 characters");
    bool has_lower = false, has_upper = false;
    for (char c : text) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u < 33 || u > 126) return make_error("bech32 string has a character outside 33..126");
        if (c >= 'a' && c <= 'z') has_lower = true;
        if (c >= 'A' && c <= 'Z') has_upper = true;
    }
    if (has_lower && has_upper) return make_error("bech32 string mixes upper and lower case");
    std::size_t sep = text.rfind('1');
    if (sep == std::string_view::npos) return make_error("bech32 string has no separator '1'");
    if (sep == 0) return make_error("bech32 string has an empty prefix");
    if (text.size() - sep - 1 < 6) return make_error("bech32 string too short for a checksum");

    Decoded out;
    out.hrp.reserve(sep);
    for (char c : text.substr(0, sep)) out.hrp.push_back(lower(c));
    std::uint32_t chk = hrp_polymod(out.hrp);
    const std::string_view data = text.substr(sep + 1);
    std::uint32_t acc = 0;
    int bits = 0;
    const std::size_t payload = data.size() - 6;
    out.data.reserve(payload * 5 / 8);
    for (std::size_t i = 0; i < data.size(); ++i) {
        std::int8_t v = kRev[static_cast<unsigned char>(data[i]) & 127];
        if (v < 0) return make_error("bech32 string has an invalid data character");
        chk = polymod_step(chk, static_cast<std::uint8_t>(v));
        if (i < payload) {
            acc = ((acc << 5) | static_cast<std::uint32_t>(v)) & 0xfff;
            bits += 5;
            if (bits >= 8) {
                bits -= 8;
                out.data.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
            }
        }
    }
    if (chk != 1) return make_error("bech32 checksum mismatch");
    if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
        return make_error("bech32 padding is invalid");
    return out;
}

}  // namespace tenex::nostr::bech32
