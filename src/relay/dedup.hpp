// Bounded "seen before" set of event ids: a hash set plus a ring that evicts the oldest id
// once `capacity` ids are held, so memory stays fixed however many events arrive.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tenex::relay {

class IdDedup {
public:
    explicit IdDedup(std::size_t capacity = 65536);

    // True if the id was new (and is now remembered); false if it was seen recently.
    bool insert(std::string_view id);
    bool contains(std::string_view id) const;
    std::size_t size() const { return set_.size(); }
    std::size_t capacity() const { return ring_.size(); }

private:
    std::vector<std::string> ring_;
    std::size_t next_{0};
    std::unordered_set<std::string> set_;
};

}  // namespace tenex::relay
