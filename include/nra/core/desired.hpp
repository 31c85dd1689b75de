// Model + settings -> the kernel state the agent wants, and the plan that gets
// the kernel there. Pure functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "nra/core/model.hpp"
#include "nra/core/peer_path.hpp"
#include "nra/core/types.hpp"

namespace nra {

struct Settings {
    std::uint32_t table = 20;
    std::uint32_t rule_priority = 20;
    std::uint16_t peer_weight = 100;
    std::optional<std::uint32_t> fwmark;  // with fwmask when set
    std::uint32_t fwmask = 0xffffffff;
    Prefix destination_v4 = Prefix{IpAddr{Family::V4, {}}, 0};
    Prefix destination_v6 = Prefix{IpAddr{Family::V6, {}}, 0};
    std::uint8_t protocol = kOurProtocol;
};

// A configured peer that cannot be a nexthop (see peer_path.hpp).
struct UnusablePeer {
    PeerKey peer;
    std::string name;  // as in Peer::name
    std::string kind;  // PeerPath::kind
    std::string reason;
    auto operator<=>(const UnusablePeer&) const = default;
};

struct Desired {
    std::vector<Route> routes;  // at most one per family
    std::vector<Rule> rules;    // sorted, unique
    std::vector<Prefix> cidrs;  // the aggregated pool CIDRs (both families)
    std::vector<Diagnostic> diagnostics;
    // Applied but dangerous: a pool covering a whole address family routes
    // all of the node's traffic through the peers.
    std::vector<Diagnostic> warnings;
    // Peers left out because they are this node's own or loopback addresses.
    std::set<IpAddr> local_peers;
    std::size_t link_local_peers = 0;          // IPv6 link-local peers left out (they need an interface)
    std::vector<UnusablePeer> unusable_peers;  // peers whose path says they cannot be reached
    std::uint8_t protocol = kOurProtocol;      // what "ours" looks like, to tell stale from imposter
};

// `local`: the node's own addresses (all links). A peer that is one of them,
// a loopback or the unspecified address is never a gateway: it is left out,
// with a diagnostic, and listed in Desired::local_peers.
// `paths`: how each peer is reached (null, or a peer without an entry: its
// own address is the gateway). An unusable peer is left out and listed in
// Desired::unusable_peers (a state of the network, not a configuration
// error: the caller logs its changes); the others' nexthops
// are their paths' hops, the peer's weight shared among them by the hops'
// weights. Hops shared by several peers (same gateway and device) are one
// nexthop with the weights summed (at most 256). A family whose peers are
// all unusable keeps its rules and has no route until one is reachable.
Desired desired_state(const Model& model, const Settings& settings, const std::set<IpAddr>& local = {},
                      const PeerPaths* paths = nullptr);

// Why `a` cannot be a peer given the node's addresses, or empty.
std::string local_peer_reason(const IpAddr& a, const std::set<IpAddr>& local);

// Ops that turn `observed` into `desired`, make-before-break: routes replaced
// first, then missing rules added, then unwanted rules deleted (the rules
// must be in the kernel's list order: the deletes are ordered, and wanted
// rules moved, so that no delete ever takes the last copy of a wanted rule;
// see rule_order.hpp), then stale routes.
std::vector<Op> plan(const Desired& desired, const Observed& observed);
// The same over rules held elsewhere (the agent's event-maintained mirror),
// in the kernel's order. `stuck` receives the unwanted rules that cannot be
// removed without losing a wanted one (left in place, no op planned).
std::vector<Op> plan(const Desired& desired, const std::vector<const Rule*>& rules, const std::vector<Route>& routes,
                     std::vector<const Rule*>* stuck = nullptr);

// CLEANANDEXIT: delete every rule referencing the table, then every route in it.
std::vector<Op> plan_clean(const Observed& observed);

}  // namespace nra
