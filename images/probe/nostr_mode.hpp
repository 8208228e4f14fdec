// The probe's Nostr mode: a stand-in for a TENEX project runtime. It reads its project and
// relays from the environment, publishes kind 24010 status events and answers every kind 1
// event tagged with its project with a kind 1 reply (see images/probe/README.md).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "nostr/address.hpp"
#include "nostr/event.hpp"
#include "nostr/keys.hpp"

namespace tenex::probe {

// Everything the mode reads from its environment, parsed and checked.
struct NostrConfig {
    nostr::Address address{};
    std::vector<std::string> relays{};      // normalized ws:// or wss:// URLs
    std::optional<nostr::SecretKey> key{};  // TENEX_PROBE_KEY; absent: generated at start
    std::chrono::seconds status_interval{30};
};

// Reads TENEX_PROJECT_ADDRESS, TENEX_RELAYS, TENEX_PROBE_KEY and TENEX_STATUS_INTERVAL
// through `getenv` (a parameter so tests can feed it). The reason names the variable and
// never contains the key.
using GetEnv = std::function<const char*(const char*)>;
Result<NostrConfig> read_nostr_config(const GetEnv& getenv);

// The unsigned kind 24010 status event of a probe with public key `probe` for `address`.
nostr::UnsignedEvent status_event(const nostr::Address& address, const nostr::PublicKey& probe);
// The unsigned kind 1 reply to `message` (which is tagged with `address`).
nostr::UnsignedEvent reply_event(const nostr::Address& address, const nostr::Event& message);

// Runs the mode until SIGTERM/SIGINT. Returns the exit code: 0 on a signal, 2 on a bad
// environment (the reason on stderr).
int run_nostr_mode();

}  // namespace tenex::probe
