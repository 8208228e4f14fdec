// SHA-256 of a byte string as 64 lowercase hex digits (OpenSSL's EVP digest): the content
// digests of specs and profiles, secret hashes, and the short stable suffixes of names.
#pragma once

#include <string>
#include <string_view>

namespace tenex {

std::string sha256_hex(std::string_view data);

}  // namespace tenex
