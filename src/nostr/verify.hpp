// Event verification: recompute the id, compare, check the BIP-340 signature.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "nostr/event.hpp"

namespace tenex::nostr {

// "wrong id" if the id is not the hash of the canonical serialization; "bad pubkey" if the
// pubkey is not a valid x-only key; "bad signature" otherwise when the signature fails.
// Events must already be well-formed (from parse_event, or validate_event); a malformed
// id/pubkey/sig hex yields "malformed: ...".
Status verify_event(const Event& event);

// Only the id check ("wrong id").
Status check_id(const Event& event);

// parse_event + verify_event: the full pipeline for one JSON text.
Result<Event> parse_and_verify(std::string_view json, const ParseLimits& limits = {});

// Verifies many events on `threads` threads (0: std::thread::hardware_concurrency()).
// The result has one Status per event, in order.
std::vector<Status> verify_batch(std::span<const Event> events, unsigned threads = 0);
// The same from JSON texts (parse + verify); each result carries the event or the reason.
std::vector<Result<Event>> parse_and_verify_batch(std::span<const std::string_view> jsons,
                                                  unsigned threads = 0,
                                                  const ParseLimits& limits = {});

}  // namespace tenex::nostr
