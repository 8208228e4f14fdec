// Key files: a secret key the operator keeps in a file (the daemon key, --key of publish and
// sign). The only file this module reads; everything else in nostr does no I/O.
#pragma once

#include <string>

#include "common/result.hpp"
#include "nostr/keys.hpp"

namespace tenex::nostr {

// A key file holds a secret key as 64 hex characters or nsec1 (whitespace trimmed).
// The error never contains the file's content.
Result<Keys> load_key_file(const std::string& path);

}  // namespace tenex::nostr
