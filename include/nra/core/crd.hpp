// MetalLB CRD selection (pure): owned BGPPeer / IPAddressPool /
// BGPAdvertisement values and this node's labels -> the Model to enforce.
// The Kubernetes layer decodes JSON into these structs; nothing here knows
// about JSON, HTTP or the event loop.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nra/core/model.hpp"
#include "nra/core/selector.hpp"  // selector_error

namespace nra {

// Labels on BGPPeer objects that steer the agent.
inline constexpr const char* kLabelEnabled =
    "metallb-nra/enabled";  // "false" / "0" / "no" / "off" (any case) excludes the peer
inline constexpr const char* kLabelAddress = "metallb-nra/address";  // replaces the nexthop address
inline constexpr const char* kLabelWeight = "metallb-nra/weight";    // 1..256: nexthop weight

struct CrdPeer {
    std::string ns, name;
    Labels labels;
    std::string peer_address;                   // spec.peerAddress ("" if absent)
    std::string interface_name;                 // spec.interface (unnumbered peers)
    std::string vrf;                            // spec.vrf: the peer is resolved through that VRF's table
    std::vector<LabelSelector> node_selectors;  // spec.nodeSelectors, OR-ed; empty = all nodes
    std::string invalid;                        // set by the decoder: why a selector could not be read
};

struct CrdPool {
    std::string ns, name;
    Labels labels;
    std::vector<std::string> addresses;  // spec.addresses as written
    // parse_pool_entry of each address, filled by the decoder so a pool is
    // parsed once per change, not once per derivation (empty: parsed there).
    std::vector<Result<std::vector<Prefix>>> parsed;
};

struct CrdAdvertisement {
    std::string ns, name;
    std::vector<std::string> pools;             // spec.ipAddressPools
    std::vector<LabelSelector> pool_selectors;  // spec.ipAddressPoolSelectors
    std::vector<std::string> peers;             // spec.peers (BGPPeer names; empty = all)
    std::vector<LabelSelector> node_selectors;  // spec.nodeSelectors, OR-ed; empty = all nodes
    std::string invalid;
};

struct CrdInput {
    std::vector<CrdPeer> peers;
    std::vector<CrdPool> pools;
    std::vector<CrdAdvertisement> advertisements;
    // This node's labels; nullopt = no NODE_NAME: node selectors are not
    // evaluated and every peer applies.
    std::optional<Labels> node_labels;
};

// The same input by reference: the Kubernetes source points into its
// informer caches instead of copying every cached object on each change.
struct CrdInputView {
    std::vector<const CrdPeer*> peers;
    std::vector<const CrdPool*> pools;
    std::vector<const CrdAdvertisement*> advertisements;
    std::optional<Labels> node_labels;
};

struct CrdSelection {
    Model model;                          // peers already filtered for this node (node_selectors cleared)
    std::vector<Diagnostic> diagnostics;  // skipped objects/entries, naming namespace/name
    bool rejected = false;                // invalid selector somewhere: keep the last good config
};

// Selection rules (kube-api.md section 3, upstream-behaviour.md):
// - a peer applies iff it is enabled, has a usable address (metallb-nra/address
//   or spec.peerAddress; interface-only peers are skipped) and one of its
//   nodeSelectors matches the node (or it has none);
// - an advertisement applies iff one of its nodeSelectors matches the node
//   (or it has none, or there is no NODE_NAME); it selects its named pools
//   plus the pools matching any of its selectors, or every pool when it has
//   neither; it counts only if its spec.peers is empty or names at least one
//   applicable peer;
// - the model's addresses are those of every selected pool (invalid entries
//   are reported and skipped); pools no advertisement selects are left out;
// - each address entry carries its pool's peers: the union over the
//   advertisements that select the pool and apply here of their spec.peers
//   (as Model peer names), nullopt when one of them names no peers (all).
CrdSelection select_crd(const CrdInputView& input);
CrdSelection select_crd(const CrdInput& input);

}  // namespace nra
