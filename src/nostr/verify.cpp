#include "nostr/verify.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <thread>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "nostr/keys.hpp"

namespace tenex::nostr {

namespace {

// Both helpers return false with *reason set on failure.
bool id_matches(const Event& e, Bytes32& id, const char** reason) {
    Bytes32 claimed{};
    if (!from_hex(e.id, claimed)) {
        *reason = "malformed: 'id' must be 64 lowercase hex characters";
        return false;
    }
    id = compute_id(e);
    if (std::memcmp(id.data(), claimed.data(), id.size()) != 0) {
        *reason = "wrong id";
        return false;
    }
    return true;
}

// Parsing an x-only key costs a field square root (~10% of a verify). Events come from a
// limited set of authors (a whitelist), so each thread keeps recently parsed keys in a small
// set-associative cache: a set is picked by key bytes, and a miss replaces the set's ways in
// turn, so a few keys sharing a set do not evict each other on every event. A miss only
// costs the parse; invalid keys are never cached.
struct PubkeyCache {
    static constexpr std::size_t kSets = 128, kWays = 4;
    struct Way {
        Bytes32 bytes{};
        secp256k1_xonly_pubkey parsed{};
        bool used = false;
    };
    struct Set {
        std::array<Way, kWays> ways{};
        unsigned next = 0;  // the way the next miss replaces
    };
    std::array<Set, kSets> sets{};

    bool parse(const secp256k1_context* ctx, const Bytes32& bytes, secp256k1_xonly_pubkey& out) {
        Set& set = sets[(static_cast<std::size_t>(bytes[0]) << 8 | bytes[1]) % kSets];
        for (const Way& w : set.ways)
            if (w.used && w.bytes == bytes) {
                out = w.parsed;
                return true;
            }
        if (!secp256k1_xonly_pubkey_parse(ctx, &out, bytes.data())) return false;
        Way& w = set.ways[set.next];
        set.next = (set.next + 1) % kWays;
        w = Way{bytes, out, true};
        return true;
    }
};

bool parse_pubkey_cached(const secp256k1_context* ctx, const Bytes32& bytes,
                         secp256k1_xonly_pubkey& out) {
    thread_local PubkeyCache cache;
    return cache.parse(ctx, bytes, out);
}

template <class Fn>
void run_parallel(std::size_t n, unsigned threads, Fn fn) {
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    threads =
        static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(n / 16, 1)));
    if (threads <= 1) {
        fn(0, n);
        return;
    }
    std::vector<std::thread> pool;
    const std::size_t chunk = (n + threads - 1) / threads;
    for (unsigned t = 0; t < threads; ++t) {
        std::size_t begin = t * chunk, end = std::min(n, begin + chunk);
        if (begin >= end) break;
        pool.emplace_back([&fn, begin, end] { fn(begin, end); });
    }
    for (auto& th : pool) th.join();
}

}  // namespace

Status check_id(const Event& e) {
    Bytes32 id;
    const char* reason = nullptr;
    if (!id_matches(e, id, &reason)) return make_error(reason);
    return Unit{};
}

Status verify_event(const Event& e) {
    Bytes32 id;
    const char* reason = nullptr;
    if (!id_matches(e, id, &reason)) return make_error(reason);
    Bytes32 pub{};
    Bytes64 sig{};
    if (!from_hex(e.pubkey, pub))
        return make_error("malformed: 'pubkey' must be 64 lowercase hex characters");
    if (!from_hex(e.sig, sig))
        return make_error("malformed: 'sig' must be 128 lowercase hex characters");
    const auto* ctx = secp_context();
    secp256k1_xonly_pubkey pk;
    if (!parse_pubkey_cached(ctx, pub, pk))
        return make_error("bad pubkey: not a valid x-only public key");
    if (secp256k1_schnorrsig_verify(ctx, sig.data(), id.data(), id.size(), &pk) != 1)
        return make_error("bad signature");
    return Unit{};
}

Result<Event> parse_and_verify(std::string_view json, const ParseLimits& limits) {
    auto ev = parse_event(json, limits);
    if (!ev) return ev;
    if (auto st = verify_event(*ev); !st) return st.error();
    return ev;
}

std::vector<Status> verify_batch(std::span<const Event> events, unsigned threads) {
    std::vector<Status> out(events.size(), Status(Unit{}));
    run_parallel(events.size(), threads, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) out[i] = verify_event(events[i]);
    });
    return out;
}

std::vector<Result<Event>> parse_and_verify_batch(std::span<const std::string_view> jsons,
                                                  unsigned threads, const ParseLimits& limits) {
    std::vector<Result<Event>> out(jsons.size(), Result<Event>(make_error("not verified")));
    run_parallel(jsons.size(), threads, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) out[i] = parse_and_verify(jsons[i], limits);
    });
    return out;
}

}  // namespace tenex::nostr
