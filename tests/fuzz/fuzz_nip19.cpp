// bech32 / NIP-19 decoding: agrees with a naive bech32 decoder; decoded entities re-encode and
// decode to the same value.
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "naive.hpp"
#include "nostr/bech32.hpp"
#include "nostr/nip19.hpp"

using namespace tenex::nostr;

#define CHECK(x)              \
    do {                      \
        if (!(x)) {           \
            __builtin_trap(); \
        }                     \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto ours = bech32::decode(text);
    auto naive = tenex::fuzz::naive_bech32(text);
    CHECK(ours.ok() == naive.has_value());
    if (ours.ok()) {
        CHECK(ours->hrp == naive->first);
        CHECK(ours->data == naive->second);
        auto again = bech32::decode(bech32::encode(ours->hrp, ours->data));
        CHECK(again.ok() && again->data == ours->data);
    }
    auto e = decode_entity(text);
    if (!e) return 0;
    CHECK(ours.ok());
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, Npub>) {
                auto s = encode_npub_hex(v.pubkey);
                CHECK(s.ok());
                auto d = decode_entity(*s);
                CHECK(d.ok() && std::get<Npub>(*d).pubkey == v.pubkey);
            } else if constexpr (std::is_same_v<T, Note>) {
                auto d = decode_entity(encode_note_hex(v.id).value());
                CHECK(d.ok() && std::get<Note>(*d).id == v.id);
            } else if constexpr (std::is_same_v<T, Nsec>) {
                auto d = decode_entity(v.key.reveal_nsec());
                CHECK(d.ok() && std::get<Nsec>(*d).key.reveal_hex() == v.key.reveal_hex());
            } else if constexpr (std::is_same_v<T, Nprofile>) {
                auto s = encode_nprofile(v);
                CHECK(s.ok());
                auto d = decode_entity(*s);
                CHECK(d.ok() && std::get<Nprofile>(*d).pubkey == v.pubkey &&
                      std::get<Nprofile>(*d).relays == v.relays);
            } else if constexpr (std::is_same_v<T, Nevent>) {
                auto s = encode_nevent(v);
                CHECK(s.ok());
                auto d = decode_entity(*s);
                CHECK(d.ok());
                const auto& n = std::get<Nevent>(*d);
                CHECK(n.id == v.id && n.relays == v.relays && n.author == v.author &&
                      n.kind == v.kind);
            } else {
                auto s = encode_naddr(v);
                CHECK(s.ok());
                auto d = decode_entity(*s);
                CHECK(d.ok() && std::get<Naddr>(*d).address == v.address &&
                      std::get<Naddr>(*d).relays == v.relays);
                CHECK(Address::parse(v.address.to_string()).ok());
            }
        },
        *e);
    (void)entity_to_json(*e).dump();
    return 0;
}
