// Bounded "seen before" set of event ids: a hash set plus a ring that evicts the oldest id
// once `capacity` ids are held, so memory stays fixed however many events arrive. Ids are kept
// as their 32 bytes (not 64 hex characters) and the ring grows only as ids arrive: about
// 100 bytes per remembered id.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tenex::relay {

class IdDedup {
  public:
    explicit IdDedup(std::size_t capacity = 65536);

    // True if the id was new (and is now remembered); false if it was seen recently. Ids are
    // event ids, 64 lowercase hex; anything else is never remembered (insert returns true).
    bool insert(std::string_view id);
    bool contains(std::string_view id) const;
    std::size_t size() const { return set_.size(); }
    std::size_t capacity() const { return capacity_; }

  private:
    using Key = std::array<std::uint8_t, 32>;
    // Only verified ids are inserted, and those are SHA-256 outputs nobody can steer: any 8 of
    // their bytes are as good a hash as any.
    struct KeyHash {
        std::size_t operator()(const Key& k) const noexcept {
            std::size_t h;
            std::memcpy(&h, k.data(), sizeof h);
            return h;
        }
    };

    std::size_t capacity_;
    std::vector<Key> ring_;  // in arrival order, up to capacity_; then the oldest is replaced
    std::size_t next_{0};
    std::unordered_set<Key, KeyHash> set_;
};

}  // namespace tenex::relay
