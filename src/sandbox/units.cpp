#include "sandbox/units.hpp"

#include <array>
#include <charconv>
#include <utility>

namespace tenex::sandbox {
namespace {

constexpr std::int64_t kMaxBytes = std::int64_t{1} << 62;

struct Suffix {
    std::string_view name;
    std::int64_t factor;
};

constexpr std::array<Suffix, 11> kMemorySuffixes{{
    {"Ki", 1024LL},
    {"Mi", 1024LL * 1024},
    {"Gi", 1024LL * 1024 * 1024},
    {"Ti", 1024LL * 1024 * 1024 * 1024},
    {"k", 1000LL},
    {"K", 1000LL},
    {"M", 1000LL * 1000},
    {"G", 1000LL * 1000 * 1000},
    {"T", 1000LL * 1000 * 1000 * 1000},
    {"B", 1},
    {"", 1},
}};

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

// Parses an unsigned decimal integer without overflow; nullopt-like false on failure.
bool parse_u64(std::string_view s, std::uint64_t& out) {
    if (!all_digits(s)) return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && ptr == s.data() + s.size();
}

std::string quoted(std::string_view s) {
    return "\"" + std::string(s) + "\"";
}

}  // namespace

Result<std::int64_t> parse_memory(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    const std::string_view number = text.substr(0, digits);
    const std::string_view suffix = text.substr(digits);
    if (number.empty())
        return make_error("invalid memory size " + quoted(text) +
                          ": expected an integer with an optional unit (e.g. 512Mi, 2Gi, 1G)");
    const Suffix* found = nullptr;
    for (const auto& s : kMemorySuffixes)
        if (s.name == suffix) {
            found = &s;
            break;
        }
    if (found == nullptr)
        return make_error("invalid memory unit " + quoted(suffix) + " in " + quoted(text) +
                          ": use Ki, Mi, Gi, Ti (1024) or k, M, G, T (1000)");
    std::uint64_t n = 0;
    if (!parse_u64(number, n) || n > static_cast<std::uint64_t>(kMaxBytes / found->factor))
        return make_error("memory size " + quoted(text) + " is too large");
    return static_cast<std::int64_t>(n) * found->factor;
}

Result<std::int64_t> parse_cpus(std::string_view text) {
    const auto dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const std::string_view frac =
        dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    const auto bad = [&] {
        return make_error("invalid CPU count " + quoted(text) +
                          ": expected a decimal number such as 0.5 or 2");
    };
    if (whole.empty() && frac.empty()) return bad();
    if (!whole.empty() && !all_digits(whole)) return bad();
    if (dot != std::string_view::npos && !all_digits(frac)) return bad();
    if (frac.size() > 9)
        return make_error("CPU count " + quoted(text) + " has more than 9 decimals");
    std::uint64_t w = 0;
    if (!whole.empty() && (!parse_u64(whole, w) || w > 1024))
        return make_error("CPU count " + quoted(text) + " is out of range (0 < cpus <= 1024)");
    std::uint64_t f = 0;
    if (!frac.empty()) {
        (void)parse_u64(frac, f);
        for (std::size_t i = frac.size(); i < 9; ++i) f *= 10;
    }
    const auto nano = static_cast<std::int64_t>(w * 1'000'000'000ULL + f);
    if (nano <= 0 || nano > 1024LL * 1'000'000'000LL)
        return make_error("CPU count " + quoted(text) + " is out of range (0 < cpus <= 1024)");
    return nano;
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
    if (text.empty()) return make_error("empty duration: expected e.g. 500ms, 30s, 10m, 24h");
    std::int64_t total = 0;
    std::string_view rest = text;
    while (!rest.empty()) {
        std::size_t digits = 0;
        while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
        if (digits == 0)
            return make_error("invalid duration " + quoted(text) +
                              ": expected e.g. 500ms, 30s, 10m, 24h or 1h30m");
        std::uint64_t n = 0;
        if (!parse_u64(rest.substr(0, digits), n) || n > 1'000'000'000'000ULL)
            return make_error("duration " + quoted(text) + " is too large");
        rest.remove_prefix(digits);
        std::int64_t factor = 0;
        std::size_t unit_len = 0;
        if (rest.starts_with("ms")) {
            factor = 1;
            unit_len = 2;
        } else if (rest.starts_with("s")) {
            factor = 1000;
            unit_len = 1;
        } else if (rest.starts_with("m")) {
            factor = 60'000;
            unit_len = 1;
        } else if (rest.starts_with("h")) {
            factor = 3'600'000;
            unit_len = 1;
        } else if (rest.starts_with("d")) {
            factor = 86'400'000;
            unit_len = 1;
        } else {
            return make_error("invalid duration " + quoted(text) +
                              ": every number needs a unit (ms, s, m, h, d)");
        }
        rest.remove_prefix(unit_len);
        total += static_cast<std::int64_t>(n) * factor;
        if (total > 100LL * 365 * 86'400'000LL)
            return make_error("duration " + quoted(text) + " is too large (over 100 years)");
    }
    return std::chrono::milliseconds(total);
}

std::string format_memory(std::int64_t bytes) {
    constexpr std::array<std::pair<std::int64_t, const char*>, 4> kUnits{{
        {1024LL * 1024 * 1024 * 1024, "Ti"},
        {1024LL * 1024 * 1024, "Gi"},
        {1024LL * 1024, "Mi"},
        {1024LL, "Ki"},
    }};
    if (bytes > 0)
        for (const auto& [factor, name] : kUnits)
            if (bytes % factor == 0) return std::to_string(bytes / factor) + name;
    return std::to_string(bytes);
}

std::string format_cpus(std::int64_t nano_cpus) {
    std::string out = std::to_string(nano_cpus / 1'000'000'000);
    std::int64_t frac = nano_cpus % 1'000'000'000;
    if (frac == 0) return out;
    std::string digits = std::to_string(frac);
    digits.insert(0, 9 - digits.size(), '0');
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    return out + "." + digits;
}

std::string format_duration(std::chrono::milliseconds ms) {
    std::int64_t v = ms.count();
    if (v == 0) return "0s";
    std::string out;
    const std::pair<std::int64_t, const char*> units[] = {
        {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
    for (const auto& [factor, name] : units) {
        if (v >= factor) {
            out += std::to_string(v / factor) + name;
            v %= factor;
        }
    }
    return out;
}

}  // namespace tenex::sandbox
