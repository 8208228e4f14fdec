#include "relay/message.hpp"

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

std::string optional_string(const json& j, std::size_t i) {
    return (j.size() > i && j[i].is_string()) ? j[i].get<std::string>() : std::string{};
}

}  // namespace

Result<RelayMessage> parse_relay_message(std::string_view text) {
    auto arr = parse_array(text);
    if (!arr) return arr.error();
    const json& j = *arr;
    const auto& type = j[0].get_ref<const std::string&>();
    if (type == "EVENT") {
        auto sid = sub_id_at(j, 1);
        if (!sid) return sid.error();
        if (j.size() < 3 || !j[2].is_object()) return make_error("malformed: EVENT without an object");
        return RelayMessage{EventMsg{std::move(*sid), std::move(arr->at(2))}};
    }
    if (type == "OK") {
        if (j.size() < 3 || !j[1].is_string() || !j[2].is_boolean())
            return make_error("malformed: OK needs [\"OK\",id,bool,msg]");
        return RelayMessage{OkMsg{j[1].get<std::string>(), j[2].get<bool>(), optional_string(j, 3)}};
    }
    if (type == "EOSE") {
        auto sid = sub_id_at(j, 1);
        if (!sid) return sid.error();
        return RelayMessage{EoseMsg{std::move(*sid)}};
    }
    if (type == "CLOSED") {
        auto sid = sub_id_at(j, 1);
        if (!sid) return sid.error();
        return RelayMessage{ClosedMsg{std::move(*sid), optional_string(j, 2)}};
    }
    if (type == "NOTICE") return RelayMessage{NoticeMsg{optional_string(j, 1)}};
    if (type == "AUTH") {
        if (j.size() < 2 || !j[1].is_string()) return make_error("malformed: AUTH without a challenge");
        return RelayMessage{AuthMsg{j[1].get<std::string>()}};
    }
    return make_error("unknown message type");
}

Result<ClientMessage> parse_client_message(std::string_view text, std::size_t max_filters) {
    auto arr = parse_array(text);
    if (!arr) return arr.error();
    json& j = *arr;
    const auto type = j[0].get<std::string>();
    if (type == "EVENT" || type == "AUTH") {
        if (j.size() < 2 || !j[1].is_object()) return make_error("malformed: " + type + " without an object");
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

std::string make_event_msg(const nostr::Event& event) { return "[\"EVENT\"," + nostr::to_json(event) + "]"; }

std::string make_req_msg(std::string_view sub_id, const std::vector<nostr::Filter>& filters) {
    std::string out = "[\"REQ\"," + quoted(sub_id);
    for (const auto& f : filters) out += "," + f.serialize();
    return out + "]";
}

std::string make_close_msg(std::string_view sub_id) { return "[\"CLOSE\"," + quoted(sub_id) + "]"; }
std::string make_auth_msg(const nostr::Event& event) { return "[\"AUTH\"," + nostr::to_json(event) + "]"; }

std::string make_relay_event_msg(std::string_view sub_id, const nostr::Event& event) {
    return "[\"EVENT\"," + quoted(sub_id) + "," + nostr::to_json(event) + "]";
}
std::string make_ok_msg(std::string_view event_id, bool accepted, std::string_view message) {
    return "[\"OK\"," + quoted(event_id) + (accepted ? ",true," : ",false,") + quoted(message) + "]";
}
std::string make_eose_msg(std::string_view sub_id) { return "[\"EOSE\"," + quoted(sub_id) + "]"; }
std::string make_closed_msg(std::string_view sub_id, std::string_view message) {
    return "[\"CLOSED\"," + quoted(sub_id) + "," + quoted(message) + "]";
}
std::string make_notice_msg(std::string_view message) { return "[\"NOTICE\"," + quoted(message) + "]"; }
std::string make_auth_challenge_msg(std::string_view challenge) {
    return "[\"AUTH\"," + quoted(challenge) + "]";
}

}  // namespace tenex::relay
