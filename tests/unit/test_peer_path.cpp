// Peer resolution through a lookup table (core/peer_path) and how the paths
// become the route's nexthops (desired_state with PeerPaths).
#include <catch2/catch.hpp>

#include "nra/core/desired.hpp"
#include "nra/core/peer_path.hpp"

using namespace nra;

namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

// A main-table route: `dst` via `gws` ("gw@ifindex[*weight]"), or dev-only with `oif`.
Route route(const char* dst, std::vector<Nexthop> hops = {}, std::uint32_t oif = 0, std::uint32_t metric = 0,
            std::uint8_t type = kRouteTypeUnicast) {
    Route r;
    r.dst = *parse_prefix(dst).value;
    r.family = r.dst.family();
    r.src = Prefix{IpAddr{r.family, {}}, 0};
    r.table = kMainTable;
    r.priority = metric;
    r.type = type;
    r.oif = oif;
    r.nexthops = std::move(hops);
    if (r.nexthops.size() == 1) r.oif = r.nexthops[0].ifindex;
    return r;
}

Nexthop hop(const char* gw, std::uint32_t ifindex, std::uint16_t weight = 1) {
    return Nexthop{ip(gw), ifindex, weight};
}

std::vector<Route> main_table() {
    return {
        route("10.0.0.0/24", {}, 2),                                        // connected on dev 2
        route("0.0.0.0/0", {hop("10.0.0.254", 2)}),                         // default
        route("10.9.0.0/16", {hop("10.0.0.1", 2)}),                         // via the on-link router
        route("10.9.9.0/24", {hop("10.0.0.3", 2)}),                         // more specific
        route("10.8.0.0/16", {hop("10.0.0.3", 2), hop("10.0.0.4", 2, 3)}),  // multipath
        route("10.7.0.0/16", {}, 0, 0, 6),                                  // blackhole
        route("10.6.0.0/16", {}, 0, 0, 7),                                  // unreachable
        route("10.5.0.0/16", {}, 0, 0, 8),                                  // prohibit
        route("10.4.0.0/16", {hop("10.0.0.1", 2)}, 0, 100),                 // two metrics: the lower wins
        route("10.4.0.0/16", {hop("10.0.0.3", 2)}, 0, 50),
        route("fd00::/64", {}, 2, 256),
        route("fd09::/32", {hop("fe80::1", 2)}, 0, 1024),  // link-local gateway
        route("::/0", {hop("fd00::fe", 2)}, 0, 1024),
    };
}

}  // namespace

TEST_CASE("peer path: a connected route makes the peer on-link on its device") {
    const auto t = main_table();
    auto p = resolve_peer(ip("10.0.0.7"), t, "main");
    REQUIRE(p.usable());
    CHECK_FALSE(p.recursive);
    CHECK(p.hops == std::vector<Nexthop>{hop("10.0.0.7", 2)});
    auto p6 = resolve_peer(ip("fd00::7"), t, "main");
    REQUIRE(p6.usable());
    CHECK(p6.hops == std::vector<Nexthop>{hop("fd00::7", 2)});
}

TEST_CASE("peer path: a route with a gateway resolves recursively, the most specific route wins") {
    const auto t = main_table();
    auto p = resolve_peer(ip("10.9.1.1"), t, "main");
    REQUIRE(p.usable());
    CHECK(p.recursive);
    CHECK(p.hops == std::vector<Nexthop>{hop("10.0.0.1", 2)});
    CHECK(resolve_peer(ip("10.9.9.9"), t, "main").hops == std::vector<Nexthop>{hop("10.0.0.3", 2)});
    // Nothing more specific: the default route.
    CHECK(resolve_peer(ip("192.0.2.1"), t, "main").hops == std::vector<Nexthop>{hop("10.0.0.254", 2)});
    CHECK(resolve_peer(ip("2001:db8::1"), t, "main").hops == std::vector<Nexthop>{hop("fd00::fe", 2)});
    // Equal prefixes: the lowest metric.
    CHECK(resolve_peer(ip("10.4.1.1"), t, "main").hops == std::vector<Nexthop>{hop("10.0.0.3", 2)});
}

TEST_CASE("peer path: a multipath route gives every gateway with its weight") {
    auto p = resolve_peer(ip("10.8.3.3"), main_table(), "main");
    REQUIRE(p.usable());
    CHECK(p.hops == std::vector<Nexthop>{hop("10.0.0.3", 2), hop("10.0.0.4", 2, 3)});
}

TEST_CASE("peer path: a link-local gateway is kept with its device") {
    auto p = resolve_peer(ip("fd09::5"), main_table(), "main");
    REQUIRE(p.usable());
    CHECK(p.hops == std::vector<Nexthop>{hop("fe80::1", 2)});
}

TEST_CASE("peer path: blackhole, unreachable, prohibit and no route make the peer unusable with a reason") {
    const auto t = main_table();
    auto bh = resolve_peer(ip("10.7.0.1"), t, "main");
    CHECK_FALSE(bh.usable());
    CHECK(bh.kind == "blackhole");
    CHECK(bh.reason == "the route to 10.7.0.1 in table main (10.7.0.0/16) is a blackhole route");
    CHECK(resolve_peer(ip("10.6.0.1"), t, "main").kind == "unreachable");
    CHECK(resolve_peer(ip("10.5.0.1"), t, "main").kind == "prohibit");
    std::vector<Route> no_default(t.begin(), t.end());
    no_default.erase(no_default.begin() + 1);
    auto none = resolve_peer(ip("10.99.9.9"), no_default, "main");
    CHECK_FALSE(none.usable());
    CHECK(none.kind == "no_route");
    CHECK(none.reason == "no route to 10.99.9.9 in table main");
    // Other families, source-specific routes and TOS routes never match.
    std::vector<Route> odd{route("::/0", {hop("fd00::fe", 2)})};
    odd.push_back(route("0.0.0.0/0", {hop("10.0.0.1", 2)}));
    odd.back().tos = 4;
    CHECK(resolve_peer(ip("10.1.1.1"), odd, "main").kind == "no_route");
    CHECK(resolve_peer(ip("10.1.1.1"), {}, "12 (VRF red)").reason == "no route to 10.1.1.1 in table 12 (VRF red)");
    CHECK(unusable_vrf("red").reason == "VRF 'red' does not exist on this node");
}

TEST_CASE("peer path: a more specific blackhole hides the default route") {
    std::vector<Route> t{route("0.0.0.0/0", {hop("10.0.0.254", 2)}), route("203.0.113.0/24", {}, 0, 0, 6)};
    CHECK(resolve_peer(ip("203.0.113.9"), t, "main").kind == "blackhole");
    CHECK(resolve_peer(ip("203.0.114.9"), t, "main").usable());
}

namespace {

Model model_of(std::vector<const char*> peers) {
    Model m;
    for (auto p : peers) m.peers.push_back(Peer{ip(p), 0, p, {}});
    m.addresses.push_back(AddressEntry{"192.168.57.0/24", "pools[0]"});
    m.addresses.push_back(AddressEntry{"fd20::/64", "pools[1]"});
    return m;
}

const Route* route_of(const Desired& d, Family f) {
    for (const Route& r : d.routes)
        if (r.family == f) return &r;
    return nullptr;
}

}  // namespace

TEST_CASE("desired with paths: an unusable peer leaves the others' route intact and is listed") {
    const auto t = main_table();
    std::vector<Route> no_default(t.begin(), t.end());
    no_default.erase(no_default.begin() + 1);
    auto m = model_of({"10.0.0.1", "10.99.9.9", "10.9.9.9"});
    PeerPaths paths;
    for (const Peer& p : m.peers) paths[PeerKey{p.address, ""}] = resolve_peer(p.address, no_default, "main");
    auto d = desired_state(m, Settings{}, {}, &paths);
    const Route* r = route_of(d, Family::V4);
    REQUIRE(r);
    // On-link 10.0.0.1 and 10.9.9.9's gateway 10.0.0.3, each with the peer weight.
    CHECK(r->nexthops == std::vector<Nexthop>{hop("10.0.0.1", 2, 100), hop("10.0.0.3", 2, 100)});
    REQUIRE(d.unusable_peers.size() == 1);
    CHECK(d.unusable_peers[0].peer.address == ip("10.99.9.9"));
    CHECK(d.unusable_peers[0].kind == "no_route");
    CHECK(d.unusable_peers[0].name == "10.99.9.9");
    CHECK(d.unusable_peers[0].reason == "no route to 10.99.9.9 in table main");
    // No IPv6 peer at all: as before, no IPv6 rules.
    CHECK(route_of(d, Family::V6) == nullptr);
    for (const Rule& rule : d.rules) CHECK(rule.family == Family::V4);
}

TEST_CASE("desired with paths: peers sharing a gateway are one nexthop, weights summed and capped at 256") {
    const auto t = main_table();
    auto m = model_of({"10.0.0.1", "10.9.1.1", "10.9.2.2", "10.0.0.3"});
    PeerPaths paths;
    for (const Peer& p : m.peers) paths[PeerKey{p.address, ""}] = resolve_peer(p.address, t, "main");
    auto d = desired_state(m, Settings{}, {}, &paths);
    const Route* r = route_of(d, Family::V4);
    REQUIRE(r);
    CHECK(r->nexthops == std::vector<Nexthop>{hop("10.0.0.1", 2, 256), hop("10.0.0.3", 2, 100)});
    Settings light;
    light.peer_weight = 10;
    auto d2 = desired_state(m, light, {}, &paths);
    CHECK(route_of(d2, Family::V4)->nexthops == std::vector<Nexthop>{hop("10.0.0.1", 2, 30), hop("10.0.0.3", 2, 10)});
}

TEST_CASE("desired with paths: a peer behind a multipath route shares its weight by the route's weights") {
    auto m = model_of({"10.0.0.1", "10.8.3.3"});
    PeerPaths paths;
    for (const Peer& p : m.peers) paths[PeerKey{p.address, ""}] = resolve_peer(p.address, main_table(), "main");
    auto d = desired_state(m, Settings{}, {}, &paths);
    // 100 split 1:3 between 10.0.0.3 and 10.0.0.4.
    CHECK(route_of(d, Family::V4)->nexthops ==
          std::vector<Nexthop>{hop("10.0.0.1", 2, 100), hop("10.0.0.3", 2, 25), hop("10.0.0.4", 2, 75)});
}

TEST_CASE("desired with paths: a single resolved gateway is the plain via form") {
    auto m = model_of({"10.9.1.1"});
    PeerPaths paths{{PeerKey{ip("10.9.1.1"), ""}, resolve_peer(ip("10.9.1.1"), main_table(), "main")}};
    auto d = desired_state(m, Settings{}, {}, &paths);
    CHECK(route_of(d, Family::V4)->nexthops == std::vector<Nexthop>{hop("10.0.0.1", 2, 1)});
}

TEST_CASE("desired with paths: every peer of a family unusable keeps its rules without a route") {
    auto m = model_of({"10.0.0.1", "10.7.0.1", "fd00::1"});
    PeerPaths paths;
    paths[PeerKey{ip("10.0.0.1"), ""}] = resolve_peer(ip("10.0.0.1"), {}, "main");
    paths[PeerKey{ip("10.7.0.1"), ""}] = resolve_peer(ip("10.7.0.1"), main_table(), "main");
    auto d = desired_state(m, Settings{}, {}, &paths);
    CHECK(route_of(d, Family::V4) == nullptr);
    CHECK(d.unusable_peers.size() == 2);
    std::size_t v4_rules = 0;
    for (const Rule& rule : d.rules) v4_rules += rule.family == Family::V4;
    CHECK(v4_rules == 1);
    // The IPv6 peer has no entry: on-link as without paths.
    REQUIRE(route_of(d, Family::V6));
    CHECK(route_of(d, Family::V6)->nexthops == std::vector<Nexthop>{hop("fd00::1", 0, 1)});
}

TEST_CASE("desired with paths: a VRF peer is looked up under its own key") {
    Model m = model_of({});
    m.peers.push_back(Peer{ip("10.0.0.1"), 0, "red-peer", {}, "red"});
    PeerPaths paths{{PeerKey{ip("10.0.0.1"), "red"}, unusable_vrf("red")},
                    {PeerKey{ip("10.0.0.1"), ""}, resolve_peer(ip("10.0.0.1"), main_table(), "main")}};
    auto d = desired_state(m, Settings{}, {}, &paths);
    CHECK(route_of(d, Family::V4) == nullptr);
    REQUIRE(d.unusable_peers.size() == 1);
    CHECK(d.unusable_peers[0].kind == "no_vrf");
    CHECK(d.unusable_peers[0].peer.vrf == "red");
}

TEST_CASE("desired without paths: unchanged (peers are their own gateways)") {
    auto m = model_of({"10.0.0.3", "10.0.0.1"});
    auto a = desired_state(m, Settings{});
    PeerPaths none;
    auto b = desired_state(m, Settings{}, {}, &none);
    CHECK(a.routes == b.routes);
    CHECK(a.rules == b.rules);
    CHECK(route_of(a, Family::V4)->nexthops == std::vector<Nexthop>{hop("10.0.0.1", 0, 100), hop("10.0.0.3", 0, 100)});
}
