// frr-k8s BGP session states: the peer text of a BGPSessionState, the
// mapping onto on-link gateways, and their precedence over neighbour entries
// in the liveness state machine (the last peer kept, flaps held back).
#include <catch2/catch.hpp>

#include "../common/values.hpp"

#include "nra/core/bgp_session.hpp"
#include "nra/core/peer_liveness.hpp"

using namespace nra;
using nra::testing::addr;
using namespace std::chrono_literals;

namespace {

using TP = PeerLiveness::Clock::time_point;
const TP t0{};

BgpSession session(const char* peer, const char* state, const char* vrf = "") {
    return BgpSession{addr(peer), vrf, state, std::string("frr-k8s-system/node1-") + peer};
}

std::vector<Nexthop> hops(std::initializer_list<const char*> gws) {
    std::vector<Nexthop> v;
    for (const char* g : gws) v.push_back(Nexthop{addr(g), 0, 100});
    return v;
}

Peer peer(const char* a, const char* vrf = "") {
    Peer p;
    p.address = addr(a);
    p.vrf = vrf;
    return p;
}

}  // namespace

TEST_CASE("bgp sessions: the peer text of a BGPSessionState") {
    CHECK(parse_session_peer("10.0.0.1") == addr("10.0.0.1"));
    CHECK(parse_session_peer("fd00::1") == addr("fd00::1"));
    // frr-k8s writes IPv6 expanded, ':' turned into '-' (a label value).
    CHECK(parse_session_peer("fd00-0000-0000-0000-0000-0000-0000-0001") == addr("fd00::1"));
    CHECK(parse_session_peer("2001-0DB8-0000-0000-0000-0000-0000-00ff") == addr("2001:db8::ff"));
    // Interface names (unnumbered BGP) and anything malformed: no address.
    for (const char* bad :
         {"", "eth0", "net1", "fd00-0000-0000-0000-0000-0000-0000-000g", "fd00-0000-0000-0000-0000-0000-0000",
          "fd00-0000-0000-0000-0000-0000-0000-0001-", "fd00_0000-0000-0000-0000-0000-0000-0001", "10.0.0.300"}) {
        INFO(bad);
        CHECK(!parse_session_peer(bad));
    }
}

TEST_CASE("bgp sessions: mapped onto on-link peers by address and VRF") {
    const BgpSessions s{session("10.0.0.1", "Established"), session("10.0.0.2", "Active"),
                        session("10.0.0.3", "Active", "red"), session("10.9.9.9", "Active"),
                        session("10.0.0.5", "Idle")};
    PeerPaths paths;
    // 10.9.9.9 is resolved recursively through 10.0.0.254: no session applies.
    paths[PeerKey{addr("10.9.9.9"), ""}] = PeerPath{{Nexthop{addr("10.0.0.254"), 3, 1}}, true, "", ""};
    paths[PeerKey{addr("10.0.0.1"), ""}] = PeerPath{{Nexthop{addr("10.0.0.1"), 3, 1}}, false, "", ""};
    const auto m = sessions_by_gateway(
        s, {peer("10.0.0.1"), peer("10.0.0.2"), peer("10.0.0.3"), peer("10.9.9.9"), peer("10.0.0.4")}, paths);
    REQUIRE(m.size() == 2);
    CHECK(m.at(addr("10.0.0.1")).established());
    CHECK(m.at(addr("10.0.0.2")).state == "Active");
    CHECK(!m.count(addr("10.0.0.3")));  // the session is in VRF red, the peer in the default VRF
    CHECK(!m.count(addr("10.9.9.9")));
    CHECK(!m.count(addr("10.0.0.4")));  // no session
    CHECK(!m.count(addr("10.0.0.5")));  // a session of no configured peer
    // The same address in two VRFs: an established session wins.
    const BgpSessions two{session("10.0.0.3", "Active"), session("10.0.0.3", "Established", "red")};
    const auto m2 = sessions_by_gateway(two, {peer("10.0.0.3"), peer("10.0.0.3", "red")}, {});
    REQUIRE(m2.size() == 1);
    CHECK(m2.at(addr("10.0.0.3")).established());
}

TEST_CASE("liveness: a BGP session decides over the neighbour entry") {
    PeerLiveness l;
    l.set_peers({{addr("10.0.0.1"), 3}, {addr("10.0.0.2"), 3}, {addr("10.0.0.3"), 3}});
    REQUIRE(!l.neighbour(addr("10.0.0.1"), 3, nud::Reachable, false, t0));
    // Not established: dead although the neighbour entry is REACHABLE.
    auto t = l.session(addr("10.0.0.1"), session("10.0.0.1", "Active"), t0);
    REQUIRE(t);
    CHECK(!t->alive);
    CHECK(t->reason ==
          "dead (BGP session not established (frr-k8s BGPSessionState frr-k8s-system/node1-10.0.0.1: "
          "Active))");
    CHECK(!l.alive(addr("10.0.0.1")));
    // The neighbour entry no longer brings it back.
    CHECK(!l.neighbour(addr("10.0.0.1"), 3, nud::Reachable, false, t0 + 1s));
    CHECK(!l.alive(addr("10.0.0.1")));
    // Established: alive although the neighbour entry is FAILED.
    REQUIRE(!l.session(addr("10.0.0.2"), session("10.0.0.2", "Established"), t0));
    CHECK(!l.neighbour(addr("10.0.0.2"), 3, nud::Failed, false, t0 + 1s));
    CHECK(l.alive(addr("10.0.0.2")));
    auto back = l.session(addr("10.0.0.1"), session("10.0.0.1", "Established"), t0 + 2s);
    REQUIRE(back);
    CHECK(back->alive);
    CHECK(back->reason.find("BGP session established") != std::string::npos);
    // A repeated state is no transition.
    CHECK(!l.session(addr("10.0.0.1"), session("10.0.0.1", "Established"), t0 + 3s));
    // A link down still takes an established peer out.
    auto down = l.link(3, false, t0 + 4s);
    CHECK(down.size() == 3);
    CHECK(l.dead().size() == 3);
    auto up = l.link(3, true, t0 + 5s);
    CHECK(up.size() == 3);
    // Session state gone: the neighbour entry decides again.
    REQUIRE(!l.session(addr("10.0.0.2"), session("10.0.0.2", "Established"), t0 + 6s));
    REQUIRE(!l.neighbour(addr("10.0.0.2"), 3, nud::Failed, false, t0 + 6s));
    auto gone = l.session(addr("10.0.0.2"), std::nullopt, t0 + 7s);
    REQUIRE(gone);
    CHECK(!gone->alive);
    CHECK(gone->reason.find("no longer known") != std::string::npos);
    // Unknown peers and unknown-to-unknown: nothing.
    CHECK(!l.session(addr("10.0.0.9"), session("10.0.0.9", "Active"), t0 + 8s));
    CHECK(!l.session(addr("10.0.0.3"), std::nullopt, t0 + 8s));
}

TEST_CASE("liveness: sessions down keep the last peer and are flap-limited") {
    PeerLiveness l;
    l.set_peers({{addr("10.0.0.1"), 3}, {addr("10.0.0.2"), 3}});
    REQUIRE(l.session(addr("10.0.0.1"), session("10.0.0.1", "Connect"), t0));
    CHECK(l.filter(hops({"10.0.0.1", "10.0.0.2"})) == std::vector<Nexthop>{Nexthop{addr("10.0.0.2"), 0, 1}});
    REQUIRE(l.session(addr("10.0.0.2"), session("10.0.0.2", "Idle"), t0));
    // Both down: the route keeps its current peer (never the last removed).
    CHECK(l.filter(hops({"10.0.0.1", "10.0.0.2"}), {addr("10.0.0.2")}) ==
          std::vector<Nexthop>{Nexthop{addr("10.0.0.2"), 0, 1}});
    // Flapping: after kMaxFlaps comebacks within the window, the next waits.
    TP t = t0 + 1s;
    for (int i = 0; i < PeerLiveness::kMaxFlaps; ++i) {
        REQUIRE(l.session(addr("10.0.0.1"), session("10.0.0.1", "Established"), t));
        REQUIRE(l.session(addr("10.0.0.1"), session("10.0.0.1", "Active"), t + 1s));
        t += 2s;
    }
    CHECK(!l.session(addr("10.0.0.1"), session("10.0.0.1", "Established"), t));
    CHECK(!l.alive(addr("10.0.0.1")));
    REQUIRE(l.pending_until());
    CHECK(*l.pending_until() == t + PeerLiveness::kFlapHold);
    auto held = l.tick(t + PeerLiveness::kFlapHold);
    REQUIRE(held.size() == 1);
    CHECK(held[0].alive);
}

// ---- the Kubernetes decoder ------------------------------------------------

#include "nra/kube/objects.hpp"

namespace {

std::optional<nra::kube::KubeItem> decode_session(const std::string& json, std::string& error) {
    static simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(!parser.parse(json).get(doc));
    nra::kube::ObjectMeta m;
    REQUIRE(nra::kube::decode_meta(doc, m, error));
    return nra::kube::decode_item(nra::kube::Kind::BgpSessionState, doc, m, error);
}

}  // namespace

TEST_CASE("bgp sessions: BGPSessionState decoded from its status, labels as the fallback") {
    using nra::kube::SessionStateInfo;
    std::string error;
    // As frr-k8s writes it.
    auto a = decode_session(R"({"apiVersion":"frrk8s.metallb.io/v1beta1","kind":"BGPSessionState",
        "metadata":{"name":"node1-abcde","namespace":"frr-k8s-system","resourceVersion":"7",
          "labels":{"frrk8s.metallb.io/node":"node1","frrk8s.metallb.io/peer":"fd00-0000-0000-0000-0000-0000-0000-0001",
                    "frrk8s.metallb.io/vrf":""}},
        "spec":{},
        "status":{"bgpStatus":"Active","bfdStatus":"N/A","node":"node1",
                  "peer":"fd00-0000-0000-0000-0000-0000-0000-0001","vrf":""}})",
                            error);
    REQUIRE(a);
    const auto& x = std::get<SessionStateInfo>(*a);
    CHECK(x.ns == "frr-k8s-system");
    CHECK(x.name == "node1-abcde");
    CHECK(x.node == "node1");
    CHECK(x.bgp_status == "Active");
    CHECK(parse_session_peer(x.peer) == addr("fd00::1"));
    CHECK(x.vrf.empty());
    // Status not written yet: node, peer and VRF from the labels, no state.
    auto b = decode_session(R"({"metadata":{"name":"n","namespace":"ns","labels":{"frrk8s.metallb.io/node":"node1",
        "frrk8s.metallb.io/peer":"10.0.0.1","frrk8s.metallb.io/vrf":"red"}}})",
                            error);
    REQUIRE(b);
    const auto& y = std::get<SessionStateInfo>(*b);
    CHECK(y.node == "node1");
    CHECK(y.peer == "10.0.0.1");
    CHECK(y.vrf == "red");
    CHECK(y.bgp_status.empty());
    // A status change is a change; the same status is not (a MODIFIED touching nothing we read).
    auto c = decode_session(R"({"metadata":{"name":"n","namespace":"ns","labels":{"frrk8s.metallb.io/node":"node1",
        "frrk8s.metallb.io/peer":"10.0.0.1","frrk8s.metallb.io/vrf":"red"}},"status":{"bgpStatus":"Established"}})",
                            error);
    REQUIRE(c);
    CHECK(!nra::kube::same_item(*b, *c));
    CHECK(nra::kube::same_item(*c, *c));
    // Malformed: named errors, never a crash.
    error.clear();
    CHECK(!decode_session(R"({"metadata":{"name":"n"},"status":"Established"})", error));
    CHECK(error == "status is not an object");
    error.clear();
    CHECK(!decode_session(R"({"metadata":{"name":"n"},"status":{"bgpStatus":7}})", error));
    CHECK(error.find("status.bgpStatus") != std::string::npos);
}
