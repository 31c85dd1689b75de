// BGP session states as frr-k8s reports them (BGPSessionState objects,
// frrk8s.metallb.io/v1beta1, one per node, peer and VRF): a stronger
// liveness signal than a peer's neighbour entry. Pure: the Kubernetes source
// decodes the objects, the agent maps them onto the gateways of its routes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nra/core/ip.hpp"
#include "nra/core/model.hpp"
#include "nra/core/peer_path.hpp"

namespace nra {

struct BgpSession {
    IpAddr peer;
    std::string vrf;     // "" = the default VRF
    std::string state;   // status.bgpStatus: "Established", "Active", "Idle", "Connect", ...
    std::string object;  // "namespace/name", for logs
    bool established() const { return state == "Established"; }
    bool operator==(const BgpSession&) const = default;
};
using BgpSessions = std::vector<BgpSession>;

// A BGPSessionState's status.peer (or its frrk8s.metallb.io/peer label):
// an IPv4 address as written, an IPv6 address fully expanded with '-' for
// ':' ("2001-0db8-0000-0000-0000-0000-0000-0001": a label value cannot hold
// ':'), or plain IPv6 text. nullopt for anything else (an interface name:
// unnumbered BGP has no address to match).
std::optional<IpAddr> parse_session_peer(std::string_view text);

// The session deciding each on-link peer's liveness: a peer of `peers`
// (address and VRF) whose path is on-link (the peer itself is the gateway;
// no entry in `paths` counts as on-link) and that has a session in
// `sessions` (same address and VRF). Recursively resolved peers get none:
// their gateways may carry other peers too. When one address has sessions in
// several VRFs, an established one wins.
std::map<IpAddr, BgpSession> sessions_by_gateway(const BgpSessions& sessions, const std::vector<Peer>& peers,
                                                 const PeerPaths& paths);

}  // namespace nra
