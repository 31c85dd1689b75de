// Model + settings -> the kernel state the agent wants, and the plan that gets
// the kernel there. Pure functions over values.
#pragma once

#include <cstdint>
#include <map>
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
    // PEER_SET_TABLES: one table per peer set other than all peers.
    std::uint32_t peer_set_first = 30001, peer_set_last = 30064;
    TableSet tables() const { return TableSet{table, peer_set_first, peer_set_last}; }
};

// Which table each pool CIDR's rule looks up: what the last desired state
// decided, or at start what the kernel's rules say. Keeps a peer set's table
// stable across changes.
using TablePlacement = std::map<Prefix, std::uint32_t>;

// The pool CIDR -> table of `rules` (source-specific ToTable rules stamped
// with `protocol` whose table is in the PEER_SET_TABLES range of `tables`).
TablePlacement placement_of(const std::vector<const Rule*>& rules, const TableSet& tables, std::uint8_t protocol);

// A group of pool CIDRs of one family announced to the same peers (not all
// of them): it needs a table of its own.
struct PeerSetRequest {
    std::vector<IpAddr> peers;  // sorted, unique, one family
    std::vector<Prefix> cidrs;
};

// One table from the range of `tables` per set, stable: a set keeps the
// table most of its CIDRs were placed in (`previous`, range tables only)
// unless a set with more CIDRs there claims it first (ties: the lower
// table, then the set first in `sets`), else the next such table; the
// others get the lowest free table, in the order of `sets`. 0 for a set
// left without a table (range exhausted).
std::vector<std::uint32_t> assign_peer_set_tables(const std::vector<PeerSetRequest>& sets,
                                                  const TablePlacement& previous, const TableSet& tables);

// A peer set with a table of its own, as decided (logs, metrics).
struct PeerSetTable {
    Family family = Family::V4;
    std::uint32_t table = 0;
    std::vector<IpAddr> peers;
    std::size_t cidrs = 0;
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
    // One per family in TABLE_WEIGHT (all peers) and one per peer set in its
    // own table: code must not assume one route per family.
    std::vector<Route> routes;
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
    std::vector<PeerSetTable> peer_sets;       // the sets outside TABLE_WEIGHT that got a table
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
// Pools are grouped by the peers they are announced to (AddressEntry::peers):
// those announced to every usable peer of their family look up
// settings.table (today's single-table layout); each other set gets a table
// from the PEER_SET_TABLES range (assign_peer_set_tables over `previous`).
// A set with no peer usable here gets no rule (diagnostic).
Desired desired_state(const Model& model, const Settings& settings, const std::set<IpAddr>& local = {},
                      const PeerPaths* paths = nullptr, const TablePlacement& previous = {});

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

// CLEANANDEXIT: delete every rule referencing an owned table, then every route in one.
std::vector<Op> plan_clean(const Observed& observed);

}  // namespace nra
