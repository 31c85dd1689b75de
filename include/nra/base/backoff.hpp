// Capped, jittered exponential backoff for retries against a remote (the
// API server's lists and watches, CRD discovery): 0.8 s initial, x2, capped
// at 30 s (jitter included), up to +100 % jitter, back to the start after
// 2 minutes without a failure. The clock and the random source are
// injectable so the sequence is unit-tested.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>

namespace nra {

class Backoff {
public:
    using Clock = std::chrono::steady_clock;
    // A jitter fraction in [0, 1).
    using Random = std::function<double()>;

    static constexpr std::chrono::milliseconds kInitial{800};
    static constexpr std::chrono::milliseconds kCap{30000};
    static constexpr std::chrono::minutes kResetAfter{2};

    // Seeded from std::random_device; the steady clock.
    Backoff();
    Backoff(std::function<Clock::time_point()> now, Random random);

    // The delay before the next attempt, counting this failure.
    std::chrono::milliseconds next();
    void reset() { steps_ = 0; }
    unsigned steps() const { return steps_; }

private:
    std::function<Clock::time_point()> now_;
    Random random_;
    unsigned steps_ = 0;
    Clock::time_point last_failure_{};
};

}  // namespace nra
