// What the relay client commands (publish, req) share: the relays given on the command line.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "relay/pool.hpp"

namespace tenex::cli {

// Adds every relay and waits (up to `wait`) for them to connect. Prints bad URLs.
inline bool add_relays(relay::RelayPool& pool, const std::vector<std::string>& urls,
                       relay::RelayMode mode, std::chrono::milliseconds wait) {
    for (const auto& u : urls) {
        if (auto st = pool.add_relay(u, mode); !st) {
            std::fprintf(stderr, "bad relay %s: %s\n", u.c_str(), st.error().message.c_str());
            return false;
        }
    }
    pool.wait_connected(urls.size(), wait);
    return true;
}

}  // namespace tenex::cli
