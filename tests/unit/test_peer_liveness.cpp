// The peer liveness state machine: neighbour states, link up/down, flap
// limiting with an injected clock, and the last live peer never removed.
#include <catch2/catch.hpp>

#include "../common/values.hpp"

#include "nra/core/peer_liveness.hpp"

using namespace nra;
using nra::testing::addr;
using namespace std::chrono_literals;

namespace {

using TP = PeerLiveness::Clock::time_point;
const TP t0{};

std::vector<Nexthop> hops(std::initializer_list<const char*> gws) {
    std::vector<Nexthop> v;
    for (const char* g : gws) v.push_back(Nexthop{addr(g), 0, 100});
    return v;
}

}  // namespace

TEST_CASE("liveness: FAILED takes a peer out, REACHABLE/STALE/DELAY/PROBE/PERMANENT put it back") {
    PeerLiveness l;
    l.set_peers({{addr("10.0.0.1"), 3}, {addr("10.0.0.2"), 3}});
    CHECK(l.alive(addr("10.0.0.1")));
    auto t = l.neighbour(addr("10.0.0.1"), 3, nud::Failed, false, t0);
    REQUIRE(t);
    CHECK(!t->alive);
    CHECK(t->reason.find("FAILED") != std::string::npos);
    CHECK(!l.alive(addr("10.0.0.1")));
    CHECK(l.dead() == std::set<IpAddr>{addr("10.0.0.1")});
    // No news: INCOMPLETE, NOARP, NONE, a deleted entry.
    CHECK(!l.neighbour(addr("10.0.0.1"), 3, nud::Incomplete, false, t0 + 1s));
    CHECK(!l.neighbour(addr("10.0.0.1"), 3, 0, false, t0 + 1s));
    CHECK(!l.neighbour(addr("10.0.0.1"), 3, nud::Reachable, true, t0 + 1s));
    CHECK(!l.alive(addr("10.0.0.1")));
    for (std::uint16_t st : {nud::Reachable, nud::Stale, nud::Delay, nud::Probe, nud::Permanent}) {
        PeerLiveness m;
        m.set_peers({{addr("10.0.0.1"), 3}});
        REQUIRE(m.neighbour(addr("10.0.0.1"), 3, nud::Failed, false, t0));
        auto back = m.neighbour(addr("10.0.0.1"), 3, st, false, t0 + 1s);
        INFO(PeerLiveness::state_name(st));
        REQUIRE(back);
        CHECK(back->alive);
    }
    // An entry of another link, or of an address that is no peer, says nothing.
    CHECK(!l.neighbour(addr("10.0.0.2"), 4, nud::Failed, false, t0));
    CHECK(!l.neighbour(addr("10.0.0.9"), 3, nud::Failed, false, t0));
    // A repeated state is no transition.
    CHECK(!l.neighbour(addr("10.0.0.1"), 3, nud::Failed, false, t0 + 2s));
}

TEST_CASE("liveness: link down takes every peer on it out; up brings them back") {
    PeerLiveness l;
    l.set_peers({{addr("10.0.0.1"), 3}, {addr("10.0.0.2"), 3}, {addr("10.0.1.1"), 4}});
    auto down = l.link(3, false, t0);
    CHECK(down.size() == 2);
    CHECK(l.alive(addr("10.0.1.1")));
    // Neighbour news while the link is down does not revive it.
    CHECK(!l.neighbour(addr("10.0.0.1"), 3, nud::Reachable, false, t0 + 1s));
    CHECK(!l.alive(addr("10.0.0.1")));
    auto up = l.link(3, true, t0 + 2s);
    CHECK(up.size() == 2);
    CHECK(l.alive(addr("10.0.0.1")));
    CHECK(l.link(3, true, t0 + 3s).empty());
}

TEST_CASE("liveness: the last live peer is never removed") {
    PeerLiveness l;
    l.set_peers({{addr("10.0.0.1"), 3}, {addr("10.0.0.2"), 3}});
    auto all = hops({"10.0.0.1", "10.0.0.2"});
    l.neighbour(addr("10.0.0.1"), 3, nud::Failed, false, t0);
    auto one = l.filter(all);
    REQUIRE(one.size() == 1);
    CHECK(one[0].gateway == addr("10.0.0.2"));
    l.neighbour(addr("10.0.0.2"), 3, nud::Failed, false, t0);
    CHECK(l.filter(all) == all);  // all dead: all kept
}

TEST_CASE("liveness: a flapping peer is held out, then comes back when the hold is over") {
    PeerLiveness l;
    const IpAddr p = addr("10.0.0.1");
    l.set_peers({{p, 3}});
    TP now = t0;
    for (int i = 0; i < PeerLiveness::kMaxFlaps; ++i) {
        REQUIRE(l.neighbour(p, 3, nud::Failed, false, now));
        now += 1s;
        REQUIRE(l.neighbour(p, 3, nud::Reachable, false, now));
        now += 1s;
    }
    REQUIRE(l.neighbour(p, 3, nud::Failed, false, now));
    now += 1s;
    CHECK(!l.neighbour(p, 3, nud::Reachable, false, now));  // held
    CHECK(!l.alive(p));
    REQUIRE(l.pending_until());
    CHECK(*l.pending_until() == now + PeerLiveness::kFlapHold);
    CHECK(l.tick(now + 10s).empty());
    auto back = l.tick(now + PeerLiveness::kFlapHold);
    REQUIRE(back.size() == 1);
    CHECK(back[0].alive);
    CHECK(!l.pending_until());
    // A FAILED during the hold cancels the pending comeback.
    PeerLiveness m;
    m.set_peers({{p, 3}});
    now = t0;
    for (int i = 0; i < PeerLiveness::kMaxFlaps; ++i) {
        m.neighbour(p, 3, nud::Failed, false, now);
        m.neighbour(p, 3, nud::Reachable, false, now += 1s);
    }
    m.neighbour(p, 3, nud::Failed, false, now += 1s);
    m.neighbour(p, 3, nud::Reachable, false, now += 1s);
    m.neighbour(p, 3, nud::Failed, false, now += 1s);
    CHECK(!m.pending_until());
    CHECK(m.tick(now + 1h).empty());
    // Flaps older than the window are forgotten.
    CHECK(m.neighbour(p, 3, nud::Reachable, false, now + PeerLiveness::kFlapWindow + 1s));
}

TEST_CASE("liveness: peers no longer followed are forgotten; new ones start alive") {
    PeerLiveness l;
    l.set_peers({{addr("10.0.0.1"), 3}});
    l.neighbour(addr("10.0.0.1"), 3, nud::Failed, false, t0);
    l.set_peers({{addr("10.0.0.2"), 3}});
    CHECK(l.alive(addr("10.0.0.1")));  // not followed: no verdict
    CHECK(l.dead().empty());
    l.set_peers({{addr("10.0.0.1"), 3}});
    CHECK(l.alive(addr("10.0.0.1")));
}

TEST_CASE("liveness: with the route's current peers, all dead keeps the last one standing") {
    PeerLiveness l;
    l.set_peers({{addr("10.0.0.1"), 3}, {addr("10.0.0.2"), 3}, {addr("10.0.0.3"), 3}});
    auto all = hops({"10.0.0.1", "10.0.0.2", "10.0.0.3"});
    for (const char* p : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) l.neighbour(addr(p), 3, nud::Failed, false, t0);
    auto kept = l.filter(all, {addr("10.0.0.3")});
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].gateway == addr("10.0.0.3"));
    CHECK(kept[0].weight == 1);
    CHECK(l.filter(all, {addr("10.0.0.9")}) == all);  // none of the current ones listed: all
}
