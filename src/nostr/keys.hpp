// Keys and BIP-340 Schnorr signatures (libsecp256k1), events signed and verified.
// A SecretKey never prints itself: there is no operator<<, and its debug form is redacted.
#pragma once

#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "nostr/event.hpp"
#include "nostr/hex.hpp"

struct secp256k1_context_struct;

namespace tenex::nostr {

// The process-wide secp256k1 context: created with SECP256K1_CONTEXT_NONE, randomized once
// from the OS random source, then shared read-only by all threads.
const secp256k1_context_struct* secp_context();

// 32 bytes from the OS random source (getrandom). Aborts if the kernel cannot provide them.
void os_random(std::span<std::uint8_t> out);

// An x-only public key (BIP-340).
struct PublicKey {
    Bytes32 bytes{};
    std::string hex() const { return to_hex(bytes); }
    std::string npub() const;
    static Result<PublicKey> from_hex(std::string_view hex);
    friend bool operator==(const PublicKey&, const PublicKey&) = default;
};

class SecretKey {
  public:
    // A fresh key from the OS random source.
    static SecretKey generate();
    // 64 hex characters (either case) or an nsec1 string; surrounding whitespace is trimmed.
    // The reason never contains the input.
    static Result<SecretKey> parse(std::string_view text);
    static Result<SecretKey> from_bytes(std::span<const std::uint8_t> bytes);

    SecretKey(const SecretKey&) = default;
    SecretKey& operator=(const SecretKey&) = default;
    ~SecretKey();

    PublicKey public_key() const;
    // Explicit ways to reveal the secret: only for writing a key file or an nsec on request.
    std::string reveal_hex() const { return to_hex(bytes_); }
    std::string reveal_nsec() const;
    const Bytes32& reveal_bytes() const { return bytes_; }

    // "SecretKey(<redacted>)": safe in logs.
    std::string debug_string() const { return "SecretKey(<redacted>)"; }

  private:
    SecretKey() = default;
    Bytes32 bytes_{};
};

// Not defined: printing a SecretKey is a compile error.
std::ostream& operator<<(std::ostream&, const SecretKey&) = delete;

// A secret key with its public key, as used for signing.
struct Keys {
    explicit Keys(const SecretKey& sk) : secret(sk), pub(secret.public_key()) {}
    static Keys generate() { return Keys(SecretKey::generate()); }
    SecretKey secret;
    PublicKey pub;
};

// BIP-340 sign a 32-byte message with auxiliary randomness from the OS.
Bytes64 schnorr_sign(const Keys& keys, const Bytes32& msg);
// The same with caller-supplied auxiliary randomness (deterministic; for test vectors).
Bytes64 schnorr_sign(const Keys& keys, const Bytes32& msg, const Bytes32& aux);
// BIP-340 verify; false for a public key that is not on the curve.
bool schnorr_verify(const Bytes32& pubkey, const Bytes32& msg, const Bytes64& sig);

// Fills pubkey, created_at (now if absent), id and sig. Fails only if the unsigned event
// breaks the event rules (kind range, UTF-8, limits).
Result<Event> sign_event(UnsignedEvent unsigned_event, const Keys& keys);

}  // namespace tenex::nostr
