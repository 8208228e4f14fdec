// Event JSON parsing: never crashes; whatever the focused parser accepts, nlohmann reads the
// same way (when it can parse the text at all), and our serializations parse back identically.
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "naive.hpp"
#include "nostr/event.hpp"
#include "nostr/verify.hpp"

using namespace tenex::nostr;

#define CHECK(x)              \
    do {                      \
        if (!(x)) {           \
            __builtin_trap(); \
        }                     \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto ev = parse_event(text);
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!ev) {
        CHECK(ev.error().message.rfind("malformed: ", 0) == 0);
        return 0;
    }
    CHECK(validate_event(*ev).ok());
    CHECK(tenex::fuzz::naive_utf8(ev->content));
    // Round trips through our own writers.
    auto back = parse_event(to_json(*ev));
    CHECK(back.ok() && *back == *ev);
    auto arr = nlohmann::json::parse(serialize_for_id(*ev), nullptr, false);
    CHECK(arr.is_array() && arr.size() == 6);
    CHECK(arr[0] == 0 && arr[1] == ev->pubkey && arr[2] == ev->created_at && arr[3] == ev->kind);
    CHECK(arr[5] == ev->content);
    CHECK(arr[4].size() == ev->tags.size());
    (void)verify_event(*ev);
    // nlohmann refuses some valid JSON we skip in unknown fields (floats that overflow a
    // double); whenever it parses the text, it must see the same event.
    if (j.is_discarded()) return 0;
    auto ev2 = parse_event(j);
    CHECK(ev2.ok());
    CHECK(*ev2 == *ev);
    return 0;
}
