// Peer sets: the CRD selection's per-pool peers (union over advertisements,
// advertisement node selectors), grouping pools into tables, the stable
// table assignment, the PEER_SET_TABLES parser, the plan over several tables.
#include <catch2/catch.hpp>

#include <algorithm>

#include "../common/values.hpp"
#include "nra/core/crd.hpp"
#include "nra/core/desired.hpp"

using namespace nra;
using nra::testing::addr;
using nra::testing::pfx;

namespace {

CrdPeer crd_peer(std::string name, std::string address) {
    CrdPeer p;
    p.ns = "metallb-system";
    p.name = std::move(name);
    p.peer_address = std::move(address);
    return p;
}

CrdPool crd_pool(std::string name, std::vector<std::string> addrs) {
    return CrdPool{"metallb-system", std::move(name), {}, std::move(addrs), {}};
}

CrdAdvertisement crd_ad(std::string name, std::vector<std::string> pools, std::vector<std::string> peers,
                        std::vector<LabelSelector> node_selectors = {}) {
    CrdAdvertisement a;
    a.ns = "metallb-system";
    a.name = std::move(name);
    a.pools = std::move(pools);
    a.peers = std::move(peers);
    a.node_selectors = std::move(node_selectors);
    return a;
}

const AddressEntry* entry(const CrdSelection& s, const std::string& text) {
    for (const auto& a : s.model.addresses)
        if (a.text == text) return &a;
    return nullptr;
}

Peer peer(const char* a, const char* name) { return Peer{addr(a), 0, name, {}}; }

AddressEntry pool(const char* cidr, std::optional<std::vector<std::string>> peers) {
    AddressEntry e{cidr, cidr};
    e.peers = std::move(peers);
    return e;
}

std::vector<std::string> strs(const std::vector<Rule>& v) {
    std::vector<std::string> out;
    for (const auto& r : v) out.push_back(r.str());
    return out;
}
std::vector<std::string> strs(const std::vector<Route>& v) {
    std::vector<std::string> out;
    for (const auto& r : v) out.push_back(r.str());
    return out;
}

bool mentions(const std::vector<Diagnostic>& ds, const std::string& text) {
    return std::any_of(ds.begin(), ds.end(),
                       [&](const Diagnostic& d) { return (d.where + " " + d.what).find(text) != std::string::npos; });
}

Model two_isps() {
    Model m;
    m.peers = {peer("10.0.0.1", "ns/isp-a"), peer("10.0.0.2", "ns/isp-b")};
    m.addresses = {pool("192.0.2.0/24", std::vector<std::string>{"ns/isp-a"}),
                   pool("198.51.100.0/24", std::vector<std::string>{"ns/isp-b"}), pool("203.0.113.0/24", std::nullopt)};
    return m;
}

}  // namespace

TEST_CASE("crd selection: a pool's peers are the union over the advertisements that select it") {
    CrdInput in;
    in.peers = {crd_peer("isp-a", "10.0.0.1"), crd_peer("isp-b", "10.0.0.2"), crd_peer("isp-c", "10.0.0.3"),
                crd_peer("isp-a-again", "10.0.0.1")};
    in.pools = {crd_pool("a", {"192.0.2.0/24"}), crd_pool("ab", {"198.51.100.0/24"}),
                crd_pool("all", {"203.0.113.0/24"}), crd_pool("dup", {"192.0.3.0/24"})};
    in.advertisements = {crd_ad("to-a", {"a", "ab"}, {"isp-a"}), crd_ad("to-b", {"ab"}, {"isp-b", "missing"}),
                         crd_ad("to-all", {"all"}, {}), crd_ad("to-all-too", {"ab"}, {"isp-c"}),
                         crd_ad("dup-name", {"dup"}, {"isp-a-again"})};
    // "ab" gets a, b and c; "a" only a.
    auto s = select_crd(in);
    REQUIRE(!s.rejected);
    REQUIRE(entry(s, "192.0.2.0/24"));
    CHECK(entry(s, "192.0.2.0/24")->peers == std::vector<std::string>{"metallb-system/isp-a"});
    CHECK(entry(s, "198.51.100.0/24")->peers ==
          std::vector<std::string>{"metallb-system/isp-a", "metallb-system/isp-b", "metallb-system/isp-c"});
    CHECK(!entry(s, "203.0.113.0/24")->peers);  // an advertisement without peers: all of them
    // Two BGPPeers with one address are one Model peer (the first by name).
    CHECK(entry(s, "192.0.3.0/24")->peers == std::vector<std::string>{"metallb-system/isp-a"});

    in.advertisements.push_back(crd_ad("everything", {"a"}, {}));
    s = select_crd(in);
    CHECK(!entry(s, "192.0.2.0/24")->peers);  // another advertisement of the pool names none: all peers
}

TEST_CASE("crd selection: an advertisement whose node selectors do not match this node does not apply") {
    CrdInput in;
    in.peers = {crd_peer("isp-a", "10.0.0.1"), crd_peer("isp-b", "10.0.0.2")};
    in.pools = {crd_pool("p", {"192.0.2.0/24"}), crd_pool("q", {"198.51.100.0/24"})};
    LabelSelector rack1;
    rack1.match_labels = {{"rack", "1"}};
    in.advertisements = {crd_ad("a-on-rack1", {"p"}, {"isp-a"}, {rack1}), crd_ad("b-anywhere", {"p"}, {"isp-b"}),
                         crd_ad("q-on-rack1", {"q"}, {}, {rack1})};
    in.node_labels = Labels{{"rack", "2"}};
    auto s = select_crd(in);
    REQUIRE(entry(s, "192.0.2.0/24"));
    CHECK(entry(s, "192.0.2.0/24")->peers == std::vector<std::string>{"metallb-system/isp-b"});
    CHECK(!entry(s, "198.51.100.0/24"));  // its only advertisement does not apply here

    in.node_labels = Labels{{"rack", "1"}};
    s = select_crd(in);
    CHECK(entry(s, "192.0.2.0/24")->peers == std::vector<std::string>{"metallb-system/isp-a", "metallb-system/isp-b"});
    CHECK(entry(s, "198.51.100.0/24"));

    in.node_labels.reset();  // no NODE_NAME: node selectors are not evaluated
    s = select_crd(in);
    CHECK(entry(s, "198.51.100.0/24"));

    LabelSelector bad;
    bad.match_expressions.push_back(LabelRequirement{"rack", LabelRequirement::Op::In, {}});
    in.advertisements[0].node_selectors = {bad};
    s = select_crd(in);
    CHECK(s.rejected);  // an invalid selector rejects the configuration, as elsewhere
}

TEST_CASE("peer sets: pools announced to every peer keep today's single-table layout") {
    Model m = two_isps();
    for (auto& e : m.addresses) e.peers = std::vector<std::string>{"ns/isp-b", "ns/isp-a"};  // both, named
    const auto named = desired_state(m, Settings{});
    for (auto& e : m.addresses) e.peers.reset();
    const auto plain = desired_state(m, Settings{});
    CHECK(named.rules == plain.rules);
    CHECK(named.routes == plain.routes);
    CHECK(plain.peer_sets.empty());
    CHECK(strs(plain.routes) ==
          std::vector<std::string>{
              "default table 20 proto 245 nexthop via 10.0.0.1 weight 100 nexthop via 10.0.0.2 weight 100"});
}

TEST_CASE("peer sets: one table per distinct peer set, rules to the right one") {
    const auto d = desired_state(two_isps(), Settings{});
    CHECK(strs(d.routes) ==
          std::vector<std::string>{
              "default table 20 proto 245 nexthop via 10.0.0.1 weight 100 nexthop via 10.0.0.2 weight 100",
              "default table 30001 proto 245 via 10.0.0.1", "default table 30002 proto 245 via 10.0.0.2"});
    CHECK(strs(d.rules) == std::vector<std::string>{"priority 20 from 192.0.2.0/24 lookup 30001 proto 245",
                                                    "priority 20 from 198.51.100.0/24 lookup 30002 proto 245",
                                                    "priority 20 from 203.0.113.0/24 lookup 20 proto 245"});
    REQUIRE(d.peer_sets.size() == 2);
    CHECK(d.peer_sets[0].table == 30001);
    CHECK(d.peer_sets[0].peers == std::vector<IpAddr>{addr("10.0.0.1")});
}

TEST_CASE("peer sets: adjacent pools of different sets are never aggregated together") {
    Model m;
    m.peers = {peer("10.0.0.1", "a"), peer("10.0.0.2", "b")};
    m.addresses = {pool("192.0.2.0/25", std::vector<std::string>{"a"}), pool("192.0.2.128/25", std::nullopt)};
    const auto d = desired_state(m, Settings{});
    CHECK(strs(d.rules) == std::vector<std::string>{"priority 20 from 192.0.2.0/25 lookup 30001 proto 245",
                                                    "priority 20 from 192.0.2.128/25 lookup 20 proto 245"});
}

TEST_CASE("peer sets: a set naming no peer usable here gets no rule, with a diagnostic") {
    Model m = two_isps();
    m.addresses.push_back(pool("192.0.3.0/24", std::vector<std::string>{"ns/elsewhere"}));
    m.addresses.push_back(pool("fd00:1::/64", std::vector<std::string>{"ns/isp-a"}));  // no IPv6 peer named
    m.peers.push_back(peer("fd00::1", "ns/v6"));
    const auto d = desired_state(m, Settings{});
    for (const Rule& r : d.rules) {
        CHECK(r.src->str() != "192.0.3.0/24");
        CHECK(r.family == Family::V4);
    }
    CHECK(mentions(d.diagnostics, "'192.0.3.0/24' is announced to no peer usable on this node"));
    CHECK(mentions(d.diagnostics, "1 inet6 pool CIDR(s) announced to no inet6 peer usable on this node"));
    // A peer that is a local address is not usable either.
    Model local = two_isps();
    const auto dl = desired_state(local, Settings{}, {addr("10.0.0.2")});
    CHECK(std::none_of(dl.rules.begin(), dl.rules.end(),
                       [](const Rule& r) { return r.src->str() == "198.51.100.0/24"; }));
    // ... and with 10.0.0.2 gone, "isp-a only" is all the usable peers: TABLE_WEIGHT.
    CHECK(std::any_of(dl.rules.begin(), dl.rules.end(),
                      [](const Rule& r) { return r.src->str() == "192.0.2.0/24" && r.table == 20; }));
}

TEST_CASE("peer sets: more sets than tables: the extra sets are refused, the rest applied") {
    Model m;
    for (const char* a : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) m.peers.push_back(peer(a, a));
    m.addresses = {pool("192.0.2.0/24", std::vector<std::string>{"10.0.0.1"}),
                   pool("192.0.3.0/24", std::vector<std::string>{"10.0.0.2"}),
                   pool("192.0.4.0/24", std::vector<std::string>{"10.0.0.3"})};
    Settings s;
    s.peer_set_first = 100;
    s.peer_set_last = 101;
    const auto d = desired_state(m, s);
    CHECK(strs(d.rules) == std::vector<std::string>{"priority 20 from 192.0.2.0/24 lookup 100 proto 245",
                                                    "priority 20 from 192.0.3.0/24 lookup 101 proto 245"});
    CHECK(mentions(d.diagnostics, "peer set 10.0.0.3 1 pool CIDR(s) not routed: no free table in PEER_SET_TABLES"));
}

TEST_CASE("peer set tables: stable assignment, lowest free table for new sets") {
    const TableSet range{20, 100, 103};
    const PeerSetRequest a{{addr("10.0.0.1")}, {pfx("192.0.2.0/24"), pfx("192.0.3.0/24")}};
    const PeerSetRequest b{{addr("10.0.0.2")}, {pfx("198.51.100.0/24")}};
    const PeerSetRequest c{{addr("10.0.0.3")}, {pfx("203.0.113.0/24")}};

    CHECK(assign_peer_set_tables({a, b, c}, {}, range) == std::vector<std::uint32_t>{100, 101, 102});
    // b kept its table 103 (recovered from the kernel, say); the new ones fill from the bottom.
    CHECK(assign_peer_set_tables({a, b, c}, {{pfx("198.51.100.0/24"), 103}}, range) ==
          std::vector<std::uint32_t>{100, 103, 101});
    // A set that disappears frees its table; the others keep theirs.
    const TablePlacement before{{pfx("192.0.2.0/24"), 100},
                                {pfx("192.0.3.0/24"), 100},
                                {pfx("198.51.100.0/24"), 101},
                                {pfx("203.0.113.0/24"), 102}};
    CHECK(assign_peer_set_tables({a, c}, before, range) == std::vector<std::uint32_t>{100, 102});
    // A pool of a moves to c: c keeps 102; a (most of its CIDRs in 100) keeps 100.
    const PeerSetRequest a2{{addr("10.0.0.1")}, {pfx("192.0.2.0/24")}};
    const PeerSetRequest c2{{addr("10.0.0.3")}, {pfx("192.0.3.0/24"), pfx("203.0.113.0/24")}};
    CHECK(assign_peer_set_tables({a2, c2}, before, range) == std::vector<std::uint32_t>{100, 102});
    // Two sets claiming one table: the one with more CIDRs there wins, the other gets the lowest free.
    const TablePlacement shared{{pfx("192.0.2.0/24"), 101}, {pfx("192.0.3.0/24"), 101}, {pfx("198.51.100.0/24"), 101}};
    CHECK(assign_peer_set_tables({a, b}, shared, range) == std::vector<std::uint32_t>{101, 100});
    // Tables outside the range (TABLE_WEIGHT, a foreign one) are never taken over.
    CHECK(assign_peer_set_tables({b}, {{pfx("198.51.100.0/24"), 20}}, range) == std::vector<std::uint32_t>{100});
    CHECK(assign_peer_set_tables({b}, {{pfx("198.51.100.0/24"), 500}}, range) == std::vector<std::uint32_t>{100});
    // Exhausted: 0 for the sets left over.
    CHECK(assign_peer_set_tables({a, b, c}, {}, TableSet{20, 100, 101}) == std::vector<std::uint32_t>{100, 101, 0});
    CHECK(assign_peer_set_tables({a}, {}, TableSet{20, 1, 0}) == std::vector<std::uint32_t>{0});
}

TEST_CASE("peer set tables: desired state keeps a set's table across changes and restarts") {
    Model m = two_isps();
    const auto first = desired_state(m, Settings{});
    // As recovered from the kernel at start, with isp-b's set on 30007 (written by an earlier run).
    std::vector<Rule> kernel = first.rules;
    for (Rule& r : kernel)
        if (r.table == 30002) r.table = 30007;
    Rule foreign = kernel[0];
    foreign.protocol = 4;  // not ours: never a placement
    foreign.src = pfx("203.0.113.0/24");
    foreign.table = 30003;
    kernel.push_back(foreign);
    std::vector<const Rule*> view;
    for (const Rule& r : kernel) view.push_back(&r);
    const auto placed = placement_of(view, Settings{}.tables(), kOurProtocol);
    CHECK(placed == TablePlacement{{pfx("192.0.2.0/24"), 30001}, {pfx("198.51.100.0/24"), 30007}});
    const auto restarted = desired_state(m, Settings{}, {}, nullptr, placed);
    CHECK(strs(restarted.rules) == std::vector<std::string>{"priority 20 from 192.0.2.0/24 lookup 30001 proto 245",
                                                            "priority 20 from 198.51.100.0/24 lookup 30007 proto 245",
                                                            "priority 20 from 203.0.113.0/24 lookup 20 proto 245"});
    // isp-a's pool goes: isp-b's set keeps 30007.
    m.addresses.erase(m.addresses.begin());
    const auto later = desired_state(m, Settings{}, {}, nullptr, placed);
    CHECK(strs(later.rules) == std::vector<std::string>{"priority 20 from 198.51.100.0/24 lookup 30007 proto 245",
                                                        "priority 20 from 203.0.113.0/24 lookup 20 proto 245"});
}

TEST_CASE("PEER_SET_TABLES: parsed and refused") {
    auto ok = parse_peer_set_tables("30001-30064", 20);
    REQUIRE(ok);
    CHECK(*ok.value == TableSet{20, 30001, 30064});
    CHECK(ok.value->contains(20));
    CHECK(ok.value->contains(30064));
    CHECK(!ok.value->contains(30065));
    CHECK(!ok.value->contains(254));
    CHECK(ok.value->str() == "20, 30001-30064");
    CHECK(parse_peer_set_tables("7-7", 20));
    for (const char* bad : {"", "30001", "a-b", "-5", "5-", "30064-30001", "1-2000", "0-10", "250-260", "10-30",
                            "4294967295-4294967296", "1 - 2"}) {
        INFO(bad);
        CHECK(!parse_peer_set_tables(bad, 20));
    }
    CHECK(parse_peer_set_tables("10-30", 20).error.find("TABLE_WEIGHT 20") != std::string::npos);
    CHECK(parse_peer_set_tables("250-260", 20).error.find("reserved table 252") != std::string::npos);
    CHECK(parse_peer_set_tables("30064-30001", 20).error.find("reversed") != std::string::npos);
}

TEST_CASE("plan over several tables: each table's route on its own; unwanted range tables emptied") {
    const auto d = desired_state(two_isps(), Settings{});
    auto ops = plan(d, Observed{});
    // Routes first (make-before-break), then the rules.
    REQUIRE(ops.size() == 6);
    for (std::size_t i = 0; i < 3; ++i) CHECK(ops[i].kind == OpKind::ReplaceRoute);
    for (std::size_t i = 3; i < 6; ++i) CHECK(ops[i].kind == OpKind::AddRule);

    // Everything in place: nothing to do.
    Observed have{d.rules, d.routes};
    CHECK(plan(d, have).empty());

    // A route of ours left in a range table no set uses any more is stale;
    // a foreign one there is an imposter; a route of a table with a wanted
    // route but other nexthops is replaced in place.
    Route stale = d.routes[1];
    stale.table = 30009;
    Route imposter = stale;
    imposter.table = 30010;
    imposter.protocol = 3;
    Route other = d.routes[2];
    other.nexthops = {Nexthop{addr("10.0.0.9"), 0, 1}};
    have.routes = {d.routes[0], d.routes[1], other, stale, imposter};
    ops = plan(d, have);
    std::vector<std::string> got;
    for (const Op& op : ops) got.push_back(op.str());
    CHECK(got == std::vector<std::string>{
                     "replace route default table 30002 proto 245 via 10.0.0.2 (nexthops differ)",
                     "delete route default table 30009 proto 245 via 10.0.0.1 (stale)",
                     "delete route default table 30010 proto 3 via 10.0.0.1 (imposter)",
                 });
}
