#include "relay/cursor.hpp"

#include <algorithm>

namespace tenex::relay {

std::optional<std::int64_t> ResumeCursor::resume_point() const {
    if (newest_ && live_since_) return std::max(*newest_, *live_since_);
    if (newest_) return newest_;
    return live_since_;
}

std::vector<nostr::Filter> ResumeCursor::resume_filters(const std::vector<nostr::Filter>& filters,
                                                        std::chrono::seconds overlap) const {
    auto point = resume_point();
    if (!point) return filters;
    const std::int64_t since = std::max<std::int64_t>(0, *point - overlap.count());
    std::vector<nostr::Filter> out;
    out.reserve(filters.size());
    for (auto f : filters) {
        if (f.until && *f.until < since) {
            out.push_back(std::move(f));
            continue;
        }
        f.since = f.since ? std::max(*f.since, since) : since;
        f.limit.reset();
        out.push_back(std::move(f));
    }
    return out;
}

}  // namespace tenex::relay
