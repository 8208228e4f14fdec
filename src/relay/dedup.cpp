#include "relay/dedup.hpp"

namespace tenex::relay {

IdDedup::IdDedup(std::size_t capacity) : ring_(capacity == 0 ? 1 : capacity) {
    set_.reserve(ring_.size());
}

bool IdDedup::insert(std::string_view id) {
    std::string key(id);
    if (set_.count(key)) return false;
    std::string& slot = ring_[next_];
    if (!slot.empty()) set_.erase(slot);
    slot = key;
    set_.insert(std::move(key));
    next_ = (next_ + 1) % ring_.size();
    return true;
}

bool IdDedup::contains(std::string_view id) const { return set_.count(std::string(id)) > 0; }

}  // namespace tenex::relay
