#include "relay/message.hpp"

#include <array>

#include "nostr/json_reader.hpp"

namespace tenex::relay {
namespace {

using nlohmann::json;

Result<json> parse_array(std::string_view text) {
    json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return make_error("malformed: not JSON");
    if (!j.is_array() || j.empty() || !j[0].is_string())
        return make_error("malformed: not an array starting with a string");
    return j;
}

Result<std::string> sub_id_at(const json& j, std::size_t i) {
    if (j.size() <= i || !j[i].is_string()) return make_error("malformed: missing subscription id");
    auto s = j[i].get<std::string>();
    if (s.empty() || s.size() > kMaxSubIdBytes)
        return make_error("malformed: subscription id must be 1..64 bytes");
    return s;
}

}  // namespace

namespace {

using nostr::JsonReader;

// One element of a relay message after its type: strings and booleans are read, anything
// else is only checked to be JSON.
struct Element {
    enum class Kind { string, boolean, other };
    Kind kind{Kind::other};
    std::string str{};
    bool boolean{false};
};

// The first three elements after the type (no relay message needs more); later ones are
// validated and skipped, so memory does not grow with them.
struct Elements {
    std::array<Element, 3> el{};
    std::size_t count{0};  // elements after the type, kept or not
    bool is_string(std::size_t i) const {
        return count > i && i < el.size() && el[i].kind == Element::Kind::string;
    }
    std::string take_string(std::size_t i) {
        return is_string(i) ? std::move(el[i].str) : std::string{};
    }
};

Error not_json(const JsonReader& r) {
    return make_error("malformed: not JSON (" +
                      (r.error().empty() ? std::string("syntax error") : r.error()) + ")");
}

Error bad_sub_id() {
    return make_error("malformed: subscription id must be 1..64 bytes");
}

Result<Elements> read_elements(JsonReader& r) {
    Elements out;
    while (r.consume(',')) {
        Element* e = out.count < out.el.size() ? &out.el[out.count] : nullptr;
        ++out.count;
        const char c = r.peek();
        if (e && c == '"') {
            e->kind = Element::Kind::string;
            if (!r.read_string(e->str)) return not_json(r);
            continue;
        }
        if (!r.skip_value()) return not_json(r);
        if (e && (c == 't' || c == 'f')) {
            e->kind = Element::Kind::boolean;
            e->boolean = c == 't';
        }
    }
    if (!r.consume(']')) return make_error("malformed: not JSON (expected ',' or ']')");
    if (!r.at_end()) return make_error("malformed: not JSON (trailing characters)");
    return out;
}

void trim_right(std::string_view& s) {
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
        s.remove_suffix(1);
}

// ["EVENT", sub id, {event}]. The event's text is everything from its '{' to the closing
// ']', read only once, by nostr::parse_event in the pool (which also refuses anything after
// the object: an EVENT has exactly three elements).
Result<RelayMessage> read_event_msg(JsonReader& r, std::string_view text) {
    if (!r.consume(',') || r.peek() != '"') return make_error("malformed: missing subscription id");
    std::string sid;
    if (!r.read_string(sid)) return not_json(r);
    if (sid.empty() || sid.size() > kMaxSubIdBytes) return bad_sub_id();
    if (!r.consume(',') || r.peek() != '{') return make_error("malformed: EVENT without an object");
    std::string_view event = text.substr(r.pos());
    trim_right(event);
    if (event.empty() || event.back() != ']')
        return make_error("malformed: not JSON (expected ']')");
    event.remove_suffix(1);
    trim_right(event);
    if (event.size() < 2 || event.back() != '}')
        return make_error("malformed: EVENT without an object");
    return RelayMessage{EventMsg{std::move(sid), event}};
}

Result<std::string> sub_id_of(Elements& e) {
    if (!e.is_string(0)) return make_error("malformed: missing subscription id");
    auto s = e.take_string(0);
    if (s.empty() || s.size() > kMaxSubIdBytes) return bad_sub_id();
    return s;
}

}  // namespace

Result<RelayMessage> parse_relay_message(std::string_view text) {
    JsonReader r(text);
    std::string type;
    if (!r.consume('[') || r.peek() != '"')
        return make_error("malformed: not an array starting with a string");
    if (!r.read_string(type)) return not_json(r);
    if (type == "EVENT") return read_event_msg(r, text);
    auto parsed = read_elements(r);
    if (!parsed) return parsed.error();
    Elements& e = *parsed;
    if (type == "OK") {
        if (!e.is_string(0) || e.count < 2 || e.el[1].kind != Element::Kind::boolean)
            return make_error("malformed: OK needs [\"OK\",id,bool,msg]");
        return RelayMessage{OkMsg{e.take_string(0), e.el[1].boolean, e.take_string(2)}};
    }
    if (type == "EOSE" || type == "CLOSED") {
        auto sid = sub_id_of(e);
        if (!sid) return sid.error();
        if (type == "EOSE") return RelayMessage{EoseMsg{std::move(*sid)}};
        return RelayMessage{ClosedMsg{std::move(*sid), e.take_string(1)}};
    }
    if (type == "NOTICE") return RelayMessage{NoticeMsg{e.take_string(0)}};
    if (type == "AUTH") {
        if (!e.is_string(0)) return make_error("malformed: AUTH without a challenge");
        return RelayMessage{AuthMsg{e.take_string(0)}};
    }
    return make_error("unknown message type");
}

Result<ClientMessage> parse_client_message(std::string_view text, std::size_t max_filters) {
    auto arr = parse_array(text);
    if (!arr) return arr.error();
    json& j = *arr;
    const auto type = j[0].get<std::string>();
    if (type == "EVENT" || type == "AUTH") {
        if (j.size() < 2 || !j[1].is_object())
            return make_error("malformed: " + type + " without an object");
        if (type == "EVENT") return ClientMessage{ClientEventMsg{std::move(j[1])}};
        return ClientMessage{ClientAuthMsg{std::move(j[1])}};
    }
    if (type == "REQ") {
        auto sid = sub_id_at(j, 1);
        if (!sid) return sid.error();
        if (j.size() < 3) return make_error("malformed: REQ without filters");
        if (j.size() - 2 > max_filters) return make_error("invalid: too many filters");
        ReqMsg req{std::move(*sid), {}};
        for (std::size_t i = 2; i < j.size(); ++i) {
            auto f = nostr::Filter::from_json(j[i]);
            if (!f) return make_error("invalid: filter: " + f.error().message);
            req.filters.push_back(std::move(*f));
        }
        return ClientMessage{std::move(req)};
    }
    if (type == "CLOSE") {
        auto sid = sub_id_at(j, 1);
        if (!sid) return sid.error();
        return ClientMessage{CloseMsg{std::move(*sid)}};
    }
    return make_error("unknown message type");
}

std::string_view reason_prefix(std::string_view message) {
    auto colon = message.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 32) return {};
    auto p = message.substr(0, colon);
    for (char c : p)
        if (!((c >= 'a' && c <= 'z') || c == '-')) return {};
    return p;
}

namespace {
std::string quoted(std::string_view s) {
    std::string out;
    nostr::append_json_string(out, s);
    return out;
}
}  // namespace

std::string make_event_msg(const nostr::Event& event) {
    return "[\"EVENT\"," + nostr::to_json(event) + "]";
}

std::string make_req_msg(std::string_view sub_id, const std::vector<nostr::Filter>& filters) {
    std::string out = "[\"REQ\"," + quoted(sub_id);
    for (const auto& f : filters) out += "," + f.serialize();
    return out + "]";
}

std::string make_close_msg(std::string_view sub_id) {
    return "[\"CLOSE\"," + quoted(sub_id) + "]";
}
std::string make_auth_msg(const nostr::Event& event) {
    return "[\"AUTH\"," + nostr::to_json(event) + "]";
}

std::string make_relay_event_msg(std::string_view sub_id, const nostr::Event& event) {
    return "[\"EVENT\"," + quoted(sub_id) + "," + nostr::to_json(event) + "]";
}
std::string make_relay_event_msg_from_json(std::string_view sub_id, std::string_view event_json) {
    std::string out = "[\"EVENT\"," + quoted(sub_id) + ",";
    out.reserve(out.size() + event_json.size() + 1);
    out.append(event_json);
    out.push_back(']');
    return out;
}
std::string make_ok_msg(std::string_view event_id, bool accepted, std::string_view message) {
    return "[\"OK\"," + quoted(event_id) + (accepted ? ",true," : ",false,") + quoted(message) +
           "]";
}
std::string make_eose_msg(std::string_view sub_id) {
    return "[\"EOSE\"," + quoted(sub_id) + "]";
}
std::string make_closed_msg(std::string_view sub_id, std::string_view message) {
    return "[\"CLOSED\"," + quoted(sub_id) + "," + quoted(message) + "]";
}
std::string make_notice_msg(std::string_view message) {
    return "[\"NOTICE\"," + quoted(message) + "]";
}
std::string make_auth_challenge_msg(std::string_view challenge) {
    return "[\"AUTH\"," + quoted(challenge) + "]";
}

}  // namespace tenex::relay
