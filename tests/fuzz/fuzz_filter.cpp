// Filter parsing: never crashes; accepted filters serialize and parse back equal, and matching
// a fixed event is total.
#include <string_view>

#include "nostr/filter.hpp"

using namespace tenex::nostr;

#define CHECK(x)              \
    do {                      \
        if (!(x)) {           \
            __builtin_trap(); \
        }                     \
    } while (0)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto f = Filter::parse(text);
    if (!f) return 0;
    auto again = Filter::parse(f->serialize());
    CHECK(again.ok() && *again == *f);
    Event ev{std::string(64, 'a'), std::string(64, 'b'), 100, 1, {{"e", "x"}, {"a"}, {}}, "",
             std::string(128, 'c')};
    bool m = f->matches(ev);
    if (!f->ids && !f->authors && !f->kinds && f->tags.empty() && !f->since && !f->until) CHECK(m);
    return 0;
}
