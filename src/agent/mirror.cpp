#include "nra/agent/mirror.hpp"

#include <algorithm>
#include <iterator>

#include "nra/base/log.hpp"

namespace nra {

namespace {

// Payload after the netlink header (type, flags, seq, pid differ between a
// dump and an event).
bool same_payload(const Rule& a, const Rule& b) {
    if (!a.raw.bytes || !b.raw.bytes) return false;
    const auto& x = *a.raw.bytes;
    const auto& y = *b.raw.bytes;
    constexpr std::size_t kHdr = 16;
    return x.size() == y.size() && x.size() >= kHdr && std::equal(x.begin() + kHdr, x.end(), y.begin() + kHdr);
}

}  // namespace

void RuleMirror::assign(std::vector<Rule>&& rules) {
    index_.clear();
    list_.clear();
    std::stable_sort(rules.begin(), rules.end(), [](const Rule& a, const Rule& b) { return a.priority < b.priority; });
    for (Rule& r : rules) index_.insert(list_.insert(list_.end(), std::move(r)));
}

bool RuleMirror::insert(const Rule& r) {
    const bool fresh = index_.find(r) == index_.end();
    auto pos = list_.end();
    while (pos != list_.begin() && std::prev(pos)->priority > r.priority) --pos;
    index_.insert(list_.insert(pos, r));  // equal rules: after the others, as in the list
    return fresh;
}

void RuleMirror::erase(const Rule& r) {
    auto [lo, hi] = index_.equal_range(r);
    if (lo == hi) return;
    auto victim = lo;
    if (!r.unknown_attrs.empty() && r.raw.bytes)
        for (auto it = lo; it != hi; ++it)
            if (same_payload(**it, r)) {
                victim = it;
                break;
            }
    list_.erase(*victim);
    index_.erase(victim);
}

void KernelMirror::Seen::merge(const Seen& o) {
    foreign |= o.foreign;
    interface |= o.interface;
    address |= o.address;
    lookup |= o.lookup;
    overrun |= o.overrun;
    nexthops |= o.nexthops;
    neighbours.insert(neighbours.end(), o.neighbours.begin(), o.neighbours.end());
    links.insert(links.end(), o.links.begin(), o.links.end());
    if (!o.error.empty()) error = o.error;
}

KernelMirror::Seen KernelMirror::drain(Kernel& kernel) {
    Seen seen;
    const std::uint32_t self = kernel.portid();
    const bool following = nh_min_ <= nh_max_;
    auto res = kernel.drain_events([&](const nl::Event& e) {
        if (e.is_neighbour()) {
            if (following) seen.neighbours.push_back({e.neigh, e.type == nl::Event::Type::DelNeigh});
            return;
        }
        if (e.is_nexthop()) {
            const std::uint32_t id = std::get<NexthopObject>(e.object).id;
            if (!following || id < nh_min_ || id > nh_max_) return;  // outside the range: never our business
            seen.nexthops = true;
            stale_routes_held();  // a deleted object takes its routes with it silently
            if (e.portid != self) {
                seen.foreign = true;
                if (log::enabled(log::Level::Debug))
                    log::debug("change of a nexthop object in the agent's range",
                               {{"object", std::get<NexthopObject>(e.object).str()},
                                {"event", e.type == nl::Event::Type::NewNexthop ? "new" : "delete"},
                                {"portid", e.portid}});
            }
            return;
        }
        if (following && (e.type == nl::Event::Type::NewLink || e.type == nl::Event::Type::DelLink)) {
            constexpr std::uint32_t kUp = 0x1, kLowerUp = 0x10000;  // IFF_UP, IFF_LOWER_UP
            const bool up = e.type == nl::Event::Type::NewLink && (e.iface.flags & kUp) && (e.iface.flags & kLowerUp);
            seen.links.emplace_back(static_cast<std::uint32_t>(e.iface.ifindex), up);
        }
        if (e.is_interface()) {
            // A link going down or an address going away removes routes
            // without any route notification; coming back makes a refused
            // route possible again: re-read the tables' routes.
            stale_routes_held();
            seen.interface = true;
            if (e.type == nl::Event::Type::NewAddr || e.type == nl::Event::Type::DelAddr) seen.address = true;
            if (log::enabled(log::Level::Debug)) {
                static constexpr const char* names[] = {"new link", "link removed", "new address", "address removed"};
                const auto k = static_cast<int>(e.type) - static_cast<int>(nl::Event::Type::NewLink);
                log::debug("link or address change", {{"event", names[k]},
                                                      {"ifindex", e.iface.ifindex},
                                                      {"flags", e.iface.flags},
                                                      {"address", k >= 2 ? e.iface.address.str() : ""}});
            }
            return;
        }
        const bool is_rule = std::holds_alternative<Rule>(e.object);
        const std::uint32_t t = is_rule ? std::get<Rule>(e.object).table : std::get<Route>(e.object).table;
        if (!tables_.contains(t)) {
            // Outside the owned tables: never changed, but a route of a
            // lookup table may change how a peer is reached.
            if (!is_rule && lookup_tables_.count(t)) seen.lookup = true;
            return;
        }
        const bool foreign = e.portid != self;
        if (is_rule) {
            const Rule& r = std::get<Rule>(e.object);
            if (e.type == nl::Event::Type::NewRule) {
                // A foreign add of a rule we already hold may be an exact
                // duplicate (added without NLM_F_EXCL): only a dump can tell.
                if (rules_valid_ && !rules_.insert(r) && foreign) rules_valid_ = false;
            } else if (rules_valid_) {
                rules_.erase(r);
            }
        } else {
            stale_tables_.insert(t);
        }
        if (!foreign) return;  // our own echo: already accounted for
        if (log::enabled(log::Level::Debug)) {
            const bool added = e.type == nl::Event::Type::NewRule || e.type == nl::Event::Type::NewRoute;
            log::debug("change in the managed table",
                       {{"object", is_rule ? std::get<Rule>(e.object).str() : std::get<Route>(e.object).str()},
                        {"event", added ? "new" : "delete"},
                        {"portid", e.portid}});
        }
        seen.foreign = true;
    });
    if (res.overrun) {
        rules_valid_ = false;
        all_routes_stale_ = true;
        seen.overrun = seen.foreign = seen.interface = seen.address = seen.lookup = true;
        seen.nexthops = following;
    }
    if (res.error) seen.error = res.what;
    return seen;
}

void KernelMirror::stale_routes_held() {
    stale_tables_.insert(tables_.weight);
    for (const Route& r : routes_) stale_tables_.insert(r.table);
}

Result<std::size_t> KernelMirror::refresh(Kernel& kernel) {
    const bool routes_stale = all_routes_stale_ || !stale_tables_.empty();
    if (rules_valid_ && !routes_stale) return Result<std::size_t>::ok(0);
    std::size_t dumped = 0;
    if (!rules_valid_ || all_routes_stale_) {
        auto d = kernel.dump(tables_, !rules_valid_, all_routes_stale_);
        if (!d) return Result<std::size_t>::fail(d.error);
        if (!rules_valid_) {
            dumped = d.value->rules.size();
            rules_.assign(std::move(d.value->rules));
            rules_valid_ = true;
        }
        if (all_routes_stale_) {
            routes_ = std::move(d.value->routes);
            all_routes_stale_ = false;
            stale_tables_.clear();
        }
    }
    if (!stale_tables_.empty()) {
        std::vector<Route> fresh;
        for (std::uint32_t t : stale_tables_) {
            auto d = kernel.dump(TableSet{t}, false, true);
            if (!d) return Result<std::size_t>::fail(d.error);
            for (Route& r : d.value->routes) fresh.push_back(std::move(r));
        }
        std::erase_if(routes_, [&](const Route& r) { return stale_tables_.count(r.table) != 0; });
        for (Route& r : fresh) routes_.push_back(std::move(r));
        std::stable_sort(routes_.begin(), routes_.end(), [](const Route& a, const Route& b) {
            return std::tie(a.family, a.table) < std::tie(b.family, b.table);
        });
        stale_tables_.clear();
    }
    return Result<std::size_t>::ok(dumped);
}

std::vector<const Rule*> KernelMirror::rule_view() const {
    std::vector<const Rule*> v;
    v.reserve(rules_.size());
    for (const Rule& r : rules_) v.push_back(&r);
    return v;
}

Observed KernelMirror::observed() const { return Observed{std::vector<Rule>(rules_.begin(), rules_.end()), routes_}; }

}  // namespace nra
