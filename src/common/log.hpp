// Logging setup shared by every subcommand. Secrets never reach a log: callers log key ids
// (npub, pubkey hex) and never secret keys, tokens or URL credentials.
#pragma once

#include <string>

namespace tenex::log {

enum class Format { text, json };

// Configures the default spdlog logger (stderr). Level names: trace, debug, info, warn,
// error, critical, off. Returns false and leaves the logger unchanged on an unknown level.
bool setup(Format format, const std::string& level);

}  // namespace tenex::log
