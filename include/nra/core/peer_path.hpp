// How a peer becomes nexthops: resolved through the routes of its lookup
// table (main, or its VRF's table) by longest-prefix match, as the kernel
// reaches it. Pure: the agent hands in the routes it dumped and followed.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "nra/core/types.hpp"

namespace nra {

inline constexpr std::uint32_t kMainTable = 254;  // RT_TABLE_MAIN

// A peer as the paths know it: its (possibly overridden) address and the VRF
// it is reached through ("" = the main table).
struct PeerKey {
    IpAddr address;
    std::string vrf;
    auto operator<=>(const PeerKey&) const = default;
};

struct PeerPath {
    // How the peer is reached; empty = unusable. On-link: the peer itself on
    // the device of the connected route. Recursive: the gateways of the route
    // that reaches it, each with its device and the route's own weight
    // (1 for a single-path route).
    std::vector<Nexthop> hops;
    bool recursive = false;
    std::string reason;  // why unusable: "no route to 10.9.9.9 in table main"
    std::string kind;    // the reason as a metric label: no_route, blackhole, unreachable, prohibit, ...
    bool usable() const { return !hops.empty(); }
    auto operator<=>(const PeerPath&) const = default;
};

// The resolution of every peer of a configuration. A peer without an entry
// is taken as on-link (its own address as the gateway), as without paths.
using PeerPaths = std::map<PeerKey, PeerPath>;

// Longest-prefix match of `peer` among `routes` (one table's; routes of
// another family, with a source prefix or a TOS are ignored; equal prefixes:
// the lowest metric wins). `table_name` is for the reason ("main", "12 (VRF red)").
// A blackhole, unreachable, prohibit or throw route, or none, makes the peer
// unusable.
PeerPath resolve_peer(const IpAddr& peer, const std::vector<Route>& routes, std::string_view table_name);

// A peer whose VRF device does not exist (or is not a VRF).
PeerPath unusable_vrf(const std::string& vrf);

}  // namespace nra
