#include "nra/agent/nexthops.hpp"

#include <algorithm>

#include "nra/base/log.hpp"

namespace nra {

void NexthopManager::fall_back(const std::string& why) {
    if (fallen_back_) return;
    fallen_back_ = true;
    log::warn("nexthop objects unavailable; routes stay multipath (NEXTHOP_OBJECTS=auto falls back)", {{"error", why}});
}

Result<bool> NexthopManager::refresh(Kernel& kernel) {
    if (valid_) return Result<bool>::ok(false);
    auto d = kernel.dump_nexthops();
    if (!d) return Result<bool>::fail(d.error);
    observed_.clear();
    for (NexthopObject& o : *d.value)
        if (s_.contains(o.id)) {
            if (o.protocol == s_.protocol) confirmed_ = true;
            observed_.push_back(std::move(o));
        }
    valid_ = true;
    return Result<bool>::ok(true);
}

std::uint32_t NexthopManager::link_of(const IpAddr& a) const {
    for (const auto& [p, ifindex] : subnets_) {
        if (p.family() != a.family) continue;
        const Prefix m = Prefix::masked(a, p.len);
        if (m.addr == p.addr) return ifindex;
    }
    return 0;
}

void NexthopManager::set_addresses(const std::vector<nl::Interface>& addrs) {
    subnets_.clear();
    for (const nl::Interface& i : addrs) {
        if (i.ifindex <= 0) continue;
        const unsigned bits = family_bits(i.address.family);
        // A host address (/32, /128) says nothing about a link's neighbours.
        if (i.prefix_len == 0 || i.prefix_len >= bits) continue;
        subnets_.emplace_back(Prefix::masked(i.address, i.prefix_len), static_cast<std::uint32_t>(i.ifindex));
    }
    std::stable_sort(subnets_.begin(), subnets_.end(),
                     [](const auto& a, const auto& b) { return a.first.len > b.first.len; });
}

Result<Desired> NexthopManager::target(const Desired& d, const std::vector<Route>& routes) {
    Desired out = d;
    // Follow every gateway of the desired routes.
    std::map<IpAddr, std::uint32_t> peers;
    for (const Route& r : d.routes)
        for (const Nexthop& nh : r.nexthops) peers[nh.gateway] = nh.ifindex ? nh.ifindex : link_of(nh.gateway);
    const auto now = Clock::now();
    liveness_.set_peers(peers);
    for (const auto& [a, link] : peers)
        if (auto it = neighbours_.find(a); it != neighbours_.end())
            if (auto t = liveness_.neighbour(a, it->second.ifindex, it->second.state, false, now)) log_transition(*t);
    for (const auto& [a, link] : peers) {  // a new peer starts alive: its session (if any) decides
        auto it = sessions_.find(a);
        if (auto t =
                liveness_.session(a, it == sessions_.end() ? std::nullopt : std::optional<BgpSession>(it->second), now))
            log_transition(*t);
    }
    decltype(current_) current;
    for (Route& r : out.routes) {
        const auto key = std::make_pair(r.family, r.table);
        if (r.nexthops.size() > 1) {
            auto it = current_.find(key);
            r.nexthops = liveness_.filter(r.nexthops, it == current_.end() ? std::set<IpAddr>{} : it->second);
        }
        for (const Nexthop& nh : r.nexthops) current[key].insert(nh.gateway);
    }
    current_ = std::move(current);
    if (!objects()) {  // today's layout, with the devices desired_state resolved
        wanted_.clear();
        return Result<Desired>::ok(std::move(out));
    }
    // A nexthop object needs its device: resolved paths carry it, on-link
    // peers written as plain addresses get it from the subnet they are on.
    for (Route& r : out.routes)
        for (Nexthop& nh : r.nexthops)
            if (!nh.ifindex) nh.ifindex = peers[nh.gateway];
    NhAssignment previous = recover_assignment(observed_, routes, s_);
    for (const auto& [k, id] : assignment_) previous[k] = id;  // what this process chose wins
    auto layout = nexthop_layout(out.routes, {}, previous, s_);
    if (!layout) return Result<Desired>::fail(layout.error);
    if (layout.value->notes != last_notes_) {
        for (const std::string& n : layout.value->notes) log::warn("route without nexthop objects", {{"why", n}});
        last_notes_ = layout.value->notes;
    }
    assignment_ = std::move(layout.value->assignment);
    wanted_ = std::move(layout.value->objects);
    out.routes = std::move(layout.value->routes);
    for (Route& r : out.routes)
        for (Nexthop& nh : r.nexthops) nh.ifindex = 0;  // multipath ones: as desired_state makes them
    return Result<Desired>::ok(std::move(out));
}

void NexthopManager::log_transition(const PeerLiveness::Transition& t) const {
    log::write(t.alive ? log::Level::Info : log::Level::Warn,
               t.alive ? "peer alive again: back in its routes" : "peer dead: taken out of its routes",
               {{"peer", t.peer.str()}, {"reason", t.reason}});
}

bool NexthopManager::neighbour(const nl::Neighbour& n, bool deleted, Clock::time_point now) {
    if (deleted)
        neighbours_.erase(n.dst);
    else
        neighbours_[n.dst] = n;
    auto t = liveness_.neighbour(n.dst, n.ifindex, n.state, deleted, now);
    if (!t) return false;
    log_transition(*t);
    return true;
}

bool NexthopManager::link(std::uint32_t ifindex, bool up, Clock::time_point now) {
    auto ts = liveness_.link(ifindex, up, now);
    for (const auto& t : ts) log_transition(t);
    return !ts.empty();
}

bool NexthopManager::set_sessions(std::map<IpAddr, BgpSession> by_gateway, Clock::time_point now) {
    bool changed = false;
    for (const auto& [a, s] : sessions_)
        if (!by_gateway.count(a))
            if (auto t = liveness_.session(a, std::nullopt, now)) {
                log_transition(*t);
                changed = true;
            }
    for (const auto& [a, s] : by_gateway)
        if (auto t = liveness_.session(a, s, now)) {
            log_transition(*t);
            changed = true;
        }
    sessions_ = std::move(by_gateway);
    return changed;
}

bool NexthopManager::tick(Clock::time_point now) {
    auto ts = liveness_.tick(now);
    for (const auto& t : ts) log_transition(t);
    return !ts.empty();
}

}  // namespace nra
