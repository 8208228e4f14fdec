#include "nostr/nip19.hpp"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include "nostr/bech32.hpp"
#include "nostr/hex.hpp"
#include "nostr/utf8.hpp"

namespace tenex::nostr {

namespace {

enum TlvType : std::uint8_t { kSpecial = 0, kRelay = 1, kAuthor = 2, kKind = 3 };

struct Tlv {
    std::uint8_t type;
    std::string_view value;
};

Result<std::vector<Tlv>> parse_tlv(const std::vector<std::uint8_t>& data) {
    std::vector<Tlv> out;
    std::size_t i = 0;
    while (i < data.size()) {
        if (data.size() - i < 2) return make_error("TLV entry truncated");
        std::uint8_t type = data[i], len = data[i + 1];
        if (data.size() - i - 2 < len) return make_error("TLV value longer than the data");
        out.push_back(
            {type, std::string_view(reinterpret_cast<const char*>(data.data()) + i + 2, len)});
        i += 2 + static_cast<std::size_t>(len);
    }
    return out;
}

std::string bytes_hex(std::string_view v) {
    return to_hex(std::span(reinterpret_cast<const std::uint8_t*>(v.data()), v.size()));
}

// Collected fields of a TLV entity; each known type validated.
struct TlvFields {
    std::optional<std::string_view> special;
    std::vector<std::string> relays;
    std::optional<std::string> author;
    std::optional<std::uint32_t> kind;
};

Result<TlvFields> collect(const std::vector<std::uint8_t>& data, bool special_is_key) {
    auto tlvs = parse_tlv(data);
    if (!tlvs) return tlvs.error();
    TlvFields f;
    for (const auto& t : *tlvs) {
        switch (t.type) {
            case kSpecial:
                if (f.special) continue;  // first one wins, as in nostr-tools
                if (special_is_key && t.value.size() != 32)
                    return make_error("TLV type 0 must be 32 bytes");
                if (!special_is_key && !is_valid_utf8(t.value))
                    return make_error("TLV identifier is not valid UTF-8");
                f.special = t.value;
                break;
            case kRelay:
                if (!is_valid_utf8(t.value)) return make_error("TLV relay is not valid UTF-8");
                f.relays.emplace_back(t.value);
                break;
            case kAuthor:
                if (t.value.size() != 32) return make_error("TLV author must be 32 bytes");
                if (!f.author) f.author = bytes_hex(t.value);
                break;
            case kKind: {
                if (t.value.size() != 4) return make_error("TLV kind must be 4 bytes");
                auto b = [&](int k) {
                    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(t.value[k]));
                };
                if (!f.kind) f.kind = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
                break;
            }
            default:
                break;  // unknown types are ignored
        }
    }
    return f;
}

void put_tlv(std::vector<std::uint8_t>& out, std::uint8_t type, std::string_view v) {
    out.push_back(type);
    out.push_back(static_cast<std::uint8_t>(v.size()));
    out.insert(out.end(), v.begin(), v.end());
}

std::string bytes_of(const Bytes32& b) {
    return std::string(b.begin(), b.end());
}

Result<std::string> hex32(std::string_view hex, const char* what) {
    Bytes32 b{};
    if (!from_hex(hex, b))
        return make_error(std::string(what) + " must be 64 lowercase hex characters");
    return bytes_of(b);
}

Status check_relays(const std::vector<std::string>& relays) {
    for (const auto& r : relays)
        if (r.size() > 255) return make_error("relay URL longer than 255 bytes");
    return Unit{};
}

std::string kind_bytes(std::uint32_t k) {
    return std::string{static_cast<char>(k >> 24), static_cast<char>((k >> 16) & 0xff),
                       static_cast<char>((k >> 8) & 0xff), static_cast<char>(k & 0xff)};
}

}  // namespace

Result<Entity> decode_entity(std::string_view text) {
    auto d = bech32::decode(text);
    if (!d) return d.error();
    const std::string& hrp = d->hrp;
    auto& data = d->data;
    if (hrp == "npub" || hrp == "note" || hrp == "nsec") {
        if (data.size() != 32) return make_error(hrp + " must hold 32 bytes");
        if (hrp == "nsec") {
            auto sk = SecretKey::from_bytes(data);
            OPENSSL_cleanse(data.data(), data.size());
            if (!sk) return make_error("nsec " + sk.error().message);
            return Entity{Nsec{*sk}};
        }
        std::string hex = to_hex(data);
        if (hrp == "npub") return Entity{Npub{std::move(hex)}};
        return Entity{Note{std::move(hex)}};
    }
    if (hrp == "nprofile" || hrp == "nevent") {
        auto f = collect(data, true);
        if (!f) return f.error();
        if (!f->special) return make_error(hrp + " is missing TLV type 0");
        std::string hex = bytes_hex(*f->special);
        if (hrp == "nprofile") return Entity{Nprofile{std::move(hex), std::move(f->relays)}};
        return Entity{Nevent{std::move(hex), std::move(f->relays), std::move(f->author), f->kind}};
    }
    if (hrp == "naddr") {
        auto f = collect(data, false);
        if (!f) return f.error();
        if (!f->special) return make_error("naddr is missing the identifier (TLV type 0)");
        if (!f->author) return make_error("naddr is missing the author (TLV type 2)");
        if (!f->kind) return make_error("naddr is missing the kind (TLV type 3)");
        if (*f->kind > 65535) return make_error("naddr kind is above 65535");
        return Entity{Naddr{Address{*f->kind, std::move(*f->author), std::string(*f->special)},
                            std::move(f->relays)}};
    }
    return make_error("unknown NIP-19 prefix '" + hrp + "'");
}

std::string encode_npub(const PublicKey& pk) {
    return bech32::encode("npub", pk.bytes);
}
std::string encode_note(const Bytes32& id) {
    return bech32::encode("note", id);
}
std::string encode_nsec(const SecretKey& sk) {
    return bech32::encode("nsec", sk.reveal_bytes());
}

Result<std::string> encode_npub_hex(std::string_view hex) {
    Bytes32 b{};
    if (!from_hex(hex, b)) return make_error("pubkey must be 64 lowercase hex characters");
    return bech32::encode("npub", b);
}

Result<std::string> encode_note_hex(std::string_view hex) {
    Bytes32 b{};
    if (!from_hex(hex, b)) return make_error("event id must be 64 lowercase hex characters");
    return bech32::encode("note", b);
}

Result<std::string> encode_nprofile(const Nprofile& p) {
    auto pk = hex32(p.pubkey, "pubkey");
    if (!pk) return pk.error();
    if (auto st = check_relays(p.relays); !st) return st.error();
    std::vector<std::uint8_t> out;
    for (const auto& r : p.relays) put_tlv(out, kRelay, r);
    put_tlv(out, kSpecial, *pk);
    return bech32::encode("nprofile", out);
}

Result<std::string> encode_nevent(const Nevent& e) {
    auto id = hex32(e.id, "event id");
    if (!id) return id.error();
    if (auto st = check_relays(e.relays); !st) return st.error();
    std::vector<std::uint8_t> out;
    if (e.kind) put_tlv(out, kKind, kind_bytes(*e.kind));
    if (e.author) {
        auto a = hex32(*e.author, "author");
        if (!a) return a.error();
        put_tlv(out, kAuthor, *a);
    }
    for (const auto& r : e.relays) put_tlv(out, kRelay, r);
    put_tlv(out, kSpecial, *id);
    return bech32::encode("nevent", out);
}

Result<std::string> encode_naddr(const Naddr& a) {
    const Address& ad = a.address;
    if (ad.kind > 65535) return make_error("kind must be 0..65535");
    auto pk = hex32(ad.pubkey, "pubkey");
    if (!pk) return pk.error();
    if (ad.identifier.size() > 255) return make_error("identifier longer than 255 bytes");
    if (!is_valid_utf8(ad.identifier)) return make_error("identifier is not valid UTF-8");
    if (auto st = check_relays(a.relays); !st) return st.error();
    std::vector<std::uint8_t> out;
    put_tlv(out, kKind, kind_bytes(ad.kind));
    put_tlv(out, kAuthor, *pk);
    for (const auto& r : a.relays) put_tlv(out, kRelay, r);
    put_tlv(out, kSpecial, ad.identifier);
    return bech32::encode("naddr", out);
}

nlohmann::json entity_to_json(const Entity& e, bool reveal_secret) {
    using nlohmann::json;
    return std::visit(
        [&](const auto& v) -> json {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, Npub>) {
                return json{{"type", "npub"}, {"pubkey", v.pubkey}};
            } else if constexpr (std::is_same_v<T, Nsec>) {
                json j{{"type", "nsec"}, {"pubkey", v.key.public_key().hex()}};
                if (reveal_secret) j["secret_key"] = v.key.reveal_hex();
                return j;
            } else if constexpr (std::is_same_v<T, Note>) {
                return json{{"type", "note"}, {"id", v.id}};
            } else if constexpr (std::is_same_v<T, Nprofile>) {
                return json{{"type", "nprofile"}, {"pubkey", v.pubkey}, {"relays", v.relays}};
            } else if constexpr (std::is_same_v<T, Nevent>) {
                json j{{"type", "nevent"}, {"id", v.id}, {"relays", v.relays}};
                if (v.author) j["author"] = *v.author;
                if (v.kind) j["kind"] = *v.kind;
                return j;
            } else {
                return json{{"type", "naddr"},
                            {"kind", v.address.kind},
                            {"pubkey", v.address.pubkey},
                            {"identifier", v.address.identifier},
                            {"relays", v.relays},
                            {"address", v.address.to_string()}};
            }
        },
        e);
}

}  // namespace tenex::nostr
