#include "relay/backoff.hpp"

#include <algorithm>

#include "common/backoff.hpp"

namespace tenex::relay {

Backoff::Backoff(BackoffOptions options, std::uint64_t seed) : options_(options), rng_(seed) {
    options_.jitter = std::clamp(options_.jitter, 0.0, 1.0);
    if (options_.multiplier < 1.0) options_.multiplier = 1.0;
    if (options_.cap < options_.initial) options_.cap = options_.initial;
}

std::chrono::milliseconds Backoff::next() {
    const double step =
        exponential_delay(options_.initial, options_.cap, attempt_, options_.multiplier).count();
    if (attempt_ < 1000) ++attempt_;
    const double fixed = step * (1.0 - options_.jitter);
    std::uniform_real_distribution<double> dist(0.0, step * options_.jitter);
    const double delay = fixed + (options_.jitter > 0 ? dist(rng_) : 0.0);
    return std::chrono::milliseconds(static_cast<std::int64_t>(delay));
}

}  // namespace tenex::relay
