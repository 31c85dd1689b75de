// The agent's nexthop objects and peer liveness (NEXTHOP_OBJECTS): what the
// kernel holds in the agent's id range (re-dumped when an event or a change
// made it doubtful), the links peers are reached through, the liveness of
// each peer from its neighbour entry and its link, and the desired state the
// reconciler gets: dead peers out (never the last), each route on a
// resilient nexthop group where the kernel has them. A kernel that refuses
// the first nexthop object (EOPNOTSUPP / EINVAL) turns the objects off for
// the process: routes stay multipath, logged once; liveness still applies.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nra/agent/kernel.hpp"
#include "nra/core/desired.hpp"
#include "nra/core/nexthop_objects.hpp"
#include "nra/core/peer_liveness.hpp"

namespace nra {

class NexthopManager {
public:
    using Clock = std::chrono::steady_clock;

    explicit NexthopManager(const NexthopSettings& s) : s_(s) {}

    const NexthopSettings& settings() const { return s_; }
    // Nexthop objects are made (mode auto, not fallen back).
    bool objects() const { return s_.mode == NexthopSettings::Mode::Auto && !fallen_back_; }
    bool fallen_back() const { return fallen_back_; }
    // Whether the kernel has accepted (or holds) one of our objects: after
    // that a refusal is an error, not a missing feature.
    bool confirmed() const { return confirmed_; }
    // Stops making objects for this process (logged once with `why`).
    void fall_back(const std::string& why);

    // Our picture of the objects in the range.
    Result<bool> refresh(Kernel& kernel);
    void invalidate() { valid_ = false; }
    const std::vector<NexthopObject>& observed() const { return observed_; }

    // The desired state for the kernel: dead peers out, routes on groups
    // (objects()). `routes`: the kernel's routes of the managed table (the
    // groups our routes use, to recover ids at start).
    Result<Desired> target(const Desired& d, const std::vector<Route>& routes);
    const std::vector<NexthopObject>& wanted() const { return wanted_; }
    void note_applied() { confirmed_ = true; }

    // The node's addresses with their links and subnets: the link of each
    // peer is the one whose subnet holds it (longest prefix).
    void set_addresses(const std::vector<nl::Interface>& addrs);
    // Kernel events. Return whether a peer's liveness changed (reconcile).
    bool neighbour(const nl::Neighbour& n, bool deleted, Clock::time_point now);
    bool link(std::uint32_t ifindex, bool up, Clock::time_point now);
    bool tick(Clock::time_point now);
    // The BGP session state of each on-link peer that has one (frr-k8s):
    // decides over its neighbour entry. Returns whether a liveness changed.
    bool set_sessions(std::map<IpAddr, BgpSession> by_gateway, Clock::time_point now);
    std::optional<Clock::time_point> next_tick() const { return liveness_.pending_until(); }
    const PeerLiveness& liveness() const { return liveness_; }

private:
    std::uint32_t link_of(const IpAddr& a) const;
    void log_transition(const PeerLiveness::Transition& t) const;

    NexthopSettings s_;
    bool fallen_back_ = false, confirmed_ = false, valid_ = false;
    std::vector<NexthopObject> observed_;
    std::vector<NexthopObject> wanted_;
    NhAssignment assignment_;
    std::vector<std::pair<Prefix, std::uint32_t>> subnets_;  // longest first
    std::map<IpAddr, nl::Neighbour> neighbours_;             // the kernel's entries, by address
    std::map<IpAddr, BgpSession> sessions_;                  // BGP session states, by gateway
    PeerLiveness liveness_;
    std::vector<std::string> last_notes_;
    // Each route's peers as last laid out (by family and table): when all
    // are dead the route keeps these.
    std::map<std::pair<Family, std::uint32_t>, std::set<IpAddr>> current_;
};

}  // namespace nra
