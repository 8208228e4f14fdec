#include "sandbox/project_ref.hpp"

#include <array>
#include <cstdint>
#include <vector>

namespace tenex::sandbox {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::uint32_t bech32_polymod(const std::vector<std::uint8_t>& values) {
    constexpr std::array<std::uint32_t, 5> kGen{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                                0x2a1462b3};
    std::uint32_t chk = 1;
    for (auto v : values) {
        const std::uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (int i = 0; i < 5; ++i)
            if ((top >> i) & 1) chk ^= kGen[static_cast<std::size_t>(i)];
    }
    return chk;
}

std::vector<std::uint8_t> hrp_expand(std::string_view hrp) {
    std::vector<std::uint8_t> v;
    for (char c : hrp) v.push_back(static_cast<std::uint8_t>(c >> 5));
    v.push_back(0);
    for (char c : hrp) v.push_back(static_cast<std::uint8_t>(c & 31));
    return v;
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
    constexpr std::string_view kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    if (npub.size() < 8 || npub.size() > 200) return make_error("not an npub: bad length");
    bool has_lower = false, has_upper = false;
    for (char c : npub) {
        has_lower = has_lower || (c >= 'a' && c <= 'z');
        has_upper = has_upper || (c >= 'A' && c <= 'Z');
    }
    if (has_lower && has_upper) return make_error("not an npub: mixed case");
    std::string s;
    for (char c : npub) s.push_back(lower(c));
    const auto sep = s.rfind('1');
    if (sep == std::string::npos || s.substr(0, sep) != "npub")
        return make_error("not an npub: the prefix must be \"npub1\"");
    std::vector<std::uint8_t> values = hrp_expand("npub");
    std::vector<std::uint8_t> data;
    for (std::size_t i = sep + 1; i < s.size(); ++i) {
        const auto pos = kCharset.find(s[i]);
        if (pos == std::string_view::npos) return make_error("not an npub: invalid character");
        data.push_back(static_cast<std::uint8_t>(pos));
    }
    if (data.size() < 6) return make_error("not an npub: too short");
    values.insert(values.end(), data.begin(), data.end());
    if (bech32_polymod(values) != 1) return make_error("not an npub: bad checksum");
    data.resize(data.size() - 6);
    // 5-bit groups -> bytes, no padding allowed beyond 4 zero bits.
    std::vector<std::uint8_t> bytes;
    std::uint32_t acc = 0;
    int bits = 0;
    for (auto v : data) {
        acc = (acc << 5) | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            bytes.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
        }
    }
    if (bits >= 5 || ((acc << (8 - bits)) & 0xff) != 0)
        return make_error("not an npub: bad padding");
    if (bytes.size() != 32) return make_error("not an npub: the key must be 32 bytes");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (auto b : bytes) {
        hex.push_back(kHex[b >> 4]);
        hex.push_back(kHex[b & 15]);
    }
    return hex;
}

Result<std::string> encode_naddr(const ProjectRef& project) {
    if (!project.has_owner()) return make_error("an naddr needs the owner pubkey");
    if (!is_hex_pubkey(project.owner)) return make_error("the owner must be 64 hex digits");
    if (project.d.size() > 255) return make_error("the d identifier is too long for an naddr");
    std::vector<std::uint8_t> tlv{3, 4, 0, 0, 0x7c, 0xbd};  // kind 31933, big-endian
    tlv.push_back(2);
    tlv.push_back(32);
    for (std::size_t i = 0; i < 64; i += 2)
        tlv.push_back(static_cast<std::uint8_t>(std::stoi(project.owner.substr(i, 2), nullptr, 16)));
    tlv.push_back(0);
    tlv.push_back(static_cast<std::uint8_t>(project.d.size()));
    for (char c : project.d) tlv.push_back(static_cast<std::uint8_t>(c));
    std::vector<std::uint8_t> data;  // bytes -> 5-bit groups, zero padded
    std::uint32_t acc = 0;
    int bits = 0;
    for (auto b : tlv) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            data.push_back(static_cast<std::uint8_t>((acc >> bits) & 31));
        }
    }
    if (bits > 0) data.push_back(static_cast<std::uint8_t>((acc << (5 - bits)) & 31));
    std::vector<std::uint8_t> values = hrp_expand("naddr");
    values.insert(values.end(), data.begin(), data.end());
    values.insert(values.end(), 6, 0);
    const std::uint32_t mod = bech32_polymod(values) ^ 1;
    constexpr std::string_view kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    std::string out = "naddr1";
    for (auto v : data) out.push_back(kCharset[v]);
    for (int i = 0; i < 6; ++i) out.push_back(kCharset[(mod >> (5 * (5 - i))) & 31]);
    return out;
}

}  // namespace tenex::sandbox
