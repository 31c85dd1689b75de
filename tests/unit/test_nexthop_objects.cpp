// Nexthop objects in the core: layout (post-pass over desired routes),
// stable id assignment, plan order and imposters; the codec's round trip.
#include <catch2/catch.hpp>

#include "../common/values.hpp"

#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cstring>

#include "nra/core/nexthop_objects.hpp"
#include "nra/netlink/rtnl.hpp"

using namespace nra;
using nra::testing::addr;
using nra::testing::pfx;

namespace {

Route multipath(Family f, std::uint32_t table, std::vector<std::pair<const char*, std::uint16_t>> hops) {
    Route r;
    r.family = f;
    r.table = table;
    r.dst = f == Family::V4 ? pfx("0.0.0.0/0") : pfx("::/0");
    r.src = Prefix{IpAddr{f, {}}, 0};
    r.priority = f == Family::V6 ? 1024 : 0;
    r.protocol = kOurProtocol;
    for (auto& [gw, w] : hops) r.nexthops.push_back(Nexthop{addr(gw), 0, w});
    std::sort(r.nexthops.begin(), r.nexthops.end());
    return r;
}

NexthopSettings on() {
    NexthopSettings s;
    s.mode = NexthopSettings::Mode::Auto;
    return s;
}

std::map<IpAddr, std::uint32_t> links(std::initializer_list<std::pair<const char*, std::uint32_t>> l) {
    std::map<IpAddr, std::uint32_t> m;
    for (auto& [a, i] : l) m[addr(a)] = i;
    return m;
}

NexthopLayout layout_ok(const std::vector<Route>& routes, const std::map<IpAddr, std::uint32_t>& l,
                        const NhAssignment& prev = {}, const NexthopSettings& s = on()) {
    auto r = nexthop_layout(routes, l, prev, s);
    INFO(r.error);
    REQUIRE(r);
    return *r.value;
}

const NexthopObject* by_id(const std::vector<NexthopObject>& v, std::uint32_t id) {
    for (const auto& o : v)
        if (o.id == id) return &o;
    return nullptr;
}

}  // namespace

TEST_CASE("layout: one object per peer, one resilient group per route, the route becomes nhid") {
    auto v4 = multipath(Family::V4, 20, {{"10.0.0.1", 100}, {"10.0.0.2", 50}});
    auto v6 = multipath(Family::V6, 20, {{"2001:db8::1", 100}});
    v6.nexthops[0].weight = 1;
    auto l = layout_ok({v4, v6}, links({{"10.0.0.1", 3}, {"10.0.0.2", 3}, {"2001:db8::1", 4}}));
    REQUIRE(l.objects.size() == 5);
    REQUIRE(l.routes.size() == 2);
    // Singles first, then groups; ids from the bottom of the range.
    CHECK(l.objects[0].id == 4200);
    CHECK(!l.objects[0].is_group());
    CHECK(l.objects[3].is_group());
    CHECK(l.objects[4].is_group());
    for (const Route& r : l.routes) {
        CHECK(r.nexthops.empty());
        const NexthopObject* g = by_id(l.objects, r.nh_id);
        REQUIRE(g);
        CHECK(g->group_type == kNhGroupResilient);
        CHECK(g->buckets == 128);
        CHECK(g->idle_timer == 120 * kNhClockHz);
        CHECK(g->protocol == kOurProtocol);
        if (r.family == Family::V4) {
            REQUIRE(g->group.size() == 2);
            const NexthopObject* a = by_id(l.objects, g->group[0].id);
            const NexthopObject* b = by_id(l.objects, g->group[1].id);
            REQUIRE(a);
            REQUIRE(b);
            CHECK(a->oif == 3);
            // Weights mapped onto the group.
            CHECK((a->gateway == addr("10.0.0.1") ? g->group[0].weight : g->group[1].weight) == 100);
            CHECK((b->gateway == addr("10.0.0.2") ? g->group[1].weight : g->group[0].weight) == 50);
        } else {
            REQUIRE(g->group.size() == 1);
            CHECK(by_id(l.objects, g->group[0].id)->family == 10);
        }
    }
    CHECK(l.notes.empty());
}

TEST_CASE("layout: a peer without a known link keeps its route multipath, with a note") {
    auto v4 = multipath(Family::V4, 20, {{"10.0.0.1", 100}, {"10.0.0.2", 100}});
    auto l = layout_ok({v4}, links({{"10.0.0.1", 3}}));
    CHECK(l.objects.empty());
    REQUIRE(l.routes.size() == 1);
    CHECK(l.routes[0] == v4);
    REQUIRE(l.notes.size() == 1);
    CHECK(l.notes[0].find("10.0.0.2") != std::string::npos);
    // A nexthop that carries its ifindex (a resolved path) needs no lookup.
    v4.nexthops[1].ifindex = 5;
    CHECK(layout_ok({v4}, links({{"10.0.0.1", 3}})).objects.size() == 3);
}

TEST_CASE("layout: one group per table; the same gateway on the same link is one object") {
    auto t20 = multipath(Family::V4, 20, {{"10.0.0.1", 100}, {"10.0.0.2", 100}});
    auto t21 = multipath(Family::V4, 21, {{"10.0.0.1", 100}});
    auto l = layout_ok({t20, t21}, links({{"10.0.0.1", 3}, {"10.0.0.2", 3}}));
    CHECK(l.objects.size() == 4);  // 2 singles + 2 groups
    CHECK(l.routes[0].nh_id != l.routes[1].nh_id);
}

TEST_CASE("assignment: a gateway keeps its id, a new one takes the lowest free id, a gone one's id waits") {
    auto s = on();
    const auto k = [](const char* gw, std::uint32_t ifx) { return NhKey{false, addr(gw), ifx, Family::V4, 0}; };
    const NhKey g{true, IpAddr{}, 0, Family::V4, 20};
    NhAssignment prev{{k("10.0.0.1", 3), 4200}, {k("10.0.0.2", 3), 4201}, {k("10.0.0.3", 3), 4202}, {g, 4203}};
    // 10.0.0.2 leaves, 10.0.0.4 arrives.
    auto r = assign_ids({k("10.0.0.1", 3), k("10.0.0.3", 3), k("10.0.0.4", 3), g}, prev, s);
    REQUIRE(r);
    CHECK(r.value->at(k("10.0.0.1", 3)) == 4200);
    CHECK(r.value->at(k("10.0.0.3", 3)) == 4202);
    CHECK(r.value->at(g) == 4203);
    CHECK(r.value->at(k("10.0.0.4", 3)) == 4204);  // 4201 is still the leaving peer's
    // A previous id outside the (new) range is not kept.
    s.id_min = 5000;
    s.id_max = 5001;
    auto narrow = assign_ids({k("10.0.0.1", 3), g}, prev, s);
    REQUIRE(narrow);
    CHECK(narrow.value->at(k("10.0.0.1", 3)) == 5000);
    CHECK(narrow.value->at(g) == 5001);
    // Exhausted.
    auto full = assign_ids({k("10.0.0.1", 3), k("10.0.0.3", 3), g}, {}, s);
    REQUIRE(!full);
    CHECK(full.error.find("5000-5001 exhausted") != std::string::npos);
    // The top of the 32-bit id space does not wrap.
    s.id_min = 0xfffffffe;
    s.id_max = 0xffffffff;
    auto top = assign_ids({k("10.0.0.1", 3), k("10.0.0.3", 3), g}, {}, s);
    CHECK(!top);
}

TEST_CASE("assignment recovered from the kernel: our singles by gateway and link, groups by the routes using them") {
    auto s = on();
    auto l = layout_ok({multipath(Family::V4, 20, {{"10.0.0.1", 100}, {"10.0.0.2", 100}})},
                       links({{"10.0.0.1", 3}, {"10.0.0.2", 3}}));
    std::vector<NexthopObject> kernel = l.objects;
    NexthopObject foreign;
    foreign.id = 4250;
    foreign.family = 2;
    foreign.gateway = addr("10.0.0.9");
    foreign.oif = 3;
    kernel.push_back(foreign);  // not stamped: not ours
    NexthopObject outside = l.objects[0];
    outside.id = 100;  // outside the range
    kernel.push_back(outside);
    auto rec = recover_assignment(kernel, l.routes, s);
    CHECK(rec == l.assignment);
    // Laid out again from what was recovered: the same ids.
    auto again = layout_ok({multipath(Family::V4, 20, {{"10.0.0.1", 100}, {"10.0.0.2", 100}})},
                           links({{"10.0.0.1", 3}, {"10.0.0.2", 3}}), rec);
    CHECK(again.objects == l.objects);
    CHECK(again.routes == l.routes);
}

TEST_CASE("plan: singles before groups before routes; deletes after; imposters replaced or removed") {
    auto s = on();
    auto l = layout_ok({multipath(Family::V4, 20, {{"10.0.0.1", 100}, {"10.0.0.2", 100}})},
                       links({{"10.0.0.1", 3}, {"10.0.0.2", 3}}));
    SECTION("from nothing") {
        auto p = plan_nexthops(l.objects, {}, s);
        REQUIRE(p.before.size() == 3);
        CHECK(p.after.empty());
        CHECK(!p.before[0].object.is_group());
        CHECK(!p.before[1].object.is_group());
        CHECK(p.before[2].object.is_group());
        for (const auto& op : p.before) {
            CHECK(op.kind == NhOpKind::Replace);
            CHECK(op.reason == Reason::Missing);
        }
    }
    SECTION("in place: nothing") { CHECK(plan_nexthops(l.objects, l.objects, s).empty()); }
    SECTION("imposters and strangers") {
        std::vector<NexthopObject> kernel = l.objects;
        kernel[0].protocol = 0;  // same id, not ours: replaced
        NexthopObject extra;
        extra.id = 4400;
        extra.blackhole = true;  // in the range, not wanted: deleted after
        kernel.push_back(extra);
        NexthopObject far = extra;
        far.id = 17;  // outside the range: never touched
        kernel.push_back(far);
        NexthopObject stale_group = l.objects[2];
        stale_group.id = 4401;
        kernel.push_back(stale_group);
        auto p = plan_nexthops(l.objects, kernel, s);
        REQUIRE(p.before.size() == 1);
        CHECK(p.before[0].kind == NhOpKind::Replace);
        CHECK(p.before[0].reason == Reason::Imposter);
        REQUIRE(p.after.size() == 2);
        CHECK(p.after[0].object.id == 4401);  // groups go first
        CHECK(p.after[0].reason == Reason::Stale);
        CHECK(p.after[1].object.id == 4400);
        CHECK(p.after[1].reason == Reason::Imposter);
        for (const auto& op : p.after) CHECK(op.kind == NhOpKind::Del);
    }
    SECTION("a group where a nexthop is wanted is deleted first") {
        std::vector<NexthopObject> kernel;
        NexthopObject g = l.objects[2];
        g.id = l.objects[0].id;
        g.group = {{4299, 1}};
        kernel.push_back(g);
        auto p = plan_nexthops(l.objects, kernel, s);
        REQUIRE(p.before.size() == 4);
        CHECK(p.before[0].kind == NhOpKind::Del);
        CHECK(p.before[0].object.id == l.objects[0].id);
    }
    SECTION("clean: every object in the range, groups first") {
        std::vector<NexthopObject> kernel = l.objects;
        NexthopObject far = l.objects[0];
        far.id = 99;
        kernel.push_back(far);
        auto c = plan_nexthops_clean(kernel, s);
        REQUIRE(c.size() == 3);
        CHECK(c[0].object.is_group());
        CHECK(c[2].object.id == l.objects[1].id);
    }
}

TEST_CASE("plan: a peer leaving changes the group only; its object goes after the group") {
    auto s = on();
    auto lk = links({{"10.0.0.1", 3}, {"10.0.0.2", 3}});
    auto before = layout_ok({multipath(Family::V4, 20, {{"10.0.0.1", 100}, {"10.0.0.2", 100}})}, lk);
    auto after = layout_ok({multipath(Family::V4, 20, {{"10.0.0.1", 100}})}, lk, before.assignment);
    CHECK(after.routes == before.routes);  // the route keeps its group id: no route change at all
    auto p = plan_nexthops(after.objects, before.objects, s);
    REQUIRE(p.before.size() == 1);
    CHECK(p.before[0].object.is_group());
    CHECK(p.before[0].reason == Reason::NexthopsDiffer);
    REQUIRE(p.after.size() == 1);
    CHECK(p.after[0].object.gateway == addr("10.0.0.2"));
}

// ---------------------------------------------------------------- codec

namespace {

struct Buf {
    alignas(nlmsghdr) unsigned char data[4096] = {};
    nlmsghdr* nlh() { return reinterpret_cast<nlmsghdr*>(data); }
};

NexthopObject round_trip(const NexthopObject& o) {
    Buf b;
    std::size_t len = nl::encode_nexthop(b.data, sizeof b.data, RTM_NEWNEXTHOP, NLM_F_REQUEST, 3, o);
    REQUIRE(len == b.nlh()->nlmsg_len);
    NexthopObject out;
    REQUIRE(nl::decode_nexthop(b.nlh(), out));
    return out;
}

}  // namespace

TEST_CASE("codec: nexthop objects round trip; deletes carry the id only; small buffers refused") {
    auto l = layout_ok({multipath(Family::V4, 20, {{"10.0.0.1", 256}, {"2001:db8::2", 7}})},
                       links({{"10.0.0.1", 3}, {"2001:db8::2", 3}}));
    for (const auto& o : l.objects) CHECK(round_trip(o) == o);
    NexthopObject bh;
    bh.id = 9;
    bh.blackhole = true;
    CHECK(round_trip(bh) == bh);

    Buf b;
    std::size_t len = nl::encode_nexthop(b.data, sizeof b.data, RTM_DELNEXTHOP, NLM_F_REQUEST, 3, l.objects[2]);
    CHECK(len == MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(nhmsg)) + MNL_ALIGN(MNL_ATTR_HDRLEN + 4));
    for (std::size_t cap = 0; cap < 64; ++cap)
        CHECK(nl::encode_nexthop(b.data, cap, RTM_NEWNEXTHOP, NLM_F_REQUEST, 3, l.objects[2]) == 0);
}

TEST_CASE("codec: malformed nexthop and neighbour messages are rejected, unknown attributes kept") {
    Buf b;
    NexthopObject o;
    o.id = 5;
    o.family = AF_INET;
    o.gateway = addr("10.0.0.1");
    o.oif = 2;
    std::size_t len = nl::encode_nexthop(b.data, sizeof b.data, RTM_NEWNEXTHOP, 0, 1, o);
    REQUIRE(len);
    NexthopObject out;
    SECTION("an encapsulation is unknown") {
        std::uint16_t encap = 1;
        mnl_attr_put(b.nlh(), NHA_ENCAP_TYPE, sizeof encap, &encap);
        REQUIRE(nl::decode_nexthop(b.nlh(), out));
        CHECK(out.unknown_attrs == std::vector<std::uint16_t>{NHA_ENCAP_TYPE});
        CHECK(out != o);
    }
    SECTION("a group whose length is not a multiple of an entry") {
        std::uint8_t junk[5] = {};
        mnl_attr_put(b.nlh(), NHA_GROUP, sizeof junk, junk);
        CHECK(!nl::decode_nexthop(b.nlh(), out));
    }
    SECTION("a short gateway") {
        Buf c;
        NexthopObject d = o;
        d.family = AF_INET6;  // 4-byte gateway under AF_INET6
        d.gateway = addr("10.0.0.1");
        REQUIRE(nl::encode_nexthop(c.data, sizeof c.data, RTM_NEWNEXTHOP, 0, 1, d));
        CHECK(!nl::decode_nexthop(c.nlh(), out));
    }
    SECTION("no id") {
        o.id = 0;
        Buf c;
        REQUIRE(nl::encode_nexthop(c.data, sizeof c.data, RTM_NEWNEXTHOP, 0, 1, o));
        CHECK(!nl::decode_nexthop(c.nlh(), out));
    }
    SECTION("neighbours") {
        Buf c;
        nlmsghdr* nlh = mnl_nlmsg_put_header(c.data);
        nlh->nlmsg_type = RTM_NEWNEIGH;
        auto* ndm = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
        ndm->ndm_family = AF_INET;
        ndm->ndm_ifindex = 4;
        ndm->ndm_state = NUD_FAILED;
        nl::Neighbour n;
        CHECK(!nl::decode_neighbour(nlh, n));  // no NDA_DST
        const IpAddr a = addr("10.0.0.7");
        mnl_attr_put(nlh, NDA_DST, 4, a.bytes.data());
        REQUIRE(nl::decode_neighbour(nlh, n));
        CHECK(n.dst == a);
        CHECK(n.ifindex == 4);
        CHECK(n.state == NUD_FAILED);
        ndm->ndm_family = AF_BRIDGE;
        CHECK(!nl::decode_neighbour(nlh, n));
    }
}
