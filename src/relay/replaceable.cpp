#include "relay/replaceable.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "nostr/address.hpp"

namespace tenex::relay {

std::optional<std::string> replace_key(const nostr::Event& event) {
    switch (nostr::kind_class(event.kind)) {
        case nostr::KindClass::replaceable:
            return std::to_string(event.kind) + ":" + event.pubkey + ":";
        case nostr::KindClass::addressable:
            return std::to_string(event.kind) + ":" + event.pubkey + ":" +
                   std::string(event.tag_value("d").value_or(""));
        default:
            return std::nullopt;
    }
}

bool newer_version(const nostr::Event& a, const nostr::Event& b) {
    if (a.created_at != b.created_at) return a.created_at > b.created_at;
    return a.id < b.id;
}

std::vector<nostr::Event> keep_newest(std::vector<nostr::Event> events) {
    std::vector<nostr::Event> out;
    std::unordered_set<std::string> ids;
    std::unordered_map<std::string, std::size_t> newest;  // key -> index in out
    for (auto& e : events) {
        if (!ids.insert(e.id).second) continue;
        auto key = replace_key(e);
        if (!key) {
            out.push_back(std::move(e));
            continue;
        }
        auto it = newest.find(*key);
        if (it == newest.end()) {
            newest.emplace(std::move(*key), out.size());
            out.push_back(std::move(e));
        } else if (newer_version(e, out[it->second])) {
            out[it->second] = std::move(e);
        }
    }
    std::sort(out.begin(), out.end(),
              [](const nostr::Event& a, const nostr::Event& b) { return newer_version(a, b); });
    return out;
}

}  // namespace tenex::relay
