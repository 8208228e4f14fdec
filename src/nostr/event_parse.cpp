// The two event parsers: a focused one over the JSON text (the hot path: relays deliver
// text) and one over an nlohmann::json value. Both apply the same rules and limits.
#include <nlohmann/json.hpp>

#include "nostr/event.hpp"
#include "nostr/json_reader.hpp"
#include "nostr/utf8.hpp"

namespace tenex::nostr {

namespace {

enum Field : unsigned {
    kId = 1,
    kPubkey = 2,
    kCreatedAt = 4,
    kKind = 8,
    kTags = 16,
    kContent = 32,
    kSig = 64,
    kAll = 127,
};

Error malformed(std::string_view what) {
    return make_error("malformed: " + std::string(what));
}

const char* missing_field(unsigned seen) {
    if (!(seen & kId)) return "malformed: missing field 'id'";
    if (!(seen & kPubkey)) return "malformed: missing field 'pubkey'";
    if (!(seen & kCreatedAt)) return "malformed: missing field 'created_at'";
    if (!(seen & kKind)) return "malformed: missing field 'kind'";
    if (!(seen & kTags)) return "malformed: missing field 'tags'";
    if (!(seen & kContent)) return "malformed: missing field 'content'";
    return "malformed: missing field 'sig'";
}

bool read_tags(JsonReader& r, std::vector<Tag>& tags, const ParseLimits& limits) {
    if (!r.consume('[')) return r.fail("'tags' must be an array of arrays of strings");
    if (r.consume(']')) return true;
    do {
        if (tags.size() >= limits.max_tags) return r.fail("too many tags");
        if (!r.consume('[')) return r.fail("'tags' must be an array of arrays of strings");
        Tag& tag = tags.emplace_back();
        if (!r.consume(']')) {
            do {
                if (tag.size() >= limits.max_tag_values) return r.fail("tag has too many values");
                if (r.peek() != '"') return r.fail("tag values must be strings");
                if (!r.read_string(tag.emplace_back())) return false;
            } while (r.consume(','));
            if (!r.consume(']')) return r.fail("expected ',' or ']' in tag");
        }
    } while (r.consume(','));
    return r.consume(']') ? true : r.fail("expected ',' or ']' in tags");
}

bool read_hex_field(JsonReader& r, std::string& out, std::size_t n, const char* what) {
    if (r.peek() != '"') return r.fail(what);
    if (!r.read_string(out)) return false;
    return is_lower_hex(out, n) ? true : r.fail(what);
}

}  // namespace

Result<Event> parse_event(std::string_view json, const ParseLimits& limits) {
    if (json.size() > limits.max_bytes) return malformed("event too large");
    JsonReader r(json);
    Event ev;
    unsigned seen = 0;
    std::string key;
    auto field_error = [&](const char* what) -> Error {
        return malformed(r.error().empty() || r.error() == what
                             ? std::string(what)
                             : std::string(what) + " (" + r.error() + ")");
    };
    if (!r.consume('{')) return malformed("event must be a JSON object");
    if (!r.consume('}')) {
        do {
            if (r.peek() != '"' || !r.read_string(key)) return malformed("expected a field name");
            if (!r.consume(':')) return malformed("expected ':'");
            unsigned bit = 0;
            if (key == "id") {
                bit = kId;
                if (!read_hex_field(r, ev.id, 64, "'id' must be 64 lowercase hex characters"))
                    return field_error("'id' must be 64 lowercase hex characters");
            } else if (key == "pubkey") {
                bit = kPubkey;
                if (!read_hex_field(r, ev.pubkey, 64,
                                    "'pubkey' must be 64 lowercase hex characters"))
                    return field_error("'pubkey' must be 64 lowercase hex characters");
            } else if (key == "sig") {
                bit = kSig;
                if (!read_hex_field(r, ev.sig, 128, "'sig' must be 128 lowercase hex characters"))
                    return field_error("'sig' must be 128 lowercase hex characters");
            } else if (key == "created_at") {
                bit = kCreatedAt;
                std::uint64_t v;
                if (!r.read_uint(static_cast<std::uint64_t>(kMaxTimestamp), v))
                    return field_error("'created_at' must be an integer 0..2^53-1");
                ev.created_at = static_cast<std::int64_t>(v);
            } else if (key == "kind") {
                bit = kKind;
                std::uint64_t v;
                if (!r.read_uint(kMaxKind, v))
                    return field_error("'kind' must be an integer 0..65535");
                ev.kind = static_cast<std::uint32_t>(v);
            } else if (key == "tags") {
                bit = kTags;
                if (!read_tags(r, ev.tags, limits)) return malformed(r.error());
            } else if (key == "content") {
                bit = kContent;
                if (r.peek() != '"') return malformed("'content' must be a string");
                if (!r.read_string(ev.content)) return field_error("'content' must be a string");
                if (ev.content.size() > limits.max_content) return malformed("content too large");
            } else {
                if (!r.skip_value()) return malformed(r.error());
            }
            if (seen & bit) return malformed("duplicate field '" + key + "'");
            seen |= bit;
        } while (r.consume(','));
        if (!r.consume('}')) return malformed("expected ',' or '}'");
    }
    if (!r.at_end()) return malformed("trailing characters after the event");
    if (seen != kAll) return make_error(missing_field(seen));
    return ev;
}

namespace {

Result<std::string> hex_field(const nlohmann::json& j, const char* name, std::size_t n) {
    auto it = j.find(name);
    if (it == j.end()) return malformed(std::string("missing field '") + name + "'");
    if (!it->is_string() || !is_lower_hex(it->get_ref<const std::string&>(), n))
        return malformed("'" + std::string(name) + "' must be " + std::to_string(n) +
                         " lowercase hex characters");
    return it->get<std::string>();
}

Result<std::uint64_t> uint_field(const nlohmann::json& j, const char* name, std::uint64_t max,
                                 const char* what) {
    auto it = j.find(name);
    if (it == j.end()) return malformed(std::string("missing field '") + name + "'");
    if (!it->is_number_integer()) return malformed(what);
    if (it->is_number_unsigned()) {
        auto v = it->get<std::uint64_t>();
        if (v > max) return malformed(what);
        return v;
    }
    auto v = it->get<std::int64_t>();
    if (v < 0 || static_cast<std::uint64_t>(v) > max) return malformed(what);
    return static_cast<std::uint64_t>(v);
}

}  // namespace

Result<Event> parse_event(const nlohmann::json& j, const ParseLimits& limits) {
    if (!j.is_object()) return malformed("event must be a JSON object");
    Event ev;
    auto id = hex_field(j, "id", 64);
    if (!id) return id.error();
    auto pubkey = hex_field(j, "pubkey", 64);
    if (!pubkey) return pubkey.error();
    auto created_at = uint_field(j, "created_at", static_cast<std::uint64_t>(kMaxTimestamp),
                                 "'created_at' must be an integer 0..2^53-1");
    if (!created_at) return created_at.error();
    auto kind = uint_field(j, "kind", kMaxKind, "'kind' must be an integer 0..65535");
    if (!kind) return kind.error();
    auto tags = j.find("tags");
    if (tags == j.end()) return malformed("missing field 'tags'");
    if (!tags->is_array()) return malformed("'tags' must be an array of arrays of strings");
    if (tags->size() > limits.max_tags) return malformed("too many tags");
    for (const auto& t : *tags) {
        if (!t.is_array()) return malformed("'tags' must be an array of arrays of strings");
        if (t.size() > limits.max_tag_values) return malformed("tag has too many values");
        Tag& tag = ev.tags.emplace_back();
        for (const auto& v : t) {
            if (!v.is_string()) return malformed("tag values must be strings");
            const auto& s = v.get_ref<const std::string&>();
            if (!is_valid_utf8(s)) return malformed("string is not valid UTF-8");
            tag.push_back(s);
        }
    }
    auto content = j.find("content");
    if (content == j.end()) return malformed("missing field 'content'");
    if (!content->is_string()) return malformed("'content' must be a string");
    ev.content = content->get<std::string>();
    if (ev.content.size() > limits.max_content) return malformed("content too large");
    if (!is_valid_utf8(ev.content)) return malformed("string is not valid UTF-8");
    auto sig = hex_field(j, "sig", 128);
    if (!sig) return sig.error();
    ev.id = std::move(*id);
    ev.pubkey = std::move(*pubkey);
    ev.sig = std::move(*sig);
    ev.created_at = static_cast<std::int64_t>(*created_at);
    ev.kind = static_cast<std::uint32_t>(*kind);
    return ev;
}

}  // namespace tenex::nostr
