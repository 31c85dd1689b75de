#include "nra/core/rule_order.hpp"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <tuple>
#include <utility>

namespace nra {

namespace {

bool has_prefix(const std::optional<Prefix>& p) { return p && p->len != 0; }

// fib_rule_port_range_set: a range counts only when both ends are non-zero.
bool range_set(const std::optional<PortRange>& p) { return p && p->start != 0 && p->end != 0; }

// The kernel's mark mask for a request: FRA_FWMASK when sent, else all ones
// when a mark is sent (fib_nl2rule), else none. The codec sends FRA_FWMASK
// when non-zero; a kernel message carries it whenever mark or mask is set.
std::uint32_t request_mask(const Rule& q) {
    if (q.raw.bytes) return q.fwmark || q.fwmask ? q.fwmask : 0;
    if (q.fwmask) return q.fwmask;
    return q.fwmark ? 0xffffffffu : 0;
}

bool priority_sent(const Rule& q) { return !(q.raw.bytes && q.priority == 0); }

bool includes(const std::vector<std::uint16_t>& have, const std::vector<std::uint16_t>& need) {
    return std::includes(have.begin(), have.end(), need.begin(), need.end());
}

// fib4_rule_compare / fib6_rule_compare: shared by delete and exclusive add.
bool family_compare(const Rule& q, const Rule& r) {
    if (has_prefix(q.src) && (!r.src || r.src->len != q.src->len || r.src->addr != q.src->addr)) return false;
    if (has_prefix(q.dst) && (!r.dst || r.dst->len != q.dst->len || r.dst->addr != q.dst->addr)) return false;
    if (q.tos && r.tos != q.tos) return false;
    if (q.family == Family::V4 && q.flow && r.flow != q.flow) return false;  // FRA_FLOW: IPv4 only
    return true;
}

}  // namespace

bool delete_would_match(const Rule& q, const Rule& r) {
    if (r.family != q.family) return false;
    if (q.action != RuleAction::Unspec && r.action != q.action) return false;
    if (q.table && r.table != q.table) return false;
    if (priority_sent(q) && r.priority != q.priority) return false;
    if (!q.iifname.empty() && r.iifname != q.iifname) return false;
    if (!q.oifname.empty() && r.oifname != q.oifname) return false;
    if (q.fwmark && r.fwmark != q.fwmark) return false;
    if (q.suppress_ifgroup && r.suppress_ifgroup != q.suppress_ifgroup) return false;
    if (q.suppress_prefixlen && r.suppress_prefixlen != q.suppress_prefixlen) return false;
    if (const std::uint32_t m = request_mask(q); m && r.fwmask != m) return false;
    if (q.tun_id && r.tun_id != q.tun_id) return false;
    if (q.l3mdev && r.l3mdev != q.l3mdev) return false;
    if (q.uid_range && r.uid_range != q.uid_range) return false;
    if (q.ip_proto && r.ip_proto != q.ip_proto) return false;
    if (q.protocol && r.protocol != q.protocol) return false;
    if (range_set(q.sport) && r.sport != q.sport) return false;
    if (range_set(q.dport) && r.dport != q.dport) return false;
    if (!includes(r.unknown_attrs, q.unknown_attrs)) return false;
    return family_compare(q, r);
}

bool add_would_collide(const Rule& q, const Rule& r) {
    if (r.family != q.family || r.action != q.action || r.table != q.table || r.priority != q.priority) return false;
    if (r.iifname != q.iifname || r.oifname != q.oifname || r.fwmark != q.fwmark) return false;
    if (r.suppress_ifgroup != q.suppress_ifgroup || r.suppress_prefixlen != q.suppress_prefixlen) return false;
    if (r.fwmask != request_mask(q) || r.tun_id != q.tun_id || r.l3mdev != q.l3mdev) return false;
    if (r.uid_range != q.uid_range || r.ip_proto != q.ip_proto || r.protocol != q.protocol) return false;
    if (r.sport.value_or(PortRange{}) != q.sport.value_or(PortRange{})) return false;
    if (r.dport.value_or(PortRange{}) != q.dport.value_or(PortRange{})) return false;
    return family_compare(q, r);
}

namespace {

// The simulated list: entries keyed by a rank that follows the kernel's
// order; rules with a source are also indexed by it, so a request with a
// source (all of ours) only looks at the rules it can match.
class Sim {
public:
    struct Entry {
        RuleEntry e;
        std::int64_t rank;
        bool alive;
    };

    Sim(const std::vector<RuleEntry>& kernel_order, const std::vector<MissingRule>& missing) {
        std::int32_t n_keep = 0;
        for (const auto& e : kernel_order) n_keep = std::max(n_keep, e.keep + 1);
        for (const auto& m : missing) n_keep = std::max(n_keep, m.keep + 1);
        copies_.assign(static_cast<std::size_t>(n_keep), 0);
        entries_.reserve(kernel_order.size() + missing.size());
        std::int64_t rank = 0;
        for (const auto& e : kernel_order) {
            link(e, rank);
            rank += kGap;
        }
    }

    std::size_t size() const { return entries_.size(); }
    const Entry& operator[](std::size_t i) const { return entries_[i]; }
    int copies(std::int32_t keep) const { return copies_[static_cast<std::size_t>(keep)]; }
    std::int32_t keep_count() const { return static_cast<std::int32_t>(copies_.size()); }

    // The first live entry the delete request for `q` takes, or npos.
    std::size_t first_match(const Rule& q) const {
        if (has_prefix(q.src)) {
            auto it = by_src_.find(src_key(q));
            if (it == by_src_.end()) return npos;
            for (std::int64_t rank : it->second)
                if (std::size_t i = order_.at(rank); delete_would_match(q, *entries_[i].e.rule)) return i;
            return npos;
        }
        for (const auto& [rank, i] : order_)
            if (delete_would_match(q, *entries_[i].e.rule)) return i;
        return npos;
    }

    // Whether an exclusive add of `q` would be refused.
    // A request with a source only collides with rules of that source (the
    // per-family compare takes a set source literally), so the index bounds
    // the search; without one every rule is a candidate.
    bool collides(const Rule& q) const {
        if (has_prefix(q.src)) {
            auto it = by_src_.find(src_key(q));
            if (it == by_src_.end()) return false;
            for (std::int64_t rank : it->second)
                if (add_would_collide(q, *entries_[order_.at(rank)].e.rule)) return true;
            return false;
        }
        for (const auto& [rank, i] : order_)
            if (add_would_collide(q, *entries_[i].e.rule)) return true;
        return false;
    }

    // Where the kernel puts a new rule of priority `pref`: after the last
    // rule with a priority <= pref (other families' rules do not change the
    // relative order within a family).
    std::int64_t insert_rank(std::uint32_t pref) const {
        auto it = order_.end();
        while (it != order_.begin()) {
            auto prev = std::prev(it);
            if (entries_[prev->second].e.rule->priority <= pref) break;
            it = prev;
        }
        if (it == order_.begin()) return it == order_.end() ? 0 : it->first - kGap;
        const std::int64_t after = std::prev(it)->first + 1;
        if (it != order_.end() && after >= it->first) return kNoRank;  // no room left (2^32 inserts in one gap)
        return after;
    }

    std::size_t insert(const RuleEntry& e, std::int64_t rank) { return link(e, rank); }

    // The live copy of wanted rule `keep` that comes last in the list.
    std::size_t last_copy(std::int32_t keep) const {
        for (auto it = order_.rbegin(); it != order_.rend(); ++it)
            if (entries_[it->second].e.keep == keep) return it->second;
        return npos;
    }

    void erase(std::size_t i) {
        Entry& en = entries_[i];
        en.alive = false;
        order_.erase(en.rank);
        if (has_prefix(en.e.rule->src)) {
            auto it = by_src_.find(src_key(*en.e.rule));
            it->second.erase(en.rank);
            if (it->second.empty()) by_src_.erase(it);
        }
        if (en.e.keep >= 0) --copies_[static_cast<std::size_t>(en.e.keep)];
    }

    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    static constexpr std::int64_t kNoRank = INT64_MIN;

private:
    static constexpr std::int64_t kGap = std::int64_t{1} << 32;
    using SrcKey = std::pair<Family, Prefix>;
    static SrcKey src_key(const Rule& r) { return {r.family, *r.src}; }

    std::size_t link(const RuleEntry& e, std::int64_t rank) {
        const std::size_t i = entries_.size();
        entries_.push_back(Entry{e, rank, true});
        order_.emplace(rank, i);
        if (has_prefix(e.rule->src)) by_src_[src_key(*e.rule)].insert(rank);
        if (e.keep >= 0) ++copies_[static_cast<std::size_t>(e.keep)];
        return i;
    }

    std::vector<Entry> entries_;
    std::map<std::int64_t, std::size_t> order_;
    std::map<SrcKey, std::set<std::int64_t>> by_src_;
    std::vector<int> copies_;
};

class Planner {
public:
    Planner(const std::vector<RuleEntry>& kernel_order, const std::vector<MissingRule>& missing)
        : sim_(kernel_order, missing) {}

    RulePlan run(const std::vector<RuleEntry>& kernel_order, const std::vector<MissingRule>& missing) {
        // Make before break: missing rules first (they land behind every
        // rule of their priority, so no delete below can take them first).
        for (const auto& m : missing) {
            const Rule& r = *m.rule;
            const bool collides = sim_.collides(r);
            const std::int64_t rank = sim_.insert_rank(r.priority);
            if (rank == Sim::kNoRank) continue;  // cannot happen short of 2^32 rules; the next pass retries
            out_.ops.push_back(Op{collides ? OpKind::AppendRule : OpKind::AddRule, r, Reason::Missing});
            sim_.insert(RuleEntry{m.rule, m.keep, Reason::Missing}, rank);
        }
        for (std::size_t i = 0; i < kernel_order.size(); ++i)
            if (kernel_order[i].keep < 0) remove(i);
        // Extra copies of wanted rules: delete by the rule itself until one is left.
        std::vector<std::size_t> first_copy(static_cast<std::size_t>(sim_.keep_count()), Sim::npos);
        for (std::size_t i = 0; i < sim_.size(); ++i)
            if (sim_[i].alive && sim_[i].e.keep >= 0 &&
                first_copy[static_cast<std::size_t>(sim_[i].e.keep)] == Sim::npos)
                first_copy[static_cast<std::size_t>(sim_[i].e.keep)] = i;
        for (std::size_t k = 0; k < first_copy.size(); ++k) {
            if (first_copy[k] == Sim::npos) continue;
            const RuleEntry e = sim_[first_copy[k]].e;
            std::size_t guard = sim_.size() * 2 + 8;
            while (sim_.copies(static_cast<std::int32_t>(k)) > 1 && guard--) {
                const std::size_t f = sim_.first_match(*e.rule);
                if (f == Sim::npos) break;
                if (sim_[f].e.keep < 0) {
                    remove(f);  // a leftover that blocks: goes with its own request
                    if (sim_[f].alive) break;
                    continue;
                }
                if (!take(f, *e.rule, Reason::Duplicate, sim_.last_copy(static_cast<std::int32_t>(k)))) break;
            }
        }
        return std::move(out_);
    }

private:
    // Deletes entry t (unwanted) with its own request. An earlier unwanted
    // entry that the request would take first is removed first, with its
    // own request; an earlier wanted rule is moved behind t.
    void remove(std::size_t t0) {
        std::vector<std::size_t> stack{t0};
        std::size_t guard = 4 * (sim_.size() + 8);
        while (!stack.empty() && guard--) {
            const std::size_t t = stack.back();
            if (!sim_[t].alive || stuck_.count(t)) {
                stack.pop_back();
                continue;
            }
            const Rule& q = *sim_[t].e.rule;
            const std::size_t f = sim_.first_match(q);
            if (f == Sim::npos || stuck_.count(f)) {  // cannot reach it (f == npos: the request misses it)
                mark_stuck(t);
                stack.pop_back();
                continue;
            }
            if (f == t) {
                out_.ops.push_back(Op{OpKind::DelRule, q, sim_[t].e.why});
                sim_.erase(t);
                stack.pop_back();
                continue;
            }
            if (sim_[f].e.keep < 0) {
                stack.push_back(f);
                continue;
            }
            if (!take(f, q, Reason::Duplicate, t)) {
                mark_stuck(t);
                stack.pop_back();
            }
        }
        for (std::size_t t : stack) mark_stuck(t);  // guard exhausted (cannot happen: each step removes a rule)
    }

    // The request `q` takes wanted entry f. A spare copy simply goes; the
    // last copy is first appended again, behind `behind` (the entry the
    // request is meant for). False when the copy would land before it.
    bool take(std::size_t f, const Rule& q, Reason why_spare, std::size_t behind) {
        const RuleEntry w = sim_[f].e;
        if (sim_.copies(w.keep) > 1) {
            out_.ops.push_back(Op{OpKind::DelRule, q, why_spare});
            sim_.erase(f);
            return true;
        }
        const std::int64_t rank = sim_.insert_rank(w.rule->priority);
        if (rank == Sim::kNoRank || (behind != Sim::npos && rank < sim_[behind].rank) || behind == Sim::npos)
            return false;
        out_.ops.push_back(Op{OpKind::AppendRule, *w.rule, Reason::Moved});
        sim_.insert(w, rank);
        out_.ops.push_back(Op{OpKind::DelRule, q, Reason::Moved});
        sim_.erase(f);
        ++out_.moved;
        return true;
    }

    void mark_stuck(std::size_t t) {
        if (stuck_.insert(t).second) out_.stuck.push_back(sim_[t].e.rule);
    }

    Sim sim_;
    RulePlan out_;
    std::set<std::size_t> stuck_;
};

}  // namespace

RulePlan plan_rule_changes(const std::vector<RuleEntry>& kernel_order, const std::vector<MissingRule>& missing) {
    return Planner(kernel_order, missing).run(kernel_order, missing);
}

std::optional<RulePlan> plan_additions(const std::vector<const Rule*>& sorted,
                                       const std::vector<MissingRule>& missing) {
    for (const auto& m : missing)
        if (!has_prefix(m.rule->src)) return std::nullopt;
    // Rule order begins with family, priority, source: the rules an add can
    // collide with (same family, priority and source, see add_would_collide
    // and family_compare) are one run of `sorted`, and one of `missing`.
    const auto key = [](const Rule& r) { return std::tie(r.family, r.priority, r.src); };
    const auto before = [&](const Rule* a, const Rule* b) { return key(*a) < key(*b); };
    RulePlan out;
    out.ops.reserve(missing.size());
    std::size_t run = 0;  // first missing rule of the current run
    for (std::size_t i = 0; i < missing.size(); ++i) {
        const Rule& q = *missing[i].rule;
        if (key(*missing[run].rule) != key(q)) run = i;
        bool collides = false;
        const auto [lo, hi] = std::equal_range(sorted.begin(), sorted.end(), &q, before);
        for (auto it = lo; it != hi && !collides; ++it) collides = add_would_collide(q, **it);
        for (std::size_t j = run; j < i && !collides; ++j) collides = add_would_collide(q, *missing[j].rule);
        out.ops.push_back(Op{collides ? OpKind::AppendRule : OpKind::AddRule, q, Reason::Missing});
    }
    return out;
}

}  // namespace nra
