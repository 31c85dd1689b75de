#include "nra/core/peer_liveness.hpp"

#include <algorithm>

namespace nra {

constexpr int PeerLiveness::kMaxFlaps;
constexpr std::chrono::seconds PeerLiveness::kFlapWindow;
constexpr std::chrono::seconds PeerLiveness::kFlapHold;

std::string PeerLiveness::state_name(std::uint16_t state) {
    static const std::pair<std::uint16_t, const char*> names[] = {
        {nud::Incomplete, "INCOMPLETE"}, {nud::Reachable, "REACHABLE"}, {nud::Stale, "STALE"},
        {nud::Delay, "DELAY"},           {nud::Probe, "PROBE"},         {nud::Failed, "FAILED"},
        {nud::Noarp, "NOARP"},           {nud::Permanent, "PERMANENT"},
    };
    std::string s;
    for (const auto& [bit, name] : names)
        if (state & bit) s += (s.empty() ? "" : "|") + std::string(name);
    return s.empty() ? "NONE" : s;
}

void PeerLiveness::set_peers(const std::map<IpAddr, std::uint32_t>& peers) {
    for (auto it = peers_.begin(); it != peers_.end();) it = peers.count(it->first) ? std::next(it) : peers_.erase(it);
    for (const auto& [a, ifindex] : peers) {
        Peer& p = peers_[a];
        if (p.ifindex != ifindex) {
            p.ifindex = ifindex;
            p.link_down = false;  // another link: its state is learnt from the next link event
        }
    }
}

std::optional<PeerLiveness::Transition> PeerLiveness::settle(const IpAddr& a, Peer& p, const std::string& reason,
                                                             Clock::time_point now) {
    const bool want = (p.session_up ? *p.session_up : !p.neigh_failed) && !p.link_down;
    if (!want) p.held_until.reset();
    if (want == p.alive) return std::nullopt;
    if (want) {
        // Flap limiting: comebacks within the window.
        auto& c = p.comebacks;
        c.erase(std::remove_if(c.begin(), c.end(), [&](Clock::time_point t) { return now - t >= kFlapWindow; }),
                c.end());
        if (static_cast<int>(c.size()) >= kMaxFlaps) {
            if (!p.held_until) p.held_until = now + kFlapHold;
            if (now < *p.held_until) return std::nullopt;
        }
        p.held_until.reset();
        c.push_back(now);
    }
    p.alive = want;
    return Transition{a, want, reason};
}

std::optional<PeerLiveness::Transition> PeerLiveness::neighbour(const IpAddr& peer, std::uint32_t ifindex,
                                                                std::uint16_t state, bool deleted,
                                                                Clock::time_point now) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return std::nullopt;
    Peer& p = it->second;
    if (p.ifindex && ifindex && p.ifindex != ifindex) return std::nullopt;  // an entry on another link
    constexpr std::uint16_t kLive = nud::Reachable | nud::Stale | nud::Delay | nud::Probe | nud::Permanent;
    const std::string where = " (neighbour entry " + state_name(state) + " on link " + std::to_string(ifindex) + ")";
    if (deleted) return std::nullopt;
    if (state & nud::Failed) {
        p.neigh_failed = true;
        return settle(peer, p, "dead" + where, now);
    }
    if (state & kLive) {
        p.neigh_failed = false;
        return settle(peer, p, "alive" + where, now);
    }
    return std::nullopt;
}

std::optional<PeerLiveness::Transition> PeerLiveness::session(const IpAddr& peer, const std::optional<BgpSession>& s,
                                                              Clock::time_point now) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return std::nullopt;
    Peer& p = it->second;
    if (!s) {
        if (!p.session_up) return std::nullopt;
        p.session_up.reset();
        return settle(peer, p,
                      std::string(p.neigh_failed ? "dead" : "alive") +
                          " (BGP session state no longer known; the neighbour entry decides)",
                      now);
    }
    const std::string where = "frr-k8s BGPSessionState " + s->object;
    p.session_up = s->established();
    if (s->established()) return settle(peer, p, "alive (BGP session established, " + where + ")", now);
    return settle(
        peer, p,
        "dead (BGP session not established (" + where + ": " + (s->state.empty() ? "no state" : s->state) + "))", now);
}

std::vector<PeerLiveness::Transition> PeerLiveness::link(std::uint32_t ifindex, bool up, Clock::time_point now) {
    std::vector<Transition> out;
    if (!ifindex) return out;
    for (auto& [a, p] : peers_) {
        if (p.ifindex != ifindex) continue;
        p.link_down = !up;
        // A link coming up forgets a FAILED entry from before: the kernel
        // flushes the link's neighbours when it goes down.
        if (up) p.neigh_failed = false;
        if (auto t = settle(
                a, p,
                std::string(up ? "alive (link " : "dead (link ") + std::to_string(ifindex) + (up ? " up)" : " down)"),
                now))
            out.push_back(std::move(*t));
    }
    return out;
}

std::vector<PeerLiveness::Transition> PeerLiveness::tick(Clock::time_point now) {
    std::vector<Transition> out;
    for (auto& [a, p] : peers_) {
        if (!p.held_until || now < *p.held_until) continue;
        if (auto t = settle(a, p, "alive (flap hold over)", now)) out.push_back(std::move(*t));
    }
    return out;
}

std::optional<PeerLiveness::Clock::time_point> PeerLiveness::pending_until() const {
    std::optional<Clock::time_point> t;
    for (const auto& [a, p] : peers_)
        if (p.held_until && (!t || *p.held_until < *t)) t = p.held_until;
    return t;
}

bool PeerLiveness::alive(const IpAddr& peer) const {
    auto it = peers_.find(peer);
    return it == peers_.end() || it->second.alive;
}

std::set<IpAddr> PeerLiveness::dead() const {
    std::set<IpAddr> out;
    for (const auto& [a, p] : peers_)
        if (!p.alive) out.insert(a);
    return out;
}

std::vector<Nexthop> PeerLiveness::filter(const std::vector<Nexthop>& hops, const std::set<IpAddr>& current) const {
    std::vector<Nexthop> out;
    for (const Nexthop& nh : hops)
        if (alive(nh.gateway)) out.push_back(nh);
    if (out.empty())
        for (const Nexthop& nh : hops)
            if (current.count(nh.gateway)) out.push_back(nh);
    if (out.empty()) return hops;
    if (out.size() == 1 && hops.size() > 1) out[0].weight = 1;  // the single-gateway form
    return out;
}

}  // namespace nra
