#include "project/slug.hpp"

namespace tenex::project {

namespace {
constexpr std::size_t kMaxSlug = 64;
}

std::string kebab_slug(std::string_view title) {
    std::string out;
    bool pending_dash = false;
    for (char raw : title) {
        const auto c = static_cast<unsigned char>(raw);
        const bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum) {
            pending_dash = !out.empty();
            continue;
        }
        if (pending_dash) {
            if (out.size() + 1 >= kMaxSlug) break;
            out.push_back('-');
            pending_dash = false;
        }
        if (out.size() >= kMaxSlug) break;
        out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    }
    while (!out.empty() && out.back() == '-') out.pop_back();
    return out;
}

}  // namespace tenex::project
