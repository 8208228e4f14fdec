// RFC 3339 times, the one reader and writer of the project: the engine's timestamps
// ("2026-11-27T23:59:01.123456789Z", "0001-01-01T00:00:00Z" for never), the daemon's event log
// and the HTTP API's ("2026-11-27T23:59:01.123Z").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tenex {

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)", the whole text -> unix milliseconds (the
// fraction's first three digits). nullopt for anything else and for years before 1970 (the
// engine's zero time means "never").
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

// unix milliseconds -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC).
std::string format_rfc3339_ms(std::int64_t unix_ms);

}  // namespace tenex
