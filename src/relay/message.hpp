// Relay protocol messages (NIP-01, NIP-42): typed values parsed from untrusted text, and the
// builders for what we send. Parsing never throws: it returns the message or a reason.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "nostr/event.hpp"
#include "nostr/filter.hpp"

namespace tenex::relay {

// Relay -> client. The event of an EVENT message stays as text, a view into the parsed
// message (valid while that text lives): everything from the event's '{' to the closing ']'.
// It is not parsed here: the pool reads it once with nostr::parse_event (which refuses
// anything after the object), drops duplicates by id, and only then verifies it.
struct EventMsg {
    std::string sub_id{};
    std::string_view event_json{};
};
struct OkMsg {
    std::string event_id{};
    bool accepted{false};
    std::string message{};
};
struct EoseMsg {
    std::string sub_id{};
};
struct ClosedMsg {
    std::string sub_id{};
    std::string message{};
};
struct NoticeMsg {
    std::string message{};
};
struct AuthMsg {
    std::string challenge{};
};
using RelayMessage = std::variant<EventMsg, OkMsg, EoseMsg, ClosedMsg, NoticeMsg, AuthMsg>;

// Client -> relay (what the embedded relay receives).
struct ClientEventMsg {
    nlohmann::json event{};
};
struct ReqMsg {
    std::string sub_id{};
    std::vector<nostr::Filter> filters{};
};
struct CloseMsg {
    std::string sub_id{};
};
struct ClientAuthMsg {
    nlohmann::json event{};
};
using ClientMessage = std::variant<ClientEventMsg, ReqMsg, CloseMsg, ClientAuthMsg>;

inline constexpr std::size_t kMaxSubIdBytes = 64;

// Relay messages are read without building a JSON document (the pool's hot path): the text
// must be one JSON array (RFC 8259, valid UTF-8, nesting up to 64), its first element the type;
// for EVENT, the envelope around the event (see EventMsg).
Result<RelayMessage> parse_relay_message(std::string_view text);
Result<ClientMessage> parse_client_message(std::string_view text, std::size_t max_filters = 20);

// The machine-readable prefix of an OK/CLOSED message ("auth-required", "rate-limited", ...),
// or empty when the message has none.
std::string_view reason_prefix(std::string_view message);

// Builders. Events are serialized with nostr::to_json (JSON.stringify escaping).
std::string make_event_msg(const nostr::Event& event);
std::string make_req_msg(std::string_view sub_id, const std::vector<nostr::Filter>& filters);
std::string make_close_msg(std::string_view sub_id);
std::string make_auth_msg(const nostr::Event& event);
// Relay side.
std::string make_relay_event_msg(std::string_view sub_id, const nostr::Event& event);
// The same with the event's JSON as stored (nostr::to_json output), copied as it is.
std::string make_relay_event_msg_from_json(std::string_view sub_id, std::string_view event_json);
std::string make_ok_msg(std::string_view event_id, bool accepted, std::string_view message);
std::string make_eose_msg(std::string_view sub_id);
std::string make_closed_msg(std::string_view sub_id, std::string_view message);
std::string make_notice_msg(std::string_view message);
std::string make_auth_challenge_msg(std::string_view challenge);

}  // namespace tenex::relay
