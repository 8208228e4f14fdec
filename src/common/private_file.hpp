// Files that hold secrets (key files): created with mode 0600 whatever the umask, written
// and fsynced before they become visible, never left half-written.
#pragma once

#include <optional>
#include <string>

#include "common/result.hpp"

namespace tenex {

// Writes `content` to a new file `path` (mode 0600). An existing file is an error unless
// `replace`, in which case it is replaced atomically (through a 0600 temporary file and
// rename). Error messages name the path, never the content.
Status write_private_file(const std::string& path, const std::string& content,
                          bool replace = false);

// A secret from a file the operator wrote (an API key, a password): its content without the
// line ends an editor adds. nullopt when it cannot be read; the caller names the file.
std::optional<std::string> read_secret_file(const std::string& path);

}  // namespace tenex
