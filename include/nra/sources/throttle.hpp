// Coalescing of derivations under a sustained burst of changes. A source
// derives its configuration after the dispatch round that brought a change;
// while changes keep coming, the next derivation waits as long as
// kCostMultiple times the last one took, capped at kMaxHold, so that a burst
// spends at most about 1/(kCostMultiple+1) of its wall time deriving (plus
// what each change costs the kernel). A change after a quiet spell is derived
// at once: nothing is held when idle. Pure: the caller passes the time.
#pragma once

#include <algorithm>
#include <chrono>

namespace nra {

class DeriveThrottle {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr int kCostMultiple = 4;
    static constexpr std::chrono::milliseconds kMaxHold{50};

    // When a derivation for changes pending at `now` may run (`now` itself
    // unless the last derivation ended less than its hold ago).
    Clock::time_point earliest(Clock::time_point now) const { return std::max(now, next_); }

    // A derivation ran from `start` to `end`.
    void ran(Clock::time_point start, Clock::time_point end) {
        const Clock::duration cost = end > start ? end - start : Clock::duration::zero();
        next_ = end + std::min<Clock::duration>(cost * kCostMultiple, kMaxHold);
    }

private:
    Clock::time_point next_{};
};

}  // namespace nra
