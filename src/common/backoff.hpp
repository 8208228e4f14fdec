// Exponential backoff: the one growth rule of the retry loops (relay reconnects, the engine's
// event stream, failed project loads). Each adds its own jitter, or none.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>

namespace tenex {

// initial * multiplier^attempt, at most cap: attempt 0 waits `initial`. The exponent stops at
// 62, so a long run of failures stays at the cap instead of overflowing. In fractional
// milliseconds, so a caller that scales it for jitter rounds once, at the end.
inline std::chrono::duration<double, std::milli> exponential_delay(
    std::chrono::milliseconds initial, std::chrono::milliseconds cap, unsigned attempt,
    double multiplier = 2.0) {
    const double base = static_cast<double>(initial.count()) *
                        std::pow(multiplier, static_cast<double>(std::min(attempt, 62u)));
    return std::chrono::duration<double, std::milli>(
        std::min(base, static_cast<double>(cap.count())));
}

}  // namespace tenex
