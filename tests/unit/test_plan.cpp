#include <catch2/catch.hpp>

#include "nra/core/desired.hpp"

using namespace nra;

namespace {

Model model(std::vector<const char*> peers, std::vector<const char*> addrs) {
    Model m;
    for (auto p : peers) m.peers.push_back(Peer{*IpAddr::parse(p), 0, p, {}});
    for (auto a : addrs) m.addresses.push_back(AddressEntry{a, "test"});
    return m;
}

std::vector<std::string> op_strs(const std::vector<Op>& ops) {
    std::vector<std::string> out;
    for (const auto& op : ops) out.push_back(op.str());
    return out;
}

}  // namespace

TEST_CASE("desired state: one route per family with peers, one rule per aggregated CIDR") {
    Settings s;
    auto d =
        desired_state(model({"10.0.0.3", "10.0.0.1", "fd00::1", "10.0.0.1"},
                            {"192.168.57.0/24", "192.168.57.7", "192.168.58.10-192.168.58.11", "fd00:1::/64", "bogus"}),
                      s);
    REQUIRE(d.routes.size() == 2);
    CHECK(d.routes[0].str() ==
          "default table 20 proto 245 nexthop via 10.0.0.1 weight 100 nexthop via 10.0.0.3 weight 100");
    CHECK(d.routes[1].str() == "-6 default table 20 metric 1024 proto 245 via fd00::1");
    REQUIRE(d.rules.size() == 3);
    CHECK(d.rules[0].str() == "priority 20 from 192.168.57.0/24 lookup 20 proto 245");
    CHECK(d.rules[1].str() == "priority 20 from 192.168.58.10/31 lookup 20 proto 245");
    CHECK(d.rules[2].str() == "-6 priority 20 from fd00:1::/64 lookup 20 proto 245");
    REQUIRE(d.diagnostics.size() == 1);
    CHECK(d.diagnostics[0].what.find("bogus") != std::string::npos);
}

TEST_CASE("desired state: no peers of a family means nothing for that family") {
    Settings s;
    auto d = desired_state(model({"10.0.0.1"}, {"192.168.57.0/24", "fd00:1::/64"}), s);
    CHECK(d.routes.size() == 1);
    CHECK(d.rules.size() == 1);
    REQUIRE(d.diagnostics.size() == 1);
    CHECK(d.diagnostics[0].what.find("no inet6 peer") != std::string::npos);
    auto empty = desired_state(model({}, {"192.168.57.0/24"}), s);
    CHECK(empty.routes.empty());
    CHECK(empty.rules.empty());
}

TEST_CASE("desired state: settings flow into routes and rules") {
    Settings s;
    s.table = 1000;
    s.rule_priority = 99;
    s.peer_weight = 7;
    s.fwmark = 0x14;
    s.fwmask = 0xff;
    s.destination_v4 = *parse_prefix("10.0.0.0/8").value;
    Model m = model({"10.0.0.1", "10.0.0.2"}, {"192.168.57.0/24"});
    m.peers[1].weight = 200;  // metallb-nra/weight
    m.peers.push_back(Peer{*IpAddr::parse("fe80::1"), 0, "ll", {}});
    auto d = desired_state(m, s);
    REQUIRE(d.routes.size() == 1);
    CHECK(d.routes[0].str() ==
          "10.0.0.0/8 table 1000 proto 245 nexthop via 10.0.0.1 weight 7 nexthop via 10.0.0.2 weight 200");
    REQUIRE(d.rules.size() == 1);
    CHECK(d.rules[0].str() == "priority 99 from 192.168.57.0/24 fwmark 0x14/0xff lookup 1000 proto 245");
    CHECK(d.diagnostics.size() == 1);  // link-local peer
}

TEST_CASE("plan on an empty kernel: route first, then rules") {
    Settings s;
    auto d = desired_state(model({"10.0.0.1", "fd00::1"}, {"192.168.57.0/24", "fd00:1::/64"}), s);
    auto ops = plan(d, Observed{});
    CHECK(op_strs(ops) == std::vector<std::string>{
                              "replace route default table 20 proto 245 via 10.0.0.1 (missing)",
                              "replace route -6 default table 20 metric 1024 proto 245 via fd00::1 (missing)",
                              "add rule priority 20 from 192.168.57.0/24 lookup 20 proto 245 (missing)",
                              "add rule -6 priority 20 from fd00:1::/64 lookup 20 proto 245 (missing)",
                          });
    // Applying the plan converges: nothing left to do.
    Observed after{d.rules, d.routes};
    CHECK(plan(d, after).empty());
}

TEST_CASE("plan removes imposters, duplicates and stale entries, after adding") {
    Settings s;
    auto d = desired_state(model({"10.0.0.1"}, {"192.168.57.0/24"}), s);
    Observed o{d.rules, d.routes};
    Rule with_to = d.rules[0];
    with_to.dst = *parse_prefix("8.8.8.8/32").value;
    with_to.protocol = 0;
    Rule other_prio = d.rules[0];
    other_prio.priority = 21;
    Rule with_tos = d.rules[0];
    with_tos.tos = 0x10;
    Rule with_iif = d.rules[0];
    with_iif.iifname = "eth0";
    Rule inverted = d.rules[0];
    inverted.flags = 2;
    Rule prohibit = d.rules[0];
    prohibit.action = RuleAction::Prohibit;
    Rule foreign_proto = d.rules[0];
    foreign_proto.protocol = 0;
    for (const Rule& r : {with_to, d.rules[0], other_prio, with_tos, with_iif, inverted, prohibit, foreign_proto})
        o.rules.push_back(r);
    Route extra = d.routes[0];
    extra.dst = *parse_prefix("10.0.0.0/8").value;
    extra.protocol = 3;
    o.routes.push_back(extra);
    // The desired rule for a new pool makes the add come before every delete.
    Model m2 = model({"10.0.0.1"}, {"192.168.57.0/24", "192.168.60.0/24"});
    auto d2 = desired_state(m2, s);
    auto ops = plan(d2, o);
    // The inverted rule's delete request (FIB_RULE_INVERT is not compared)
    // matches our rule first: the spare copy goes, then the last copy is
    // moved behind it before the delete that removes the inverted rule.
    CHECK(op_strs(ops) == std::vector<std::string>{
                              "add rule priority 20 from 192.168.60.0/24 lookup 20 proto 245 (missing)",
                              "delete rule priority 20 from 192.168.57.0/24 to 8.8.8.8/32 lookup 20 proto 0 (imposter)",
                              "delete rule priority 21 from 192.168.57.0/24 lookup 20 proto 245 (stale)",
                              "delete rule priority 20 from 192.168.57.0/24 tos 0x10 lookup 20 proto 245 (stale)",
                              "delete rule priority 20 from 192.168.57.0/24 iif eth0 lookup 20 proto 245 (stale)",
                              "delete rule priority 20 not from 192.168.57.0/24 lookup 20 proto 245 (duplicate)",
                              "append rule priority 20 from 192.168.57.0/24 lookup 20 proto 245 (moved)",
                              "delete rule priority 20 not from 192.168.57.0/24 lookup 20 proto 245 (moved)",
                              "delete rule priority 20 not from 192.168.57.0/24 lookup 20 proto 245 (stale)",
                              "delete rule priority 20 from 192.168.57.0/24 prohibit 20 proto 245 (stale)",
                              "delete rule priority 20 from 192.168.57.0/24 lookup 20 proto 0 (imposter)",
                              "delete route 10.0.0.0/8 table 20 proto 3 via 10.0.0.1 (imposter)",
                          });
}

TEST_CASE("plan replaces a route whose nexthops or weights differ, without deleting it") {
    Settings s;
    auto d = desired_state(model({"10.0.0.1", "10.0.0.3"}, {}), s);
    Route old = d.routes[0];
    old.nexthops[1].weight = 5;
    old.protocol = 4;
    auto ops = plan(d, Observed{{}, {old}});
    REQUIRE(ops.size() == 1);
    CHECK(ops[0].kind == OpKind::ReplaceRoute);
    CHECK(ops[0].reason == Reason::NexthopsDiffer);
    // ifindex is informational: a kernel-filled device does not make it differ.
    Route same = d.routes[0];
    for (auto& nh : same.nexthops) nh.ifindex = 7;
    CHECK(plan(d, Observed{{}, {same}}).empty());
}

TEST_CASE("plan: peers gone means rules then routes removed") {
    Settings s;
    auto d = desired_state(model({"10.0.0.1"}, {"192.168.57.0/24"}), s);
    auto none = desired_state(model({}, {"192.168.57.0/24"}), s);
    auto ops = plan(none, Observed{d.rules, d.routes});
    REQUIRE(ops.size() == 2);
    CHECK(ops[0].kind == OpKind::DelRule);
    CHECK(ops[1].kind == OpKind::DelRoute);
    CHECK(ops[1].reason == Reason::NoPeers);
}

TEST_CASE("plan_clean deletes rules before routes") {
    Settings s;
    auto d = desired_state(model({"10.0.0.1", "fd00::1"}, {"192.168.57.0/24", "fd00:1::/64"}), s);
    auto ops = plan_clean(Observed{d.rules, d.routes});
    REQUIRE(ops.size() == 4);
    CHECK(ops[0].kind == OpKind::DelRule);
    CHECK(ops[1].kind == OpKind::DelRule);
    CHECK(ops[2].kind == OpKind::DelRoute);
    CHECK(ops[3].kind == OpKind::DelRoute);
}

TEST_CASE("thousands of pools plan in one pass") {
    Settings s;
    Model m = model({"10.0.0.1"}, {});
    std::vector<std::string> texts;
    for (int i = 0; i < 2000; ++i)
        texts.push_back("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/25");
    for (auto& t : texts) m.addresses.push_back(AddressEntry{t, "gen"});
    auto d = desired_state(m, s);
    CHECK(d.rules.size() == 2000);
    auto ops = plan(d, Observed{});
    CHECK(ops.size() == 2001);
    CHECK(plan(d, Observed{d.rules, d.routes}).empty());
}
