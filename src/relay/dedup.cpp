#include "relay/dedup.hpp"

#include "nostr/hex.hpp"

namespace tenex::relay {

IdDedup::IdDedup(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

bool IdDedup::insert(std::string_view id) {
    Key key;
    if (!nostr::from_hex(id, key)) return true;
    if (set_.count(key)) return false;
    if (ring_.size() < capacity_) {
        ring_.push_back(key);
    } else {
        set_.erase(ring_[next_]);
        ring_[next_] = key;
        next_ = (next_ + 1) % capacity_;
    }
    set_.insert(key);
    return true;
}

bool IdDedup::contains(std::string_view id) const {
    Key key;
    return nostr::from_hex(id, key) && set_.count(key) > 0;
}

}  // namespace tenex::relay
