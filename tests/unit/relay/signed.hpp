// Signed test events.
#pragma once

#include <string>

#include "nostr/keys.hpp"

namespace tenex::relay::testing {

inline nostr::Event signed_event(const nostr::Keys& keys, std::uint32_t kind, std::string content,
                                 std::int64_t created_at, std::vector<nostr::Tag> tags = {}) {
    nostr::UnsignedEvent u;
    u.kind = kind;
    u.content = std::move(content);
    u.created_at = created_at;
    u.tags = std::move(tags);
    auto e = nostr::sign_event(std::move(u), keys);
    if (!e) throw std::runtime_error(e.error().message);
    return *e;
}

inline std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace tenex::relay::testing
