// DeriveThrottle: derivations under a burst are spaced by a multiple of the
// last one's cost (capped); after a quiet spell nothing is held.
#include <catch2/catch.hpp>

#include <chrono>

#include "nra/sources/throttle.hpp"

using namespace nra;
using namespace std::chrono_literals;

TEST_CASE("derive throttle: idle derives at once, a burst waits a multiple of the last cost, capped") {
    using C = DeriveThrottle::Clock;
    DeriveThrottle t;
    const C::time_point t0 = C::time_point{} + 1000s;
    // Never derived: at once.
    CHECK(t.earliest(t0) == t0);
    // A derivation of 2 ms: the next waits 4x that after its end.
    t.ran(t0, t0 + 2ms);
    CHECK(t.earliest(t0 + 3ms) == t0 + 2ms + 2ms * DeriveThrottle::kCostMultiple);
    // A change after the hold is over (a quiet spell): at once.
    CHECK(t.earliest(t0 + 1s) == t0 + 1s);
    // An expensive derivation: the hold is capped.
    t.ran(t0 + 1s, t0 + 1s + 200ms);
    CHECK(t.earliest(t0 + 1s + 200ms) == t0 + 1s + 200ms + DeriveThrottle::kMaxHold);
    CHECK(DeriveThrottle::kMaxHold <= 50ms);
    // A clock that does not advance costs nothing and holds nothing.
    t.ran(t0 + 2s, t0 + 2s);
    CHECK(t.earliest(t0 + 2s) == t0 + 2s);
    // Sustained burst: derivation time stays a bounded share of the wall time.
    DeriveThrottle b;
    C::time_point now = t0;
    C::duration busy{}, cost = 10ms;
    for (int i = 0; i < 100; ++i) {
        now = b.earliest(now);
        b.ran(now, now + cost);
        busy += cost;
        now += cost;
    }
    const double share = std::chrono::duration<double>(busy) / std::chrono::duration<double>(now - t0);
    CHECK(share <= 1.0 / (DeriveThrottle::kCostMultiple + 1) + 0.01);
}
