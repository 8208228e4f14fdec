// Reconnect delays: exponential from `initial` up to `cap`, with "equal jitter" (half the
// step fixed, half random) so many daemons do not reconnect in lock step.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace tenex::relay {

struct BackoffOptions {
    std::chrono::milliseconds initial{500};
    std::chrono::milliseconds cap{30000};
    double multiplier{2.0};
    double jitter{0.5};  // fraction of each delay that is random, 0..1
};

class Backoff {
  public:
    explicit Backoff(BackoffOptions options = {}, std::uint64_t seed = std::random_device{}());

    // The delay before the next attempt; each call grows the next one until the cap.
    std::chrono::milliseconds next();
    // After a connection that stayed up: start again from `initial`.
    void reset() { attempt_ = 0; }
    unsigned attempts() const { return attempt_; }
    const BackoffOptions& options() const { return options_; }

  private:
    BackoffOptions options_;
    unsigned attempt_{0};
    std::mt19937_64 rng_;
};

}  // namespace tenex::relay
