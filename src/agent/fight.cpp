#include "nra/agent/fight.hpp"

#include <algorithm>

namespace nra {

FightLimiter::FightLimiter(Params p, Clock::time_point now) : p_(p), tokens_(p.burst), refilled_at_(now) {}

bool FightLimiter::allow(Clock::time_point now) {
    const double elapsed = std::chrono::duration<double>(now - refilled_at_).count();
    const double per = std::chrono::duration<double>(p_.refill).count();
    tokens_ = std::min(p_.burst, tokens_ + (per > 0 ? elapsed / per : p_.burst));
    refilled_at_ = now;
    return tokens_ >= 1;
}

bool FightLimiter::note(const std::vector<Op>& ops, Clock::time_point now) {
    if (corrected_.size() + ops.size() > p_.memory) {
        std::erase_if(corrected_, [&](const auto& kv) { return now - kv.second.last > p_.window; });
        if (corrected_.size() + ops.size() > p_.memory) corrected_.clear();
    }
    bool fight = false;
    for (const Op& op : ops) {
        if (op.reason == Reason::Moved) continue;  // a consequence, not the object fought over
        const std::string key = std::string(op_kind_name(op.kind)) + " " +
                                (std::holds_alternative<Rule>(op.object) ? op.rule().str() : op.route().str());
        Correction& c = corrected_[key];
        c.count = now - c.last > p_.window ? 1 : c.count + 1;
        c.last = now;
        if (c.count >= p_.repeats) fight = true;
    }
    return fight;
}

void FightLimiter::charge(std::size_t ops_applied) {
    tokens_ -= 1 + static_cast<double>(ops_applied / std::max<std::size_t>(1, p_.ops_per_token));
}

bool FightLimiter::should_warn(Clock::time_point now) {
    if (warned_ && now - last_warn_ <= p_.warn_every) return false;
    warned_ = true;
    last_warn_ = now;
    return true;
}

}  // namespace nra
