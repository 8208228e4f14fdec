#include "nostr/address.hpp"

#include "nostr/hex.hpp"
#include "nostr/nip19.hpp"
#include "nostr/utf8.hpp"

namespace tenex::nostr {

KindClass kind_class(std::uint32_t kind) {
    if (kind == 0 || kind == 3 || (kind >= 10000 && kind < 20000)) return KindClass::replaceable;
    if (kind >= 20000 && kind < 30000) return KindClass::ephemeral;
    if (kind >= 30000 && kind < 40000) return KindClass::addressable;
    return KindClass::regular;
}

const char* to_string(KindClass c) {
    switch (c) {
        case KindClass::regular:
            return "regular";
        case KindClass::replaceable:
            return "replaceable";
        case KindClass::ephemeral:
            return "ephemeral";
        case KindClass::addressable:
            return "addressable";
    }
    return "regular";
}

Result<Address> Address::parse(std::string_view text) {
    std::size_t c1 = text.find(':');
    if (c1 == std::string_view::npos)
        return make_error("address must be <kind>:<pubkey>:<identifier>");
    std::size_t c2 = text.find(':', c1 + 1);
    if (c2 == std::string_view::npos)
        return make_error("address must be <kind>:<pubkey>:<identifier>");
    std::string_view kind = text.substr(0, c1);
    std::string_view pubkey = text.substr(c1 + 1, c2 - c1 - 1);
    std::string_view ident = text.substr(c2 + 1);
    if (kind.empty() || kind.size() > 5)
        return make_error("address kind must be an integer 0..65535");
    if (kind.size() > 1 && kind[0] == '0') return make_error("address kind has a leading zero");
    std::uint32_t k = 0;
    for (char c : kind) {
        if (c < '0' || c > '9') return make_error("address kind must be an integer 0..65535");
        k = k * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (k > 65535) return make_error("address kind must be an integer 0..65535");
    if (!is_lower_hex(pubkey, 64))
        return make_error("address pubkey must be 64 lowercase hex characters");
    if (!is_valid_utf8(ident)) return make_error("address identifier is not valid UTF-8");
    return Address{k, std::string(pubkey), std::string(ident)};
}

std::string Address::to_string() const {
    return std::to_string(kind) + ":" + pubkey + ":" + identifier;
}

Result<std::string> Address::to_naddr(std::span<const std::string> relays) const {
    return encode_naddr(Naddr{*this, std::vector<std::string>(relays.begin(), relays.end())});
}

Result<Address> Address::from_naddr(std::string_view naddr) {
    auto e = decode_entity(naddr);
    if (!e) return e.error();
    if (auto* n = std::get_if<Naddr>(&*e)) return n->address;
    return make_error("not an naddr");
}

}  // namespace tenex::nostr
