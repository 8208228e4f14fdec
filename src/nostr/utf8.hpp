// UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
#pragma once

#include <cstddef>
#include <string_view>

namespace tenex::nostr {

// True if s is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if it is malformed.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

}  // namespace tenex::nostr
