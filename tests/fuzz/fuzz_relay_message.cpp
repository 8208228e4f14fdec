// Relay-to-client messages as the pool reads them: parse_relay_message, then for EVENT
// nostr::parse_event on the event's text. Never crashes, and agrees with a naive nlohmann
// reading (naive_relay_message.hpp) on every text both accept: same type, ids, flags and
// messages, and an EVENT's text is the same JSON object, read as the same event. Where they
// may differ is listed below: nlohmann skips a UTF-8 BOM, stops at a NUL byte, has no nesting
// limit and refuses numbers that overflow a double; the pool refuses an EVENT with other
// than three elements or an object that is not a valid event.
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "naive_relay_message.hpp"
#include "nostr/event.hpp"
#include "relay/message.hpp"

using namespace tenex;

#define CHECK(x)              \
    do {                      \
        if (!(x)) {           \
            __builtin_trap(); \
        }                     \
    } while (0)

namespace {

void compare(const relay::RelayMessage& fast, const std::optional<nostr::Event>& event,
             const fuzz::NaiveRelayMessage& slow) {
    std::visit(
        [&](const auto& m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, relay::EventMsg>) {
                CHECK(slow.type == "EVENT" && m.sub_id == slow.first);
                auto j = nlohmann::json::parse(m.event_json, nullptr, false);
                CHECK(!j.is_discarded() && j == slow.event);
                auto from_dom = nostr::parse_event(slow.event);
                CHECK(event && from_dom.ok() && *from_dom == *event);
            } else if constexpr (std::is_same_v<T, relay::OkMsg>) {
                CHECK(slow.type == "OK" && m.event_id == slow.first &&
                      m.accepted == slow.accepted && m.message == slow.message);
            } else if constexpr (std::is_same_v<T, relay::EoseMsg>) {
                CHECK(slow.type == "EOSE" && m.sub_id == slow.first);
            } else if constexpr (std::is_same_v<T, relay::ClosedMsg>) {
                CHECK(slow.type == "CLOSED" && m.sub_id == slow.first && m.message == slow.message);
            } else if constexpr (std::is_same_v<T, relay::NoticeMsg>) {
                CHECK(slow.type == "NOTICE" && m.message == slow.first);
            } else {
                CHECK(slow.type == "AUTH" && m.challenge == slow.first);
            }
        },
        fast);
}

// A number nlohmann cannot hold in a double: an exponent, or more than 300 digits in a row.
bool may_overflow_a_double(std::string_view text) {
    std::size_t run = 0;
    for (char c : text) {
        if (c == 'e' || c == 'E') return true;
        run = (c >= '0' && c <= '9') ? run + 1 : 0;
        if (run > 300) return true;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto fast = relay::parse_relay_message(text);
    if (!fast)
        CHECK(fast.error().message.rfind("malformed: ", 0) == 0 ||
              fast.error().message == "unknown message type");
    std::optional<nostr::Event> event;
    bool event_refused = false;
    if (fast)
        if (const auto* ev = std::get_if<relay::EventMsg>(&*fast)) {
            CHECK(ev->event_json.size() >= 2 && ev->event_json.front() == '{' &&
                  ev->event_json.back() == '}');
            auto e = nostr::parse_event(ev->event_json);
            if (e)
                event = std::move(*e);
            else
                event_refused = true;
        }
    const bool accepted = fast && !event_refused;
    // nlohmann takes a NUL byte for the end of the input; no JSON text contains one.
    if (text.find('\0') != std::string_view::npos) {
        CHECK(!accepted);
        return 0;
    }
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        if (accepted) CHECK(may_overflow_a_double(text));
        return 0;
    }
    auto slow = fuzz::naive_relay_message(j);
    if (!accepted) {
        const bool bom = text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF";
        const bool deep =
            !fast && fast.error().message.find("nested too deeply") != std::string::npos;
        const bool event_shape = slow && slow->type == "EVENT" && (j.size() != 3 || event_refused);
        CHECK(bom || deep || event_shape || !slow);
        return 0;
    }
    CHECK(slow.has_value());
    compare(*fast, event, *slow);
    return 0;
}
