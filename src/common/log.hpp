// Logging setup shared by every subcommand. Secrets never reach a log: callers log key ids
// (npub, pubkey hex) and never secret keys, tokens or URL credentials.
//
// Lines go to stderr in one of two formats:
//   text  "2026-12-03 17:16:31.123 info  http: API listening on 127.0.0.1:7878"; when stderr
//         is connected to the systemd journal (JOURNAL_STREAM names it), the journal adds the
//         time and the unit, so a line is "<6>http: API listening ..." instead: the syslog
//         priority prefix that journald turns into the entry's priority (journalctl -p err).
//   json  one JSON object per line for log shippers:
//         {"time":"2026-12-03T17:16:31.123Z","level":"info","component":"http",
//          "message":"http: API listening on 127.0.0.1:7878"}
//         time is UTC (RFC 3339, milliseconds); component is the message's leading
//         "<word>: " prefix (lowercase letters, digits, '-' or '_'; e.g. http, reload,
//         policy, systemd) or "daemon" when there is none; message is the whole text. Bytes
//         that are not UTF-8 are replaced, control characters escaped.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tenex::log {

enum class Format { text, json };

// "text" or "json"; nothing for anything else.
std::optional<Format> parse_format(std::string_view name);

// Configures the default spdlog logger (stderr); may be called again to change it. Level
// names: trace, debug, info, warn, error, critical, off. Returns false and leaves the logger
// unchanged on an unknown level.
bool setup(Format format, const std::string& level);

// An error for stderr that does not go through the logger (a command's start-up error, e.g.
// `up` with an invalid configuration), one or more lines. When stderr is the systemd journal,
// each line gets the "<3>" (error) prefix, so `journalctl -p err` shows why a service did not
// start; elsewhere it is printed as it is. Never with colours.
void print_error(std::string_view text);

// One log record as the json format writes it (without the newline).
std::string json_line(std::string_view time_utc, std::string_view level, std::string_view message);
// The component of a message: its leading "<word>: " prefix, or "daemon".
std::string_view component_of(std::string_view message);

// Untrusted text (identifiers, addresses from events) made safe for one log line: control
// bytes become '?', and text longer than max_bytes is cut, saying how long it was.
std::string printable(std::string_view text, std::size_t max_bytes = 120);

}  // namespace tenex::log
