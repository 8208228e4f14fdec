#include "nostr/keys.hpp"

#include <sys/random.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <openssl/crypto.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "nostr/nip19.hpp"

namespace tenex::nostr {

void os_random(std::span<std::uint8_t> out) {
    std::size_t got = 0;
    while (got < out.size()) {
        ssize_t n = getrandom(out.data() + got, out.size() - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::fputs("tenex-sandbox: getrandom failed; refusing to continue\n", stderr);
            std::abort();
        }
        got += static_cast<std::size_t>(n);
    }
}

const secp256k1_context_struct* secp_context() {
    static secp256k1_context* ctx = [] {
        secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
        Bytes32 seed{};
        os_random(seed);
        if (!secp256k1_context_randomize(c, seed.data())) std::abort();
        OPENSSL_cleanse(seed.data(), seed.size());
        return c;
    }();
    return ctx;
}

std::string PublicKey::npub() const {
    return encode_npub(*this);
}

Result<PublicKey> PublicKey::from_hex(std::string_view hex) {
    PublicKey pk;
    if (!nostr::from_hex(hex, pk.bytes, true))
        return make_error("public key must be 64 lowercase hex characters");
    secp256k1_xonly_pubkey parsed;
    if (!secp256k1_xonly_pubkey_parse(secp_context(), &parsed, pk.bytes.data()))
        return make_error("public key is not a valid x-only key");
    return pk;
}

SecretKey::~SecretKey() {
    OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

SecretKey SecretKey::generate() {
    SecretKey sk;
    do {
        os_random(sk.bytes_);
    } while (!secp256k1_ec_seckey_verify(secp_context(), sk.bytes_.data()));
    return sk;
}

Result<SecretKey> SecretKey::from_bytes(std::span<const std::uint8_t> bytes) {
    if (bytes.size() != 32) return make_error("secret key must be 32 bytes");
    SecretKey sk;
    std::copy(bytes.begin(), bytes.end(), sk.bytes_.begin());
    if (!secp256k1_ec_seckey_verify(secp_context(), sk.bytes_.data()))
        return make_error("secret key is out of range");
    return sk;
}

Result<SecretKey> SecretKey::parse(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
        text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.remove_suffix(1);
    if (text.starts_with("nsec1")) {
        auto e = decode_entity(text);
        if (!e) return make_error("invalid nsec: " + e.error().message);
        if (auto* n = std::get_if<Nsec>(&*e)) return n->key;
        return make_error("invalid nsec");
    }
    Bytes32 b{};
    if (!nostr::from_hex(text, b, false))
        return make_error("secret key must be 64 hex characters or an nsec1 string");
    auto sk = from_bytes(b);
    OPENSSL_cleanse(b.data(), b.size());
    return sk;
}

std::string SecretKey::reveal_nsec() const {
    return encode_nsec(*this);
}

PublicKey SecretKey::public_key() const {
    secp256k1_keypair kp;
    if (!secp256k1_keypair_create(secp_context(), &kp, bytes_.data())) std::abort();  // checked
    secp256k1_xonly_pubkey xpk;
    if (!secp256k1_keypair_xonly_pub(secp_context(), &xpk, nullptr, &kp)) std::abort();
    PublicKey pk;
    secp256k1_xonly_pubkey_serialize(secp_context(), pk.bytes.data(), &xpk);
    OPENSSL_cleanse(&kp, sizeof kp);
    return pk;
}

Bytes64 schnorr_sign(const Keys& keys, const Bytes32& msg) {
    Bytes32 aux{};
    os_random(aux);
    return schnorr_sign(keys, msg, aux);
}

Bytes64 schnorr_sign(const Keys& keys, const Bytes32& msg, const Bytes32& aux) {
    secp256k1_keypair kp;
    if (!secp256k1_keypair_create(secp_context(), &kp, keys.secret.reveal_bytes().data()))
        std::abort();  // SecretKey is always in range
    Bytes64 sig{};
    if (!secp256k1_schnorrsig_sign32(secp_context(), sig.data(), msg.data(), &kp, aux.data()))
        std::abort();
    OPENSSL_cleanse(&kp, sizeof kp);
    return sig;
}

bool schnorr_verify(const Bytes32& pubkey, const Bytes32& msg, const Bytes64& sig) {
    secp256k1_xonly_pubkey pk;
    if (!secp256k1_xonly_pubkey_parse(secp_context(), &pk, pubkey.data())) return false;
    return secp256k1_schnorrsig_verify(secp_context(), sig.data(), msg.data(), msg.size(), &pk) ==
           1;
}

Result<Event> sign_event(UnsignedEvent u, const Keys& keys) {
    Event ev;
    ev.pubkey = keys.pub.hex();
    ev.created_at = u.created_at ? *u.created_at
                                 : std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count();
    ev.kind = u.kind;
    ev.tags = std::move(u.tags);
    ev.content = std::move(u.content);
    Bytes32 id = compute_id(ev);
    ev.id = to_hex(id);
    ev.sig = to_hex(schnorr_sign(keys, id));
    if (auto st = validate_event(ev); !st) return st.error();
    return ev;
}

}  // namespace tenex::nostr
