// Where a subscription resumes after a reconnect. Per relay it remembers the newest
// created_at delivered and the wall-clock time the stored part ended (EOSE); on reconnect the
// REQ asks again from `max(newest, eose time) - overlap`, so events a relay received while we
// were away are fetched and the overlap (dropped again by id) covers clock skew.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "nostr/filter.hpp"

namespace tenex::relay {

class ResumeCursor {
  public:
    void saw_event(std::int64_t created_at) {
        if (!newest_ || created_at > *newest_) newest_ = created_at;
    }
    void saw_eose(std::int64_t now) {
        if (!live_since_ || now > *live_since_) live_since_ = now;
    }
    // nullopt until something was seen: then the original filters are sent unchanged.
    std::optional<std::int64_t> resume_point() const;
    std::optional<std::int64_t> newest() const { return newest_; }

    // The filters to send on (re)connect. With a resume point every filter gets
    // since = max(own since, point - overlap) and its limit removed (a live-only limit:0 must
    // not hide what was missed). Filters whose until is before the point are kept unchanged.
    std::vector<nostr::Filter> resume_filters(const std::vector<nostr::Filter>& filters,
                                              std::chrono::seconds overlap) const;

  private:
    std::optional<std::int64_t> newest_{};
    std::optional<std::int64_t> live_since_{};
};

}  // namespace tenex::relay
