#include "nra/core/peer_path.hpp"

#include <algorithm>

namespace nra {

namespace {

// RTN_* route types (<linux/rtnetlink.h>).
constexpr std::uint8_t kRtnBlackhole = 6, kRtnUnreachable = 7, kRtnProhibit = 8, kRtnThrow = 9;

bool contains(const Prefix& p, const IpAddr& a) {
    if (p.family() != a.family) return false;
    const unsigned bits = family_bits(a.family);
    if (p.len == 0) return true;
    if (p.len > bits) return false;
    const u128 mask = ~u128(0) << (128 - p.len);
    const u128 shift = 128 - bits;  // IPv4 values sit in the low 32 bits
    return ((p.addr.to_u128() << shift) & mask) == ((a.to_u128() << shift) & mask);
}

bool unspecified(const IpAddr& a) {
    return std::all_of(a.bytes.begin(), a.bytes.end(), [](std::uint8_t b) { return b == 0; });
}

PeerPath unusable(std::string kind, std::string reason) {
    PeerPath p;
    p.kind = std::move(kind);
    p.reason = std::move(reason);
    return p;
}

}  // namespace

PeerPath resolve_peer(const IpAddr& peer, const std::vector<Route>& routes, std::string_view table_name) {
    const Route* best = nullptr;
    for (const Route& r : routes) {
        if (r.family != peer.family || r.src.len != 0 || r.tos != 0) continue;
        const bool kind_ok = r.type == kRouteTypeUnicast || r.type == kRtnBlackhole || r.type == kRtnUnreachable ||
                             r.type == kRtnProhibit || r.type == kRtnThrow;
        if (!kind_ok || !contains(r.dst, peer)) continue;
        if (!best || r.dst.len > best->dst.len || (r.dst.len == best->dst.len && r.priority < best->priority))
            best = &r;
    }
    const std::string in_table = " in table " + std::string(table_name);
    if (!best) return unusable("no_route", "no route to " + peer.str() + in_table);
    const std::string via = "the route to " + peer.str() + in_table + " (" + best->dst.str() + ") is ";
    switch (best->type) {
    case kRtnBlackhole:
        return unusable("blackhole", via + "a blackhole route");
    case kRtnUnreachable:
        return unusable("unreachable", via + "an unreachable route");
    case kRtnProhibit:
        return unusable("prohibit", via + "a prohibit route");
    case kRtnThrow:
        return unusable("no_route", via + "a throw route");
    default:
        break;
    }
    PeerPath path;
    if (best->nexthops.empty()) {
        if (!best->oif)
            return unusable("no_device",
                            via + (best->nh_id ? "a nexthop-object route the kernel reports without its device"
                                               : "a route without gateway or device"));
        path.hops.push_back(Nexthop{peer, best->oif, 1});
        return path;
    }
    for (const Nexthop& h : best->nexthops) {
        if (unspecified(h.gateway)) {
            // A device-only hop of a multipath route: the peer is on that link.
            path.hops.push_back(Nexthop{peer, h.ifindex, h.weight});
            continue;
        }
        if (h.gateway.family != peer.family)
            return unusable("other_family_gateway",
                            via + "reached through an " + std::string(family_name(h.gateway.family)) + " gateway (" +
                                h.gateway.str() + "), which a route of this family cannot carry here");
        path.recursive = path.recursive || h.gateway != peer;
        path.hops.push_back(Nexthop{h.gateway, h.ifindex, h.weight});
    }
    std::sort(path.hops.begin(), path.hops.end());
    return path;
}

PeerPath unusable_vrf(const std::string& vrf) {
    return unusable("no_vrf", "VRF '" + vrf + "' does not exist on this node");
}

}  // namespace nra
