// Logging setup shared by every subcommand. Secrets never reach a log: callers log key ids
// (npub, pubkey hex) and never secret keys, tokens or URL credentials.
#pragma once

#include <string>
#include <string_view>

namespace tenex::log {

enum class Format { text, json };

// Configures the default spdlog logger (stderr). Level names: trace, debug, info, warn,
// error, critical, off. Returns false and leaves the logger unchanged on an unknown level.
bool setup(Format format, const std::string& level);

// Untrusted text (identifiers, addresses from events) made safe for one log line: control
// bytes become '?', and text longer than max_bytes is cut, saying how long it was.
std::string printable(std::string_view text, std::size_t max_bytes = 120);

}  // namespace tenex::log
