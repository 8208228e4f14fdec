// Nostr events (NIP-01): the typed value, strict parsing, canonical serialization and id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.hpp"
#include "nostr/hex.hpp"

namespace tenex::nostr {

using Tag = std::vector<std::string>;

// Largest created_at accepted: 2^53 - 1, the largest integer JavaScript (and thus the
// clients' JSON.stringify) represents exactly.
inline constexpr std::int64_t kMaxTimestamp = (std::int64_t{1} << 53) - 1;
inline constexpr std::uint32_t kMaxKind = 65535;

// A signed event as found on the wire. id, pubkey and sig are lowercase hex (64, 64, 128).
struct Event {
    std::string id{};
    std::string pubkey{};
    std::int64_t created_at{0};
    std::uint32_t kind{0};
    std::vector<Tag> tags{};
    std::string content{};
    std::string sig{};

    // The first tag whose name (element 0) is `name`, or nullptr.
    const Tag* find_tag(std::string_view name) const;
    // Element 1 of the first tag named `name` that has one.
    std::optional<std::string_view> tag_value(std::string_view name) const;

    friend bool operator==(const Event&, const Event&) = default;
};

// What the author supplies before signing. created_at empty means "now".
struct UnsignedEvent {
    std::uint32_t kind{1};
    std::string content{};
    std::vector<Tag> tags{};
    std::optional<std::int64_t> created_at{};
};

// Limits applied by the parsers; anything larger is rejected with a reason.
struct ParseLimits {
    std::size_t max_bytes{512 * 1024};    // whole JSON text (string parser only)
    std::size_t max_tags{10000};          // number of tags
    std::size_t max_tag_values{1000};     // strings in one tag
    std::size_t max_content{256 * 1024};  // content bytes (after unescaping)
};

// Parses and validates an event: every field present with the right type, id/pubkey 64 and
// sig 128 lowercase hex, kind 0..65535, created_at 0..2^53-1, tags arrays of strings, strings
// valid UTF-8 (lone surrogate escapes are rejected), no duplicate fields. Unknown fields are
// ignored. Does NOT check the id or signature: see verify.hpp. Errors start "malformed: ".
Result<Event> parse_event(std::string_view json, const ParseLimits& limits = {});
Result<Event> parse_event(const nlohmann::json& json, const ParseLimits& limits = {});
// Text overloads, so a std::string never converts to nlohmann::json by accident.
inline Result<Event> parse_event(const std::string& json, const ParseLimits& limits = {}) {
    return parse_event(std::string_view(json), limits);
}
inline Result<Event> parse_event(const char* json, const ParseLimits& limits = {}) {
    return parse_event(std::string_view(json), limits);
}

// The same checks on an already typed event (e.g. one built in code).
Status validate_event(const Event& event, const ParseLimits& limits = {});

// Appends s as a JSON string literal escaped exactly like JavaScript's JSON.stringify does for
// well-formed strings: \" \\ \b \f \n \r \t, other bytes < 0x20 as \u00xx, the rest verbatim.
void append_json_string(std::string& out, std::string_view s);

// [0,pubkey,created_at,kind,tags,content] with no whitespace: the bytes the id hashes.
std::string serialize_for_id(const Event& event);
std::string serialize_for_id(std::string_view pubkey_hex, std::int64_t created_at,
                             std::uint32_t kind, const std::vector<Tag>& tags,
                             std::string_view content);

// SHA-256 of serialize_for_id.
Bytes32 compute_id(const Event& event);
std::string compute_id_hex(const Event& event);

// The event as wire JSON {"id","pubkey","created_at","kind","tags","content","sig"} with
// JSON.stringify escaping, no whitespace.
std::string to_json(const Event& event);
nlohmann::json to_json_value(const Event& event);

}  // namespace tenex::nostr
