#include "common/rfc3339.hpp"

#include <cstdio>
#include <ctime>

namespace tenex {
namespace {

// The digits text[pos, pos + n) as a number, or -1.
int digits(std::string_view text, std::size_t pos, std::size_t n) {
    if (pos + n > text.size()) return -1;
    int v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (text[i] < '0' || text[i] > '9') return -1;
        v = v * 10 + (text[i] - '0');
    }
    return v;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view t) {
    const int year = digits(t, 0, 4), month = digits(t, 5, 2), day = digits(t, 8, 2);
    const int hour = digits(t, 11, 2), minute = digits(t, 14, 2), second = digits(t, 17, 2);
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 || second < 0 || second > 60 || t[4] != '-' || t[7] != '-' ||
        (t[10] != 'T' && t[10] != 't') || t[13] != ':' || t[16] != ':')
        return std::nullopt;
    std::size_t pos = 19;
    std::int64_t ms = 0;
    if (pos < t.size() && t[pos] == '.') {
        const std::size_t first = ++pos;
        for (int scale = 100; pos < t.size() && t[pos] >= '0' && t[pos] <= '9'; ++pos, scale /= 10)
            ms += (t[pos] - '0') * scale;
        if (pos == first) return std::nullopt;
    }
    std::int64_t offset_s = 0;
    if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
        ++pos;
    } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-') && t.size() == pos + 6 &&
               t[pos + 3] == ':') {
        const int h = digits(t, pos + 1, 2), m = digits(t, pos + 4, 2);
        if (h < 0 || h > 23 || m < 0 || m > 59) return std::nullopt;
        offset_s = (t[pos] == '+' ? 1 : -1) * (h * 3600 + m * 60);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != t.size()) return std::nullopt;
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return (static_cast<std::int64_t>(timegm(&tm)) - offset_s) * 1000 + ms;
}

std::string format_rfc3339_ms(std::int64_t unix_ms) {
    const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];  // room for any int fields: no truncation warning
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(unix_ms % 1000));
    return buf;
}

}  // namespace tenex
