// Kernel-level tests of nra::nl::Rtnl against the real kernel, in the
// network namespace main.cpp creates (a veth pair gives gateways).
// Only tests may shell out to `ip`; it is the independent witness here.
#include <catch2/catch.hpp>

#include "../common/values.hpp"

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "nra/netlink/rtnl.hpp"

using namespace nra;
using nra::nl::Rtnl;

namespace {

void sh(const std::string& cmd) {
    int rc = std::system(cmd.c_str());
    if (rc != 0) FAIL("command failed (" << rc << "): " << cmd);
}

std::string capture(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

// Lines of `cmd` output (for counting `ip` results).
std::size_t count_lines(const std::string& cmd) {
    std::string out = capture(cmd);
    return static_cast<std::size_t>(std::count(out.begin(), out.end(), '\n'));
}

// Number of objects in an `ip -j` array.
std::size_t json_count(const std::string& cmd) {
    std::string out = capture(cmd);
    std::size_t n = 0, depth = 0;
    for (char c : out) {
        if (c == '{' && depth++ == 0) ++n;
        if (c == '}') --depth;
    }
    return n;
}

using nra::testing::addr;
using nra::testing::pfx;

Rule rule(const char* from, std::uint32_t table, std::uint32_t prio) {
    Rule r;
    r.src = pfx(from);
    r.family = r.src->family();
    r.table = table;
    r.priority = prio;
    r.protocol = kOurProtocol;
    return r;
}

Route route(const char* dst, std::uint32_t table, std::vector<std::pair<const char*, std::uint16_t>> hops,
            std::uint32_t metric = 0) {
    Route r;
    r.dst = pfx(dst);
    r.family = r.dst.family();
    r.src.addr.family = r.family;
    r.table = table;
    // IPv6 stores metric 0 as 1024 (IP6_RT_PRIO_USER).
    r.priority = metric == 0 && r.family == Family::V6 ? 1024 : metric;
    r.protocol = kOurProtocol;
    for (auto& [gw, w] : hops) r.nexthops.push_back(Nexthop{addr(gw), 0, w});
    std::sort(r.nexthops.begin(), r.nexthops.end());
    return r;
}

// Routes as read back carry ifindexes the kernel resolved; compare without.
Route strip(Route r) {
    r.oif = 0;
    for (auto& nh : r.nexthops) nh.ifindex = 0;
    return r;
}

Op op(OpKind k, Rule r) { return Op{k, std::move(r), Reason::Missing}; }
Op op(OpKind k, Route r) { return Op{k, std::move(r), Reason::Missing}; }

void apply_ok(Rtnl& nl, const std::vector<Op>& ops) {
    auto res = nl.apply(ops);
    REQUIRE(res.size() == ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
        INFO(ops[i].str() << ": " << res[i].error << " " << res[i].ext_ack);
        REQUIRE(res[i].error == 0);
    }
}

Observed dump_ok(Rtnl& nl, std::uint32_t table) {
    auto d = nl.dump(table);
    INFO(d.error);
    REQUIRE(d);
    return *d.value;
}

std::string types_text(const std::vector<std::uint16_t>& v) {
    std::string s = "[";
    for (auto t : v) s += " " + std::to_string(t);
    return s + " ]";
}

bool has_rule(const Observed& o, const Rule& r) {
    return std::find(o.rules.begin(), o.rules.end(), r) != o.rules.end();
}

void drain(Rtnl& nl, std::vector<nl::Event>* out = nullptr) {
    nl.drain_events([&](const nl::Event& e) {
        if (out) out->push_back(e);
    });
}

}  // namespace

TEST_CASE("a table that does not exist dumps as empty") {
    Rtnl nl;
    auto d = nl.dump(4242);
    INFO(d.error);
    REQUIRE(d);
    CHECK(d.value->rules.empty());
    CHECK(d.value->routes.empty());
}

TEST_CASE("rules of both families: add, read back, delete; benign EEXIST/ENOENT") {
    Rtnl nl;
    for (std::uint32_t table : {100u, 1000u}) {
        Rule r4 = rule("10.20.0.0/16", table, 3000);
        Rule r6 = rule("2001:db8:20::/48", table, 3000);
        apply_ok(nl, {op(OpKind::AddRule, r4), op(OpKind::AddRule, r6)});
        auto o = dump_ok(nl, table);
        REQUIRE(o.rules.size() == 2);
        CHECK(has_rule(o, r4));
        CHECK(has_rule(o, r6));
        CHECK(json_count("ip -j -4 rule show table " + std::to_string(table)) == 1);
        CHECK(json_count("ip -j -6 rule show table " + std::to_string(table)) == 1);
        CHECK(capture("ip -4 rule show table " + std::to_string(table))
                  .find("from 10.20.0.0/16 lookup " + std::to_string(table) + " proto 245") != std::string::npos);

        // Adding again is EEXIST -> success, and does not duplicate.
        apply_ok(nl, {op(OpKind::AddRule, r4), op(OpKind::AddRule, r6)});
        CHECK(dump_ok(nl, table).rules.size() == 2);

        apply_ok(nl, {op(OpKind::DelRule, r4), op(OpKind::DelRule, r6)});
        CHECK(dump_ok(nl, table).rules.empty());
        // Deleting again is ENOENT -> success.
        apply_ok(nl, {op(OpKind::DelRule, r4), op(OpKind::DelRule, r6)});
        CHECK(json_count("ip -j rule show table " + std::to_string(table)) == 0);
    }
}

TEST_CASE("every rule field survives the kernel") {
    Rtnl nl;
    Rule r = rule("10.30.0.0/16", 1000, 500);
    r.dst = pfx("10.31.0.0/24");
    r.tos = 0x10;
    r.flags = 0x2;  // FIB_RULE_INVERT
    r.fwmark = 0x10;
    r.fwmask = 0xff;
    r.iifname = "veth0";
    r.oifname = "veth1";
    r.suppress_prefixlen = 8;
    r.suppress_ifgroup = 3;
    r.uid_range = UidRange{1000, 2000};
    r.ip_proto = 6;
    r.sport = PortRange{1000, 1999};
    r.dport = PortRange{80, 80};
    r.tun_id = 0x0102030405060708ull;
    r.flow = 0x00050006;  // realms 5/6 (IPv4 only)
    apply_ok(nl, {op(OpKind::AddRule, r)});
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.rules.size() == 1);
    INFO("sent " << r.str() << "\ngot  " << o.rules[0].str() << " unknown " << types_text(o.rules[0].unknown_attrs));
    CHECK(o.rules[0] == r);
    apply_ok(nl, {op(OpKind::DelRule, r)});
    CHECK(dump_ok(nl, 1000).rules.empty());

    Rule v6 = rule("2001:db8:30::/48", 1000, 500);
    v6.dst = pfx("2001:db8:31::/64");
    v6.fwmark = 7;
    v6.fwmask = 0xffffffff;
    v6.iifname = "veth0";
    v6.ip_proto = 17;
    v6.dport = PortRange{53, 53};
    v6.uid_range = UidRange{0, 10};
    apply_ok(nl, {op(OpKind::AddRule, v6)});
    o = dump_ok(nl, 1000);
    REQUIRE(o.rules.size() == 1);
    CHECK(o.rules[0] == v6);
    apply_ok(nl, {op(OpKind::DelRule, v6)});
    CHECK(dump_ok(nl, 1000).rules.empty());
}

TEST_CASE("a kernel rule with fwmark and no mask reads back with mask 0xffffffff") {
    Rtnl nl;
    sh("ip rule add from 10.40.0.0/16 fwmark 0x5 lookup 1000 priority 600");
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.rules.size() == 1);
    CHECK(o.rules[0].fwmark == 5);
    CHECK(o.rules[0].fwmask == 0xffffffff);
    CHECK(o.rules[0].protocol == 0);  // iproute2 6.1 sends no FRA_PROTOCOL
    apply_ok(nl, {op(OpKind::DelRule, o.rules[0])});
    CHECK(dump_ok(nl, 1000).rules.empty());
}

TEST_CASE("rule delete is precise: a near-identical rule stays") {
    Rtnl nl;
    Rule base = rule("10.50.0.0/16", 1000, 700);
    base.tos = 0x10;
    base.iifname = "veth0";
    base.fwmark = 0x10;
    base.fwmask = 0xff;

    struct Variant {
        const char* name;
        void (*tweak)(Rule&);
    };
    const Variant variants[] = {
        {"tos", [](Rule& r) { r.tos = 0x08; }},
        {"iif", [](Rule& r) { r.iifname = "veth1"; }},
        {"fwmark", [](Rule& r) { r.fwmark = 0x20; }},
        {"fwmask", [](Rule& r) { r.fwmask = 0xf0; }},
        {"src", [](Rule& r) { r.src = pfx("10.51.0.0/16"); }},
        {"protocol", [](Rule& r) { r.protocol = 4; }},
        {"oif", [](Rule& r) { r.oifname = "veth1"; }},
        {"dport",
         [](Rule& r) {
             r.ip_proto = 6;
             r.dport = PortRange{80, 80};
         }},
    };
    for (const auto& v : variants) {
        SECTION(v.name) {
            Rule other = base;
            v.tweak(other);
            REQUIRE(other != base);
            apply_ok(nl, {op(OpKind::AddRule, base), op(OpKind::AddRule, other)});
            REQUIRE(dump_ok(nl, 1000).rules.size() == 2);
            // Delete `other`: `base` must stay, whatever order they are in.
            apply_ok(nl, {op(OpKind::DelRule, other)});
            auto o = dump_ok(nl, 1000);
            INFO("variant " << v.name);
            REQUIRE(o.rules.size() == 1);
            CHECK(o.rules[0] == base);
            // And the other way round.
            apply_ok(nl, {op(OpKind::AddRule, other), op(OpKind::DelRule, base)});
            o = dump_ok(nl, 1000);
            REQUIRE(o.rules.size() == 1);
            CHECK(o.rules[0] == other);
            apply_ok(nl, {op(OpKind::DelRule, other)});
            CHECK(dump_ok(nl, 1000).rules.empty());
        }
    }
}

// Kernel quirks (6.18) the agent has to live with; these tests pin them so a
// change of behaviour shows up here.
TEST_CASE("quirk: FIB_RULE_INVERT is ignored by the EXCL check and by delete") {
    Rtnl nl;
    Rule plain = rule("10.52.0.0/16", 1000, 710);
    Rule inverted = plain;
    inverted.flags = 0x2;
    apply_ok(nl, {op(OpKind::AddRule, inverted)});
    auto res = nl.apply({op(OpKind::AddRule, plain)});  // EEXIST, mapped to success
    CHECK(res[0].error == 0);
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.rules.size() == 1);
    CHECK(o.rules[0] == inverted);               // the plain rule was NOT added
    apply_ok(nl, {op(OpKind::DelRule, plain)});  // deletes the inverted one
    CHECK(dump_ok(nl, 1000).rules.empty());
}

TEST_CASE("quirk: zero tos / no source in a request is a wildcard for EXCL and delete") {
    Rtnl nl;
    Rule with_tos = rule("10.53.0.0/16", 1000, 720);
    with_tos.tos = 0x10;
    Rule plain = rule("10.53.0.0/16", 1000, 720);
    apply_ok(nl, {op(OpKind::AddRule, with_tos)});
    auto res = nl.apply({op(OpKind::AddRule, plain)});
    CHECK(res[0].error == 0);  // EEXIST: the tos rule matched the wildcard
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.rules.size() == 1);
    CHECK(o.rules[0] == with_tos);
    // The precise way round works: the more specific rule can coexist when added second.
    apply_ok(nl, {op(OpKind::DelRule, with_tos), op(OpKind::AddRule, plain), op(OpKind::AddRule, with_tos)});
    o = dump_ok(nl, 1000);
    CHECK(o.rules.size() == 2);
    // Deleting the specific one is precise.
    apply_ok(nl, {op(OpKind::DelRule, with_tos)});
    o = dump_ok(nl, 1000);
    REQUIRE(o.rules.size() == 1);
    CHECK(o.rules[0] == plain);
    apply_ok(nl, {op(OpKind::DelRule, plain)});
    CHECK(dump_ok(nl, 1000).rules.empty());
}

TEST_CASE("EXCL add: protocol and near-identical rules") {
    Rtnl nl;
    Rule ours = rule("10.55.0.0/16", 1000, 750);
    Rule theirs = ours;
    theirs.protocol = 4;  // RTPROT_STATIC
    apply_ok(nl, {op(OpKind::AddRule, theirs)});
    auto res = nl.apply({op(OpKind::AddRule, ours)});
    REQUIRE(res.size() == 1);
    auto o = dump_ok(nl, 1000);
    // The EXCL check compares the protocol exactly: both rules exist.
    CHECK(res[0].error == 0);
    CHECK(o.rules.size() == 2);
    apply_ok(nl, {op(OpKind::DelRule, ours), op(OpKind::DelRule, theirs)});
    CHECK(dump_ok(nl, 1000).rules.empty());
}

TEST_CASE("routes of both families: replace, multipath weights, delete") {
    Rtnl nl;
    for (std::uint32_t table : {100u, 1000u}) {
        const std::string t = std::to_string(table);
        Route r4 = route("198.51.100.0/24", table, {{"192.0.2.2", 1}});
        Route r6 = route("2001:db8:100::/64", table, {{"2001:db8::2", 1}});
        apply_ok(nl, {op(OpKind::ReplaceRoute, r4), op(OpKind::ReplaceRoute, r6)});
        auto o = dump_ok(nl, table);
        REQUIRE(o.routes.size() == 2);
        for (auto& r : o.routes) CHECK((strip(r) == r4 || strip(r) == r6));
        for (auto& r : o.routes) CHECK(r.oif == if_nametoindex("veth0"));
        CHECK(json_count("ip -j -4 route show table " + t) == 1);
        CHECK(json_count("ip -j -6 route show table " + t) == 1);

        // Replace with multipath, weights 1/3.
        Route m4 = route("198.51.100.0/24", table, {{"192.0.2.2", 1}, {"192.0.2.3", 3}});
        Route m6 = route("2001:db8:100::/64", table, {{"2001:db8::2", 1}, {"2001:db8::3", 3}});
        apply_ok(nl, {op(OpKind::ReplaceRoute, m4), op(OpKind::ReplaceRoute, m6)});
        o = dump_ok(nl, table);
        REQUIRE(o.routes.size() == 2);
        for (auto& r : o.routes) {
            INFO(r.str());
            CHECK((strip(r) == m4 || strip(r) == m6));
        }
        CHECK(capture("ip -4 route show table " + t).find("weight 3") != std::string::npos);
        CHECK(capture("ip -6 route show table " + t).find("weight 3") != std::string::npos);

        // Replace the multipath route by a different one: 3 hops, new weights.
        Route n6 = route("2001:db8:100::/64", table, {{"2001:db8::2", 2}, {"2001:db8::3", 1}, {"2001:db8::4", 5}});
        Route n4 = route("198.51.100.0/24", table, {{"192.0.2.4", 2}, {"192.0.2.3", 1}, {"192.0.2.2", 5}});
        apply_ok(nl, {op(OpKind::ReplaceRoute, n4), op(OpKind::ReplaceRoute, n6)});
        o = dump_ok(nl, table);
        REQUIRE(o.routes.size() == 2);
        for (auto& r : o.routes) {
            INFO(r.str());
            CHECK((strip(r) == n4 || strip(r) == n6));
        }
        // Back to single path.
        apply_ok(nl, {op(OpKind::ReplaceRoute, r4), op(OpKind::ReplaceRoute, r6)});
        o = dump_ok(nl, table);
        REQUIRE(o.routes.size() == 2);
        for (auto& r : o.routes) CHECK((strip(r) == r4 || strip(r) == r6));

        // Delete with what the dump returned.
        std::vector<Op> dels;
        for (auto& r : o.routes) dels.push_back(op(OpKind::DelRoute, r));
        apply_ok(nl, dels);
        CHECK(dump_ok(nl, table).routes.empty());
        apply_ok(nl, dels);  // ENOENT/ESRCH -> success
        CHECK(json_count("ip -j -4 route show table " + t) == 0);
        CHECK(json_count("ip -j -6 route show table " + t) == 0);
    }
}

TEST_CASE("route metric is part of the key; delete uses it") {
    Rtnl nl;
    Route a = route("198.51.100.0/24", 1000, {{"192.0.2.2", 1}}, 10);
    Route b = route("198.51.100.0/24", 1000, {{"192.0.2.3", 1}}, 20);
    Route a6 = route("2001:db8:100::/64", 1000, {{"2001:db8::2", 1}}, 10);
    Route b6 = route("2001:db8:100::/64", 1000, {{"2001:db8::3", 1}}, 20);
    apply_ok(nl, {op(OpKind::ReplaceRoute, a), op(OpKind::ReplaceRoute, b), op(OpKind::ReplaceRoute, a6),
                  op(OpKind::ReplaceRoute, b6)});
    REQUIRE(dump_ok(nl, 1000).routes.size() == 4);
    apply_ok(nl, {op(OpKind::DelRoute, b), op(OpKind::DelRoute, a6)});
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 2);
    for (auto& r : o.routes) CHECK((strip(r) == a || strip(r) == b6));
    apply_ok(nl, {op(OpKind::DelRoute, a), op(OpKind::DelRoute, b6)});
    CHECK(dump_ok(nl, 1000).routes.empty());
}

TEST_CASE("IPv4: delete is precise among routes with the same key") {
    Rtnl nl;
    Route ours = route("203.0.113.0/24", 1000, {{"192.0.2.2", 1}, {"192.0.2.3", 1}});
    apply_ok(nl, {op(OpKind::ReplaceRoute, ours)});
    // Same key (table, dst, tos, metric), other nexthop and protocol.
    sh("ip route append 203.0.113.0/24 via 192.0.2.4 table 1000 proto static");
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 2);
    apply_ok(nl, {op(OpKind::DelRoute, ours)});
    o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 1);
    CHECK(o.routes[0].protocol == 4);
    REQUIRE(o.routes[0].nexthops.size() == 1);
    CHECK(o.routes[0].nexthops[0].gateway == addr("192.0.2.4"));
    apply_ok(nl, {op(OpKind::DelRoute, o.routes[0])});
    CHECK(dump_ok(nl, 1000).routes.empty());
}

TEST_CASE("IPv6: deleting a multipath route removes every hop, also one added meanwhile") {
    Rtnl nl;
    Route m = route("2001:db8:200::/64", 1000, {{"2001:db8::2", 1}, {"2001:db8::3", 2}});
    apply_ok(nl, {op(OpKind::ReplaceRoute, m)});
    sh("ip -6 route append 2001:db8:200::/64 via 2001:db8::4 table 1000 proto 245");
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 1);
    CHECK(o.routes[0].nexthops.size() == 3);
    apply_ok(nl, {op(OpKind::DelRoute, m)});  // the stale view: 2 hops
    CHECK(dump_ok(nl, 1000).routes.empty());
    CHECK(json_count("ip -j -6 route show table 1000") == 0);
}

TEST_CASE("IPv6: deleting a single-path route also removes a hop appended meanwhile; other metrics stay") {
    Rtnl nl;
    Route single = route("2001:db8:210::/64", 1000, {{"2001:db8::2", 1}});
    Route other_metric = route("2001:db8:210::/64", 1000, {{"2001:db8::3", 1}}, 50);
    apply_ok(nl, {op(OpKind::ReplaceRoute, single), op(OpKind::ReplaceRoute, other_metric)});
    sh("ip -6 route append 2001:db8:210::/64 via 2001:db8::4 table 1000 proto 245 metric 1024");
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 2);
    apply_ok(nl, {op(OpKind::DelRoute, single)});
    o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 1);
    CHECK(strip(o.routes[0]) == other_metric);
    apply_ok(nl, {op(OpKind::DelRoute, other_metric)});
    CHECK(dump_ok(nl, 1000).routes.empty());
}

TEST_CASE("rules and routes of other tables are never returned") {
    Rtnl nl;
    sh("ip rule add from 10.60.0.0/16 lookup 1001 priority 800");
    sh("ip -6 rule add from 2001:db8:60::/48 lookup 1001 priority 800");
    sh("ip rule add from 10.61.0.0/16 lookup main priority 801");
    sh("ip route add 198.51.100.0/24 via 192.0.2.2 table 1001");
    sh("ip -6 route add 2001:db8:300::/64 via 2001:db8::2 table 1001");
    sh("ip route add 198.51.101.0/24 via 192.0.2.2");
    Rule mine = rule("10.62.0.0/16", 1000, 802);
    Route mr = route("198.51.102.0/24", 1000, {{"192.0.2.3", 1}});
    apply_ok(nl, {op(OpKind::AddRule, mine), op(OpKind::ReplaceRoute, mr)});
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.rules.size() == 1);
    CHECK(o.rules[0] == mine);
    REQUIRE(o.routes.size() == 1);
    CHECK(strip(o.routes[0]) == mr);
    auto other = dump_ok(nl, 1001);
    CHECK(other.rules.size() == 2);
    CHECK(other.routes.size() == 2);
    // main (254): routes of main only; local (255) routes are not in it.
    auto main_t = dump_ok(nl, RT_TABLE_MAIN);
    for (auto& r : main_t.routes) CHECK(r.table == RT_TABLE_MAIN);
    for (auto& r : main_t.rules) CHECK(r.table == RT_TABLE_MAIN);
    apply_ok(nl, {op(OpKind::DelRule, mine), op(OpKind::DelRoute, o.routes[0])});
    sh("ip rule del from 10.60.0.0/16 lookup 1001 priority 800");
    sh("ip -6 rule del from 2001:db8:60::/48 lookup 1001 priority 800");
    sh("ip rule del from 10.61.0.0/16 lookup main priority 801");
    sh("ip route flush table 1001; ip -6 route flush table 1001; ip route del 198.51.101.0/24");
}

TEST_CASE("events: our changes carry our portid, `ip`'s carry another") {
    Rtnl nl;
    drain(nl);
    Rule r = rule("10.70.0.0/16", 1000, 900);
    Route rt = route("2001:db8:400::/64", 1000, {{"2001:db8::2", 1}, {"2001:db8::3", 2}});
    apply_ok(nl, {op(OpKind::AddRule, r), op(OpKind::ReplaceRoute, rt)});
    std::vector<nl::Event> evs;
    drain(nl, &evs);
    bool saw_rule = false, saw_route = false;
    std::size_t route_events = 0;
    for (auto& e : evs) {
        if (e.type == nl::Event::Type::NewRule && std::get<Rule>(e.object) == r) {
            saw_rule = true;
            CHECK(e.portid == nl.request_portid());
        }
        if (e.type == nl::Event::Type::NewRoute && std::get<Route>(e.object).table == 1000) {
            ++route_events;
            CHECK(e.portid == nl.request_portid());
            if (strip(std::get<Route>(e.object)) == rt) saw_route = true;
        }
    }
    CHECK(saw_rule);
    CHECK(saw_route);
    WARN("IPv6 multipath add (2 hops) produced " << route_events << " RTM_NEWROUTE event(s)");

    evs.clear();
    sh("ip rule add from 10.71.0.0/16 lookup 1000 priority 901");
    drain(nl, &evs);
    bool saw_foreign = false;
    for (auto& e : evs) {
        if (e.type == nl::Event::Type::NewRule && std::get<Rule>(e.object).src == pfx("10.71.0.0/16")) {
            saw_foreign = true;
            CHECK(e.portid != nl.request_portid());
            CHECK(e.portid != 0);
        }
    }
    CHECK(saw_foreign);

    evs.clear();
    Route stale = rt;  // IPv6 delete of the whole route
    apply_ok(nl, {op(OpKind::DelRule, r), op(OpKind::DelRoute, stale)});
    sh("ip rule del from 10.71.0.0/16 lookup 1000 priority 901");
    drain(nl, &evs);
    std::size_t del_rules = 0, del_routes = 0;
    for (auto& e : evs) {
        if (e.type == nl::Event::Type::DelRule) ++del_rules;
        if (e.type == nl::Event::Type::DelRoute) ++del_routes;
    }
    CHECK(del_rules == 2);
    CHECK(del_routes >= 1);
    WARN("IPv6 multipath delete (2 hops) produced " << del_routes << " RTM_DELROUTE event(s)");
    CHECK(dump_ok(nl, 1000).rules.empty());
    CHECK(dump_ok(nl, 1000).routes.empty());
}

TEST_CASE("events: overrun reports ENOBUFS and the socket keeps working") {
    Rtnl nl;
    int small = 1;  // the kernel rounds this up to its minimum
    REQUIRE(setsockopt(nl.event_fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    std::vector<Op> adds, dels;
    for (std::uint32_t i = 0; i < 300; ++i) {
        Rule r = rule("10.80.0.0/16", 1000, 10000 + i);
        adds.push_back(op(OpKind::AddRule, r));
        dels.push_back(op(OpKind::DelRule, r));
    }
    apply_ok(nl, adds);
    auto d = nl.drain_events([](const nl::Event&) {});
    CHECK(d.overrun);
    CHECK_FALSE(d.error);
    apply_ok(nl, dels);
    std::size_t n = 0;
    d = nl.drain_events([&](const nl::Event&) { ++n; });
    CHECK(n > 0);  // still receiving
    CHECK(dump_ok(nl, 1000).rules.empty());
}

TEST_CASE("5,000 rules in one apply(), compared with ip -batch") {
    Rtnl nl;
    constexpr std::uint32_t kN = 5000;
    std::vector<Op> adds, dels;
    for (std::uint32_t i = 0; i < kN; ++i) {
        std::string src = "10." + std::to_string(100 + i / 256) + "." + std::to_string(i % 256) + ".0/24";
        Rule r = rule(src.c_str(), 1000, 20000 + i);
        adds.push_back(op(OpKind::AddRule, r));
        dels.push_back(op(OpKind::DelRule, r));
    }
    auto t0 = std::chrono::steady_clock::now();
    apply_ok(nl, adds);
    auto t1 = std::chrono::steady_clock::now();
    auto o = dump_ok(nl, 1000);
    auto t2 = std::chrono::steady_clock::now();
    CHECK(o.rules.size() == kN);
    CHECK(count_lines("ip rule show table 1000") == kN);
    auto t3 = std::chrono::steady_clock::now();
    apply_ok(nl, dels);
    auto t4 = std::chrono::steady_clock::now();
    CHECK(dump_ok(nl, 1000).rules.empty());

    // The same with ip -batch in table 1002.
    {
        std::ofstream f("/tmp/nra-kernel-test.batch");
        for (std::uint32_t i = 0; i < kN; ++i)
            f << "rule add from 10." << 100 + i / 256 << "." << i % 256 << ".0/24 lookup 1002 priority " << 20000 + i
              << " proto 245\n";
    }
    auto t5 = std::chrono::steady_clock::now();
    sh("ip -batch /tmp/nra-kernel-test.batch");
    auto t6 = std::chrono::steady_clock::now();
    CHECK(dump_ok(nl, 1002).rules.size() == kN);
    {
        std::ofstream f("/tmp/nra-kernel-test.batch");
        for (std::uint32_t i = 0; i < kN; ++i)
            f << "rule del from 10." << 100 + i / 256 << "." << i % 256 << ".0/24 lookup 1002 priority " << 20000 + i
              << "\n";
    }
    sh("ip -batch /tmp/nra-kernel-test.batch");
    std::remove("/tmp/nra-kernel-test.batch");
    CHECK(dump_ok(nl, 1002).rules.empty());

    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    WARN("5000 rule adds: apply() " << ms(t0, t1) << " ms, ip -batch " << ms(t5, t6) << " ms; dump of 5000 "
                                    << ms(t1, t2) << " ms; 5000 deletes " << ms(t3, t4) << " ms");
    drain(nl);
}

TEST_CASE("errors are per op, with the kernel's extended ACK text") {
    Rtnl nl;
    Rule good = rule("10.90.0.0/16", 1000, 950);
    Route bad = route("198.51.100.0/24", 1000, {{"203.0.113.1", 1}});  // gateway not on any link
    Route bad6 = route("2001:db8:900::/64", 1000, {{"2001:db8:ffff::1", 1}});
    Rule good2 = rule("10.91.0.0/16", 1000, 951);
    auto res = nl.apply({op(OpKind::AddRule, good), op(OpKind::ReplaceRoute, bad), op(OpKind::ReplaceRoute, bad6),
                         op(OpKind::AddRule, good2)});
    REQUIRE(res.size() == 4);
    CHECK(res[0].error == 0);
    CHECK(res[1].error != 0);
    CHECK_FALSE(res[1].ext_ack.empty());
    CHECK(res[2].error != 0);
    CHECK(res[3].error == 0);
    WARN("IPv4 bad gateway: " << std::strerror(res[1].error) << ": " << res[1].ext_ack
                              << "; IPv6: " << std::strerror(res[2].error) << ": " << res[2].ext_ack);
    auto o = dump_ok(nl, 1000);
    CHECK(o.rules.size() == 2);
    CHECK(o.routes.empty());
    apply_ok(nl, {op(OpKind::DelRule, good), op(OpKind::DelRule, good2)});
}

TEST_CASE("quirk: IPv6 events for a multipath route") {
    Rtnl nl;
    Route m = route("2001:db8:500::/64", 1000, {{"2001:db8::2", 1}, {"2001:db8::3", 1}});
    apply_ok(nl, {op(OpKind::ReplaceRoute, m)});
    drain(nl);
    // Replacing the hop set: one RTM_NEWROUTE with the complete new route.
    Route n = route("2001:db8:500::/64", 1000, {{"2001:db8::2", 1}, {"2001:db8::4", 2}});
    apply_ok(nl, {op(OpKind::ReplaceRoute, n)});
    std::vector<nl::Event> evs;
    drain(nl, &evs);
    REQUIRE(evs.size() == 1);
    CHECK(evs[0].type == nl::Event::Type::NewRoute);
    CHECK(strip(std::get<Route>(evs[0].object)) == n);
    // Removing one hop with `ip`: the RTM_DELROUTE carries only that hop,
    // the remaining route is not announced again. A cache that erased by
    // route key here would be wrong: re-dump (or erase per hop) instead.
    evs.clear();
    sh("ip -6 route del 2001:db8:500::/64 table 1000 via 2001:db8::4");
    drain(nl, &evs);
    REQUIRE(evs.size() == 1);
    CHECK(evs[0].type == nl::Event::Type::DelRoute);
    REQUIRE(std::get<Route>(evs[0].object).nexthops.size() == 1);
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 1);
    CHECK(o.routes[0].nexthops.size() == 1);
    apply_ok(nl, {op(OpKind::DelRoute, o.routes[0])});
    CHECK(dump_ok(nl, 1000).routes.empty());
}

namespace {

// Sends one request on a socket of its own (not the Rtnl under test) and
// returns the kernel's errno.
int raw_request(const std::vector<unsigned char>& msg) {
    mnl_socket* s = mnl_socket_open(NETLINK_ROUTE);
    REQUIRE(s);
    REQUIRE(mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) == 0);
    REQUIRE(mnl_socket_sendto(s, msg.data(), msg.size()) >= 0);
    std::vector<char> buf(8192);
    ssize_t n = mnl_socket_recvfrom(s, buf.data(), buf.size());
    mnl_socket_close(s);
    REQUIRE(n >= static_cast<ssize_t>(sizeof(nlmsghdr) + sizeof(int)));
    int err;
    std::memcpy(&err, buf.data() + sizeof(nlmsghdr), sizeof err);
    return -err;
}

// Our rule plus one selector attribute of a newer kernel, added without
// NLM_F_EXCL (as a twin next to ours).
std::vector<unsigned char> twin_of(const Rule& r, std::uint16_t type, const std::vector<std::uint32_t>& values,
                                   std::size_t value_len) {
    std::vector<unsigned char> msg(1024);
    std::size_t len =
        nl::encode_rule(msg.data(), msg.size(), RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, 1, r);
    REQUIRE(len > 0);
    auto* nlh = reinterpret_cast<nlmsghdr*>(msg.data());
    for (std::size_t k = 0; k < values.size(); ++k) {
        std::uint32_t v = value_len == 4 ? htonl(values[k]) : values[k];
        mnl_attr_put(nlh, static_cast<std::uint16_t>(type + k), value_len, &v);
    }
    msg.resize(nlh->nlmsg_len);
    return msg;
}

}  // namespace

TEST_CASE("twins with FRA_DSCP / FRA_FLOWLABEL are foreign and deleted by the kernel's own bytes") {
    Rtnl nl;
    struct Case {
        Rule ours;
        std::uint16_t type;
        std::vector<std::uint32_t> values;
        std::size_t len;
    };
    for (Case c : {Case{rule("10.40.0.0/16", 1000, 20), 25 /* FRA_DSCP */, {10}, 1},
                   Case{rule("2001:db8:40::/48", 1000, 20), 26 /* FRA_FLOWLABEL, _MASK */, {0x12345, 0xfffff}, 4}}) {
        INFO(c.ours.str());
        // Ours first, the twin after it in list order: the kernel's delete
        // takes the first match, so a delete of the twin made from decoded
        // fields only (the old codec) removed ours. (The other way round,
        // adding ours with NLM_F_EXCL next to a twin is EEXIST: the kernel
        // compares only the selectors the request carries.)
        apply_ok(nl, {op(OpKind::AddRule, c.ours)});
        REQUIRE(raw_request(twin_of(c.ours, c.type, c.values, c.len)) == 0);
        auto o = dump_ok(nl, 1000);
        REQUIRE(o.rules.size() == 2);
        const Rule* twin = nullptr;
        for (const Rule& r : o.rules) {
            if (r == c.ours) {
                CHECK(r.unknown_attrs.empty());  // ours, as the kernel reports it
                CHECK(r.raw.bytes == nullptr);
            } else {
                twin = &r;
            }
        }
        REQUIRE(twin);
        CHECK_FALSE(twin->unknown_attrs.empty());
        CHECK(twin->unknown_attrs.front() == c.type);
        REQUIRE(twin->raw.bytes);
        apply_ok(nl, {op(OpKind::DelRule, *twin)});
        o = dump_ok(nl, 1000);
        REQUIRE(o.rules.size() == 1);
        CHECK(o.rules[0] == c.ours);
        apply_ok(nl, {op(OpKind::DelRule, c.ours)});
        CHECK(dump_ok(nl, 1000).rules.empty());
    }
}

TEST_CASE("our routes as the kernel reports them carry no unknown attributes") {
    Rtnl nl;
    sh("ip addr replace 10.96.0.1/12 dev veth0");  // on-link IPv4 gateways 10.96-111.x.y
    Route v4 = route("0.0.0.0/0", 1000, {{"10.99.0.2", 1}, {"10.99.0.3", 2}});
    Route v6 = route("::/0", 1000, {{"2001:db8::2", 1}, {"2001:db8::3", 2}});
    Route s6 = route("2001:db8:77::/64", 1000, {{"2001:db8::2", 1}});
    drain(nl);
    apply_ok(nl, {op(OpKind::ReplaceRoute, v4), op(OpKind::ReplaceRoute, v6), op(OpKind::ReplaceRoute, s6)});
    std::vector<nl::Event> evs;
    drain(nl, &evs);
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 3);
    for (const Route& r : o.routes) {
        INFO(r.str() << " unknown " << types_text(r.unknown_attrs));
        CHECK(r.unknown_attrs.empty());
        CHECK(r.raw.bytes == nullptr);
    }
    for (const auto& e : evs) {
        if (auto* r = std::get_if<Route>(&e.object); r && r->table == 1000) CHECK(r->unknown_attrs.empty());
        if (auto* r = std::get_if<Rule>(&e.object); r && r->table == 1000) CHECK(r->unknown_attrs.empty());
    }
    apply_ok(nl, {op(OpKind::DelRoute, v4), op(OpKind::DelRoute, v6), op(OpKind::DelRoute, s6)});
    CHECK(dump_ok(nl, 1000).routes.empty());
}

TEST_CASE("a route using a nexthop object is deleted by key and id; the object stays") {
    Rtnl nl;
    sh("ip addr replace 10.96.0.1/12 dev veth0");  // on-link IPv4 gateways 10.96-111.x.y
    sh("ip nexthop add id 71 via " + std::string("10.99.0.4") + " dev veth0");
    sh("ip -6 nexthop add id 72 via 2001:db8::4 dev veth0");
    sh("ip route add 198.51.100.0/24 table 1000 nhid 71");
    sh("ip -6 route add 2001:db8:99::/64 table 1000 nhid 72");
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 2);
    std::vector<Op> dels;
    for (const Route& r : o.routes) {
        CHECK(r.nh_id != 0);
        dels.push_back(op(OpKind::DelRoute, r));
    }
    apply_ok(nl, dels);  // used to be EINVAL: "Nexthop specification and nexthop id are mutually exclusive"
    CHECK(dump_ok(nl, 1000).routes.empty());
    CHECK(json_count("ip -j nexthop show") == 2);
    sh("ip nexthop flush");
}

TEST_CASE("a route too large for one dumpable message is refused, nothing sent; the limit is installed and read back") {
    sh("ip addr replace 10.96.0.1/12 dev veth0");  // on-link IPv4 gateways 10.96-111.x.y
    for (Family f : {Family::V4, Family::V6}) {
        Rtnl nl;
        Route r = route(f == Family::V4 ? "0.0.0.0/0" : "::/0", 1000, {});
        for (std::size_t i = 0; i < 2400; ++i) {
            // 10.99.1.0 .. / 2001:db8::100 ..: on-link, none of them ours
            const std::size_t v = i + 0x100;
            IpAddr a = f == Family::V4 ? addr("10.99.0.0") : addr("2001:db8::");
            a.bytes[family_bytes(f) - 1] = static_cast<std::uint8_t>(v);
            a.bytes[family_bytes(f) - 2] = static_cast<std::uint8_t>(v >> 8);
            r.nexthops.push_back(Nexthop{a, 0, 1});
        }
        std::sort(r.nexthops.begin(), r.nexthops.end());
        const std::size_t max = nl::max_route_nexthops(r);
        auto res = nl.apply({op(OpKind::ReplaceRoute, r)});
        REQUIRE(res.size() == 1);
        CHECK(res[0].error == EMSGSIZE);
        CHECK(res[0].ext_ack.find("at most " + std::to_string(max) + " " + std::string(family_name(f)) + " nexthops") !=
              std::string::npos);
        CHECK(dump_ok(nl, 1000).routes.empty());  // nothing partial

        Route fits = r;
        fits.nexthops.resize(max);
        apply_ok(nl, {op(OpKind::ReplaceRoute, fits)});
        Rtnl fresh;  // a fresh socket's first dump reads it back whole
        auto d = fresh.dump(1000, false, true);
        INFO(d.error);
        REQUIRE(d);
        REQUIRE(d.value->routes.size() == 1);
        CHECK(strip(d.value->routes[0]) == fits);
        apply_ok(nl, {op(OpKind::DelRoute, fits)});
    }
}

TEST_CASE("links dump: every link with its index and name; none is a VRF here") {
    Rtnl nl;
    auto links = nl.dump_links();
    INFO(links.error);
    REQUIRE(links);
    REQUIRE(!links.value->empty());
    bool lo = false;
    for (const nl::Link& l : *links.value) {
        INFO(l.name);
        CHECK(static_cast<int>(if_nametoindex(l.name.c_str())) == l.ifindex);
        CHECK_FALSE(l.is_vrf);
        lo |= l.name == "lo" && l.ifindex == 1;
    }
    CHECK(lo);
    CHECK(links.value->size() == count_lines("ip -o link show"));
}

// ---------------------------------------------------------------- nexthop objects

namespace {

NexthopObject single(std::uint32_t id, const char* gw, std::uint32_t oif) {
    NexthopObject o;
    o.id = id;
    o.gateway = addr(gw);
    o.family = o.gateway->family == Family::V4 ? AF_INET : AF_INET6;
    o.oif = oif;
    o.protocol = kOurProtocol;
    return o;
}

NexthopObject resilient(std::uint32_t id, std::vector<NhGroupMember> members) {
    NexthopObject g;
    g.id = id;
    g.group = std::move(members);
    g.group_type = kNhGroupResilient;
    g.buckets = 64;
    g.idle_timer = 120 * kNhClockHz;
    g.unbalanced_timer = 0;
    g.protocol = kOurProtocol;
    return g;
}

std::vector<NexthopObject> nexthops_ok(Rtnl& nl) {
    auto d = nl.dump_nexthops();
    INFO(d.error);
    REQUIRE(d);
    return *d.value;
}

const NexthopObject* find_nh(const std::vector<NexthopObject>& v, std::uint32_t id) {
    for (const auto& o : v)
        if (o.id == id) return &o;
    return nullptr;
}

void apply_nh_ok(Rtnl& nl, const std::vector<NhOp>& ops) {
    auto res = nl.apply_nexthops(ops);
    REQUIRE(res.size() == ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
        INFO(ops[i].str() << ": " << res[i].error << " " << res[i].ext_ack);
        REQUIRE(res[i].error == 0);
    }
}

}  // namespace

TEST_CASE("nexthop objects: singles and a resilient group made, read back equal, replaced, deleted") {
    Rtnl nl;
    sh("ip addr replace 10.96.0.1/12 dev veth0");
    const std::uint32_t dev = if_nametoindex("veth0");
    REQUIRE(dev != 0);
    const NexthopObject a = single(4200, "10.99.0.4", dev), b = single(4201, "10.99.0.5", dev),
                        c = single(4202, "2001:db8::5", dev);
    const NexthopObject g = resilient(4300, {{4200, 1}, {4201, 3}});
    apply_nh_ok(nl, {{NhOpKind::Replace, a, Reason::Missing},
                     {NhOpKind::Replace, b, Reason::Missing},
                     {NhOpKind::Replace, c, Reason::Missing},
                     {NhOpKind::Replace, g, Reason::Missing}});
    auto got = nexthops_ok(nl);
    for (const NexthopObject* want : {&a, &b, &c, &g}) {
        const NexthopObject* o = find_nh(got, want->id);
        REQUIRE(o);
        INFO(o->str() << " vs " << want->str());
        CHECK(*o == *want);
    }
    // `ip` agrees: a resilient group of 64 buckets.
    const std::string text = capture("ip -d nexthop show id 4300");
    CHECK(text.find("type resilient buckets 64 idle_timer 120") != std::string::npos);

    // A route uses the group; replacing the group in place keeps the route.
    Route r = route("198.51.100.0/24", 1000, {});
    r.nh_id = 4300;
    apply_ok(nl, {op(OpKind::ReplaceRoute, r)});
    NexthopObject g2 = g;
    g2.group = {{4200, 1}};
    apply_nh_ok(nl, {{NhOpKind::Replace, g2, Reason::NexthopsDiffer}});
    auto again = nexthops_ok(nl);
    REQUIRE(find_nh(again, 4300));
    CHECK(*find_nh(again, 4300) == g2);
    auto o = dump_ok(nl, 1000);
    REQUIRE(o.routes.size() == 1);
    CHECK(o.routes[0].nh_id == 4300);

    // Deletes by id; an absent id is benign.
    apply_nh_ok(nl, {{NhOpKind::Del, g2, Reason::Clean},
                     {NhOpKind::Del, a, Reason::Clean},
                     {NhOpKind::Del, b, Reason::Clean},
                     {NhOpKind::Del, c, Reason::Clean},
                     {NhOpKind::Del, c, Reason::Clean}});
    CHECK(nexthops_ok(nl).empty());
    CHECK(dump_ok(nl, 1000).routes.empty());  // the kernel removed the route with its group
}

TEST_CASE("nexthop objects: foreign ones decode with what makes them foreign") {
    Rtnl nl;
    sh("ip addr replace 10.96.0.1/12 dev veth0");
    sh("ip nexthop add id 4500 via 10.99.0.6 dev veth0");  // protocol unspec
    sh("ip nexthop add id 4501 blackhole");
    sh("ip nexthop add id 4502 group 4500 type resilient buckets 8");
    sh("ip nexthop add id 4503 encap mpls 100 via 10.99.0.7 dev veth0 2>/dev/null || "
       "ip nexthop add id 4503 via 10.99.0.7 dev veth0 onlink");
    auto got = nexthops_ok(nl);
    const NexthopObject* plain = find_nh(got, 4500);
    REQUIRE(plain);
    CHECK(plain->protocol != kOurProtocol);
    CHECK(plain->unknown_attrs.empty());
    const NexthopObject* bh = find_nh(got, 4501);
    REQUIRE(bh);
    CHECK(bh->blackhole);
    const NexthopObject* grp = find_nh(got, 4502);
    REQUIRE(grp);
    CHECK(grp->group_type == kNhGroupResilient);
    CHECK(grp->buckets == 8);
    const NexthopObject* odd = find_nh(got, 4503);
    REQUIRE(odd);
    // An MPLS encapsulation is an unknown attribute; without MPLS the onlink flag differs from ours.
    CHECK((!odd->unknown_attrs.empty() || odd->flags != 0));
    sh("ip nexthop flush");
}

TEST_CASE("nexthop and neighbour events after subscribe_nexthops") {
    Rtnl nl;
    nl.subscribe_nexthops();
    drain(nl);
    sh("ip addr replace 10.96.0.1/12 dev veth0");
    const std::uint32_t dev = if_nametoindex("veth0");
    apply_nh_ok(nl, {{NhOpKind::Replace, single(4210, "10.99.0.8", dev), Reason::Missing}});
    sh("ip nexthop del id 4210");
    sh("ip neigh replace 10.99.0.9 lladdr 02:00:00:00:00:09 dev veth0 nud reachable");
    sh("ip neigh replace 10.99.0.9 dev veth0 nud failed");
    std::vector<nl::Event> ev;
    drain(nl, &ev);
    bool added = false, removed = false, reachable = false, failed = false;
    for (const auto& e : ev) {
        if (e.is_nexthop()) {
            const auto& o = std::get<NexthopObject>(e.object);
            if (o.id != 4210) continue;
            if (e.type == nl::Event::Type::NewNexthop) {
                added = true;
                CHECK(e.portid == nl.request_portid());
            } else {
                removed = true;
                CHECK(e.portid != nl.request_portid());
            }
        }
        if (e.is_neighbour() && e.neigh.dst == addr("10.99.0.9")) {
            CHECK(e.neigh.ifindex == dev);
            if (e.neigh.state & NUD_REACHABLE) reachable = true;
            if (e.neigh.state & NUD_FAILED) failed = true;
        }
    }
    CHECK(added);
    CHECK(removed);
    CHECK(reachable);
    CHECK(failed);
    auto n = nl.dump_neighbours();
    REQUIRE(n);
    bool listed = false;
    for (const auto& x : *n.value)
        if (x.dst == addr("10.99.0.9")) listed = (x.state & NUD_FAILED) != 0;
    CHECK(listed);
    sh("ip neigh del 10.99.0.9 dev veth0");
}
