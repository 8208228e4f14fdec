// Agent identities: the KeyGenerator the daemon passes to the layout writer, backed by
// tenex::nostr (a fresh BIP-340 key from the OS random source, as nsec1...).
#pragma once

#include "project/tenex_layout.hpp"

namespace tenex::project {

KeyGenerator nostr_key_generator();

}  // namespace tenex::project
