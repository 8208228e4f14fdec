// Address parsing: agrees with a naive split-and-check implementation; round trips through
// to_string and naddr.
#include <string>
#include <string_view>

#include "naive.hpp"
#include "nostr/address.hpp"

using namespace tenex::nostr;

#define CHECK(x)              \
    do {                      \
        if (!(x)) {           \
            __builtin_trap(); \
        }                     \
    } while (0)

namespace {

bool naive_valid(const std::string& s) {
    auto a = s.find(':');
    if (a == std::string::npos) return false;
    auto b = s.find(':', a + 1);
    if (b == std::string::npos) return false;
    std::string kind = s.substr(0, a), pub = s.substr(a + 1, b - a - 1), ident = s.substr(b + 1);
    if (kind.empty() || kind.size() > 5 || (kind.size() > 1 && kind[0] == '0')) return false;
    for (char c : kind)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    if (std::stoul(kind) > 65535) return false;
    if (pub.size() != 64) return false;
    for (char c : pub)
        if (std::string("0123456789abcdef").find(c) == std::string::npos) return false;
    return tenex::fuzz::naive_utf8(ident);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    auto a = Address::parse(text);
    CHECK(a.ok() == naive_valid(text));
    if (!a) return 0;
    CHECK(a->to_string() == text);
    (void)kind_class(a->kind);
    auto n = a->to_naddr();
    CHECK(n.ok() == (a->identifier.size() <= 255));
    if (n.ok()) {
        auto back = Address::from_naddr(*n);
        CHECK(back.ok() && *back == *a);
    }
    return 0;
}
