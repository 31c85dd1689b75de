// Tells a fight (another writer undoing our corrections) from a stream of
// distinct imposters, and rate-limits only fights. Pure: the caller passes
// the time.
//
// A fight is the same object corrected `repeats` times within `window`.
// Corrective reconciles (those triggered only by other writers' changes)
// spend tokens: a fighting round costs one token plus one per
// `ops_per_token` ops it applied, so a "from all" imposter that forces
// thousands of our rules to be moved is corrected about once a second; the
// bucket holds `burst` tokens and refills one per `refill`. Distinct
// imposters never spend anything: each is removed the moment it appears.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "nra/core/types.hpp"

namespace nra {

class FightLimiter {
public:
    using Clock = std::chrono::steady_clock;
    struct Params {
        int repeats = 3;
        Clock::duration window = std::chrono::seconds(10);
        std::size_t memory = 4096;  // objects remembered
        double burst = 100;
        Clock::duration refill = std::chrono::milliseconds(20);
        std::size_t ops_per_token = 100;
        Clock::duration warn_every = std::chrono::seconds(10);
    };

    explicit FightLimiter(Params p, Clock::time_point now);
    explicit FightLimiter(Clock::time_point now) : FightLimiter(Params{}, now) {}

    // Before a corrective reconcile: may it run now? When not, the caller
    // retries after refill().
    bool allow(Clock::time_point now);
    // The ops a corrective reconcile applies (before applying them); true
    // when one of them was corrected repeatedly (a fight).
    bool note(const std::vector<Op>& ops, Clock::time_point now);
    // After a corrective reconcile in which note() saw a fight.
    void charge(std::size_t ops_applied);
    // Whether to log the rate-limit warning now (at most once per warn_every).
    bool should_warn(Clock::time_point now);

    Clock::duration refill() const { return p_.refill; }
    double tokens() const { return tokens_; }

private:
    struct Correction {
        int count = 0;
        Clock::time_point last{};
    };
    Params p_;
    double tokens_;
    Clock::time_point refilled_at_;
    Clock::time_point last_warn_{};
    bool warned_ = false;
    std::unordered_map<std::string, Correction> corrected_;
};

}  // namespace nra
