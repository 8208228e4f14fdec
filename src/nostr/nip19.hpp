// NIP-19 entities: npub, nsec, note (bare 32 bytes) and nprofile, nevent, naddr (TLV).
// Decoders accept TLVs in any order and ignore unknown types; encoders emit them in the
// order nostr-tools does (highest type first), so strings match byte for byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.hpp"
#include "nostr/address.hpp"
#include "nostr/keys.hpp"

namespace tenex::nostr {

struct Npub {
    std::string pubkey{};  // 64 lowercase hex
};
struct Nsec {
    SecretKey key;
};
struct Note {
    std::string id{};  // 64 lowercase hex
};
struct Nprofile {
    std::string pubkey{};
    std::vector<std::string> relays{};
};
struct Nevent {
    std::string id{};
    std::vector<std::string> relays{};
    std::optional<std::string> author{};
    std::optional<std::uint32_t> kind{};
};
struct Naddr {
    Address address{};
    std::vector<std::string> relays{};
};

using Entity = std::variant<Npub, Nsec, Note, Nprofile, Nevent, Naddr>;

// Decodes any of the six; the reason says what is wrong (checksum, prefix, TLV, ...).
Result<Entity> decode_entity(std::string_view text);

std::string encode_npub(const PublicKey& pk);
std::string encode_nsec(const SecretKey& sk);
std::string encode_note(const Bytes32& id);
// Hex-input forms; fail on bad hex.
Result<std::string> encode_npub_hex(std::string_view pubkey_hex);
Result<std::string> encode_note_hex(std::string_view id_hex);
// TLV forms; fail on bad hex, a value over 255 bytes or a kind above 65535.
Result<std::string> encode_nprofile(const Nprofile& p);
Result<std::string> encode_nevent(const Nevent& e);
Result<std::string> encode_naddr(const Naddr& a);

// JSON for display (the `decode` command): {"type":"naddr","kind":..,"pubkey":..,...}.
// An nsec is shown as {"type":"nsec","secret_key":hex} only when reveal_secret is true,
// otherwise the secret is replaced by its public key.
nlohmann::json entity_to_json(const Entity& e, bool reveal_secret = false);

}  // namespace tenex::nostr
