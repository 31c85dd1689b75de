// Which peers are alive, from their neighbour entries and their links: a
// pure state machine fed the kernel's neighbour states and link up/down
// with the time of each (an injected clock). A peer whose neighbour entry is
// FAILED or whose link is down is dead; REACHABLE, STALE, DELAY, PROBE and
// PERMANENT bring it back (INCOMPLETE, NOARP, NONE and no entry at all say
// nothing: the last verdict stays). A peer that flaps is held out: after
// kMaxFlaps comebacks within kFlapWindow, its next comeback waits until the
// hold time has passed (pending_until() says when to look again).
// A peer's BGP session state (frr-k8s BGPSessionState), when known, decides
// over its neighbour entry: established = alive, any other state = dead (a
// link going down still kills it); once unknown again, the neighbour entry
// decides.
// Never removes the last live peer: filter() keeps every peer when all are
// dead (or, given the route's current peers, keeps those).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nra/core/bgp_session.hpp"
#include "nra/core/types.hpp"

namespace nra {

// NUD_* of <linux/neighbour.h>.
namespace nud {
inline constexpr std::uint16_t Incomplete = 0x01, Reachable = 0x02, Stale = 0x04, Delay = 0x08, Probe = 0x10,
                               Failed = 0x20, Noarp = 0x40, Permanent = 0x80;
}

class PeerLiveness {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr int kMaxFlaps = 3;
    static constexpr std::chrono::seconds kFlapWindow{60};
    static constexpr std::chrono::seconds kFlapHold{30};

    struct Transition {
        IpAddr peer;
        bool alive;
        std::string reason;  // "neighbour entry FAILED on link 3", "link 3 up", ...
    };

    // The peers to follow (the gateways of the desired routes), with the link
    // each is reached through (0 when unknown: only its neighbour entry counts).
    // Peers no longer listed are forgotten; new ones start alive.
    void set_peers(const std::map<IpAddr, std::uint32_t>& peers);

    // A neighbour entry of `peer` on `ifindex` now has state `state` (NUD_*);
    // deleted = the entry went (says nothing). Returns the transition, if any.
    std::optional<Transition> neighbour(const IpAddr& peer, std::uint32_t ifindex, std::uint16_t state, bool deleted,
                                        Clock::time_point now);
    // The BGP session of `peer` (nullopt: none known any more). Returns the
    // transition, if any.
    std::optional<Transition> session(const IpAddr& peer, const std::optional<BgpSession>& s, Clock::time_point now);
    // A link went up or down: every peer on it. Returns the transitions.
    std::vector<Transition> link(std::uint32_t ifindex, bool up, Clock::time_point now);
    // Comebacks held back by flap limiting whose hold has passed.
    std::vector<Transition> tick(Clock::time_point now);
    // When tick() should run next (a held comeback), if ever.
    std::optional<Clock::time_point> pending_until() const;

    bool alive(const IpAddr& peer) const;
    std::set<IpAddr> dead() const;
    // The live ones of `hops`. When none is alive the route keeps what it
    // has: those of `current` (its peers now) still among `hops` - the last
    // live peer is never removed - or, when none is, all of `hops`.
    std::vector<Nexthop> filter(const std::vector<Nexthop>& hops, const std::set<IpAddr>& current = {}) const;

    static std::string state_name(std::uint16_t state);

private:
    struct Peer {
        std::uint32_t ifindex = 0;
        bool neigh_failed = false;
        bool link_down = false;
        std::optional<bool> session_up;  // the BGP session, when known: decides over neigh_failed
        bool alive = true;               // the verdict in force
        std::vector<Clock::time_point> comebacks;
        std::optional<Clock::time_point> held_until;  // a comeback waiting out the flap hold
    };
    std::optional<Transition> settle(const IpAddr& a, Peer& p, const std::string& reason, Clock::time_point now);

    std::map<IpAddr, Peer> peers_;
};

}  // namespace nra
