#include "project/agent_keys.hpp"

#include "nostr/keys.hpp"

namespace tenex::project {

KeyGenerator nostr_key_generator() {
    return []() -> Result<std::string> { return nostr::SecretKey::generate().reveal_nsec(); };
}

}  // namespace tenex::project
