// Helpers for command-line tools built on the pool: key files and relay lists.
#pragma once

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "nostr/keys.hpp"
#include "relay/pool.hpp"

namespace tenex::relay {

// A key file holds a secret key as 64 hex characters or nsec1 (whitespace trimmed).
// The error never contains the file's content.
inline Result<nostr::Keys> load_key_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return make_error("cannot read key file " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto sk = nostr::SecretKey::parse(ss.str());
    if (!sk) return make_error("key file " + path + ": " + sk.error().message);
    return nostr::Keys(std::move(*sk));
}

// Adds every relay and waits (up to `wait`) for them to connect. Prints bad URLs.
inline bool add_relays(RelayPool& pool, const std::vector<std::string>& urls, RelayMode mode,
                       std::chrono::milliseconds wait) {
    for (const auto& u : urls) {
        if (auto st = pool.add_relay(u, mode); !st) {
            std::fprintf(stderr, "bad relay %s: %s\n", u.c_str(), st.error().message.c_str());
            return false;
        }
    }
    pool.wait_connected(urls.size(), wait);
    return true;
}

}  // namespace tenex::relay
