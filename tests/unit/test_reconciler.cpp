// The agent's units without root: the rule mirror, the fight limiter, and the
// reconciler's plan/apply/verify passes against a simulated kernel that
// deletes the first rule a request matches, inserts by priority, echoes every
// change as the kernel does, and checks after every op that none of the
// wanted rules ever disappears.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <map>

#include "../common/values.hpp"
#include "nra/agent/fight.hpp"
#include "nra/agent/mirror.hpp"
#include "nra/agent/reconciler.hpp"
#include "nra/base/log.hpp"
#include "nra/core/desired.hpp"
#include "nra/core/rule_order.hpp"

using namespace nra;
using nra::testing::addr;
using nra::testing::pfx;

namespace {

constexpr std::uint32_t kSelf = 4242, kOther = 77;

class SimKernel final : public Kernel {
public:
    std::vector<Rule> rules[2];  // per family, kernel order
    std::vector<Route> routes;
    std::deque<nl::Event> events;
    std::map<OpKind, int> fail;   // op kind -> errno to answer
    std::vector<Rule> must_keep;  // checked after every op
    bool lost_one = false;
    std::vector<Prefix> must_route;  // after every op: each has a rule whose table has a route
    bool unrouted = false;
    bool overrun_next = false;
    int dumps = 0, applied = 0;

    Result<Observed> dump(const TableSet& tables, bool want_rules, bool want_routes) override {
        ++dumps;
        Observed d;
        if (want_rules)
            for (auto& fam : rules)
                for (auto& r : fam)
                    if (tables.contains(r.table)) d.rules.push_back(r);
        if (want_routes)
            for (auto& r : routes)
                if (tables.contains(r.table)) d.routes.push_back(r);
        return Result<Observed>::ok(std::move(d));
    }
    Result<std::vector<IpAddr>> dump_addresses() override { return Result<std::vector<IpAddr>>::ok({}); }
    Result<std::vector<nl::Link>> dump_links() override { return Result<std::vector<nl::Link>>::ok({}); }
    std::uint32_t portid() const override { return kSelf; }

    nl::DrainResult drain_events(const std::function<void(const nl::Event&)>& fn) override {
        nl::DrainResult res;
        if (overrun_next) {
            overrun_next = false;
            events.clear();
            res.overrun = true;
        }
        while (!events.empty()) {
            nl::Event e = std::move(events.front());
            events.pop_front();
            fn(e);
        }
        return res;
    }

    std::vector<nl::OpResult> apply(const std::vector<Op>& ops) override {
        std::vector<nl::OpResult> out;
        for (const Op& op : ops) {
            ++applied;
            nl::OpResult r;
            if (auto it = fail.find(op.kind); it != fail.end()) {
                r.error = it->second;
                out.push_back(r);
                continue;
            }
            switch (op.kind) {
            case OpKind::AddRule:
            case OpKind::AppendRule:
                add_rule(op.rule(), op.kind == OpKind::AddRule, kSelf);
                break;
            case OpKind::DelRule:
                del_rule(op.rule(), kSelf);
                break;
            case OpKind::ReplaceRoute:
                replace_route(op.route(), kSelf);
                break;
            case OpKind::DelRoute:
                del_route(op.route(), kSelf);
                break;
            }
            check();
            out.push_back(r);
        }
        return out;
    }

    // The kernel's behaviour, shared by our ops and other writers'.
    void add_rule(const Rule& r, bool excl, std::uint32_t port) {
        auto& list = rules[r.family == Family::V6];
        if (excl)
            for (const Rule& o : list)
                if (add_would_collide(r, o)) return;  // EEXIST: success for an exclusive add
        auto pos = std::find_if(list.begin(), list.end(), [&](const Rule& o) { return o.priority > r.priority; });
        list.insert(pos, r);
        events.push_back(nl::Event{nl::Event::Type::NewRule, r, {}, port, {}});
    }
    void del_rule(const Rule& req, std::uint32_t port) {
        auto& list = rules[req.family == Family::V6];
        auto it = std::find_if(list.begin(), list.end(), [&](const Rule& o) { return delete_would_match(req, o); });
        if (it == list.end()) return;  // ENOENT: success for a delete
        Rule gone = *it;
        list.erase(it);
        events.push_back(nl::Event{nl::Event::Type::DelRule, gone, {}, port, {}});
    }
    void replace_route(const Route& r, std::uint32_t port) {
        auto it =
            std::find_if(routes.begin(), routes.end(), [&](const Route& o) { return route_key(o) == route_key(r); });
        if (it != routes.end())
            *it = r;
        else
            routes.push_back(r);
        events.push_back(nl::Event{nl::Event::Type::NewRoute, r, {}, port, {}});
    }
    void del_route(const Route& r, std::uint32_t port) {
        auto it =
            std::find_if(routes.begin(), routes.end(), [&](const Route& o) { return route_key(o) == route_key(r); });
        if (it == routes.end()) return;
        Route gone = *it;
        routes.erase(it);
        events.push_back(nl::Event{nl::Event::Type::DelRoute, gone, {}, port, {}});
    }
    void check() {
        for (const Prefix& p : must_route) {
            const auto& list = rules[p.family() == Family::V6];
            const bool ok = std::any_of(list.begin(), list.end(), [&](const Rule& r) {
                return r.src == p && std::any_of(routes.begin(), routes.end(), [&](const Route& o) {
                           return o.table == r.table && o.family == r.family && !o.nexthops.empty();
                       });
            });
            if (!ok) unrouted = true;
        }
        for (const Rule& w : must_keep) {
            const auto& list = rules[w.family == Family::V6];
            if (std::find(list.begin(), list.end(), w) == list.end()) lost_one = true;
        }
    }
    std::size_t rule_count() const { return rules[0].size() + rules[1].size(); }
};

Desired want(std::vector<const char*> cidrs, std::vector<const char*> peers = {"10.0.0.1", "10.0.0.3"}) {
    Model m;
    for (const char* p : peers) m.peers.push_back(Peer{addr(p), 0, p, {}});
    for (const char* c : cidrs) m.addresses.push_back(AddressEntry{c, c});
    return desired_state(m, Settings{});
}

Rule foreign_rule(const char* from, std::uint32_t priority = 20) {
    Rule r;
    r.family = Family::V4;
    r.priority = priority;
    if (from) r.src = pfx(from);
    r.table = 20;
    return r;
}

bool kernel_holds(const SimKernel& k, const Desired& d) {
    std::vector<Rule> have;
    for (const auto& fam : k.rules) have.insert(have.end(), fam.begin(), fam.end());
    std::sort(have.begin(), have.end());
    if (have != d.rules) return false;
    if (k.routes.size() != d.routes.size()) return false;
    for (const Route& r : d.routes)
        if (std::find_if(k.routes.begin(), k.routes.end(), [&](const Route& o) {
                return route_key(o) == route_key(r) && o.nexthops == r.nexthops;
            }) == k.routes.end())
            return false;
    return true;
}

const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);

// The reconciler logs every change at info: keep the test output to errors.
struct QuietLog {
    QuietLog() { log::init(log::Level::Error, log::Format::Json); }
    ~QuietLog() { log::init(log::Level::Info, log::Format::Json); }
};

}  // namespace

TEST_CASE("rule mirror: kernel order by priority, first equal rule erased") {
    RuleMirror m;
    std::vector<Rule> dumped{foreign_rule("10.0.0.0/8", 30), foreign_rule("10.1.0.0/16", 10)};
    m.assign(std::move(dumped));
    CHECK(m.begin()->priority == 10);
    CHECK(m.insert(foreign_rule("10.2.0.0/16", 20)));
    CHECK(!m.insert(foreign_rule("10.2.0.0/16", 20)));  // an exact duplicate: still held twice
    CHECK(m.insert(foreign_rule("10.3.0.0/16", 30)));
    std::vector<std::string> order;
    for (const Rule& r : m) order.push_back(r.src->str() + "@" + std::to_string(r.priority));
    CHECK(order == std::vector<std::string>{"10.1.0.0/16@10", "10.2.0.0/16@20", "10.2.0.0/16@20", "10.0.0.0/8@30",
                                            "10.3.0.0/16@30"});
    m.erase(foreign_rule("10.2.0.0/16", 20));
    CHECK(m.size() == 4);
    m.erase(foreign_rule("192.0.2.0/24", 20));  // absent: nothing
    CHECK(m.size() == 4);
}

TEST_CASE("fight limiter: distinct imposters never fight, a re-corrected object does") {
    FightLimiter f(t0);
    std::vector<Op> a{Op{OpKind::DelRule, foreign_rule("10.0.0.0/8"), Reason::Imposter}};
    std::vector<Op> b{Op{OpKind::DelRule, foreign_rule("10.9.0.0/16"), Reason::Imposter}};
    CHECK(!f.note(a, t0));
    CHECK(!f.note(b, t0));
    CHECK(!f.note(a, t0 + std::chrono::seconds(1)));
    CHECK(f.note(a, t0 + std::chrono::seconds(2)));    // third time within the window
    CHECK(!f.note(b, t0 + std::chrono::seconds(30)));  // the window passed: counting starts again
    std::vector<Op> moved{Op{OpKind::DelRule, foreign_rule("10.0.0.0/8"), Reason::Moved}};
    for (int i = 0; i < 5; ++i) CHECK(!f.note(moved, t0 + std::chrono::seconds(40)));  // consequences never count
}

TEST_CASE("fight limiter: token bucket and warning rate") {
    FightLimiter::Params p;
    p.burst = 3;
    p.refill = std::chrono::milliseconds(100);
    p.ops_per_token = 10;
    FightLimiter f(p, t0);
    CHECK(f.allow(t0));
    f.charge(25);  // 1 + 25 / 10 = 3 tokens
    CHECK(!f.allow(t0));
    CHECK(!f.allow(t0 + std::chrono::milliseconds(50)));
    CHECK(f.allow(t0 + std::chrono::milliseconds(150)));
    CHECK(f.tokens() <= 3);
    CHECK(f.allow(t0 + std::chrono::hours(1)));
    CHECK(f.tokens() == 3);  // capped at the burst
    CHECK(f.should_warn(t0));
    CHECK(!f.should_warn(t0 + std::chrono::seconds(5)));
    CHECK(f.should_warn(t0 + std::chrono::seconds(11)));
}

TEST_CASE("reconciler: converges from an empty table, then nothing to do") {
    QuietLog quiet;
    SimKernel k;
    KernelMirror m(20);
    Reconciler rc(k, m);
    const Desired d = want({"192.168.57.0/24", "192.168.58.10-192.168.58.30"});
    auto out = rc.reconcile(d, nullptr, t0);
    CHECK(out.ok);
    CHECK(kernel_holds(k, d));
    CHECK(out.changes == d.rules.size() + 1);
    CHECK(out.counts.n[static_cast<int>(OpKind::AddRule)][static_cast<int>(Reason::Missing)] == d.rules.size());
    CHECK(!out.seen.foreign);  // our own echoes
    const int dumps = k.dumps;
    out = rc.reconcile(d, nullptr, t0);
    CHECK(out.ok);
    CHECK(out.changes == 0);
    CHECK(k.dumps == dumps);  // the first reconcile's verification pass re-read the route it changed
}

TEST_CASE("reconciler: another writer's rule is seen, removed, and ours kept") {
    QuietLog quiet;
    SimKernel k;
    KernelMirror m(20);
    Reconciler rc(k, m);
    const Desired d = want({"192.168.57.0/24", "192.168.59.0/24"});
    REQUIRE(rc.reconcile(d, nullptr, t0).ok);
    k.must_keep = d.rules;
    k.add_rule(foreign_rule("10.9.0.0/16"), true, kOther);
    // "from all lookup 20 pref 20", added without NLM_F_EXCL (with it the
    // kernel would refuse it: its duplicate check takes the unset source as
    // a wildcard): after ours, and a delete of it matches every one of ours.
    k.add_rule(foreign_rule(nullptr), false, kOther);
    auto seen = m.drain(k);
    CHECK(seen.foreign);
    FightLimiter f(t0);
    auto out = rc.reconcile(d, &f, t0);
    CHECK(out.ok);
    CHECK(!k.lost_one);  // none of ours missing at any point
    CHECK(kernel_holds(k, d));
    CHECK(out.counts.n[static_cast<int>(OpKind::DelRule)][static_cast<int>(Reason::Imposter)] == 2);
    CHECK(!out.fight);
}

TEST_CASE("reconciler: refusals are reported; a missing link is not a backoff") {
    QuietLog quiet;
    SimKernel k;
    KernelMirror m(20);
    Reconciler rc(k, m);
    const Desired d = want({"192.168.57.0/24"});
    k.fail[OpKind::ReplaceRoute] = ENETUNREACH;
    auto out = rc.reconcile(d, nullptr, t0);
    CHECK(!out.ok);
    CHECK(out.waiting_for_network);
    k.fail[OpKind::ReplaceRoute] = EINVAL;
    out = rc.reconcile(d, nullptr, t0);
    CHECK(!out.ok);
    CHECK(!out.waiting_for_network);
    k.fail.clear();
    out = rc.reconcile(d, nullptr, t0);
    CHECK(out.ok);
    CHECK(kernel_holds(k, d));
}

TEST_CASE("reconciler: an overrun re-reads everything; a fight is detected") {
    QuietLog quiet;
    SimKernel k;
    KernelMirror m(20);
    Reconciler rc(k, m);
    const Desired d = want({"192.168.57.0/24"});
    REQUIRE(rc.reconcile(d, nullptr, t0).ok);
    k.add_rule(foreign_rule("10.9.0.0/16"), true, kOther);
    k.overrun_next = true;  // the event is lost
    auto seen = m.drain(k);
    CHECK(seen.overrun);
    CHECK(!m.rules_valid());
    FightLimiter f(t0);
    bool fight = false;
    for (int round = 0; round < 3; ++round) {  // the other writer puts it back each time
        auto out = rc.reconcile(d, &f, t0 + std::chrono::seconds(round));
        CHECK(out.ok);
        CHECK(kernel_holds(k, d));
        fight = out.fight;
        k.add_rule(foreign_rule("10.9.0.0/16"), true, kOther);
        m.drain(k);
    }
    CHECK(fight);
}

TEST_CASE("reconciler: clean removes every rule and route of the table, nothing else") {
    QuietLog quiet;
    SimKernel k;
    KernelMirror m(20);
    Reconciler rc(k, m);
    REQUIRE(rc.reconcile(want({"192.168.57.0/24", "2001:db8::/64"}, {"10.0.0.1", "fd00::1"}), nullptr, t0).ok);
    Rule other = foreign_rule("10.0.0.0/8");
    other.table = 30;
    k.add_rule(other, true, kOther);
    auto out = rc.clean();
    CHECK(out.ok);
    CHECK(k.routes.empty());
    REQUIRE(k.rule_count() == 1);
    CHECK(k.rules[0][0].table == 30);
}

TEST_CASE("reconciler: preview plans without touching the kernel") {
    QuietLog quiet;
    SimKernel k;
    KernelMirror m(20);
    Reconciler rc(k, m);
    const Desired d = want({"192.168.57.0/24"});
    auto ops = rc.preview(d);
    REQUIRE(ops);
    CHECK(ops.value->size() == 2);
    CHECK(k.applied == 0);
    CHECK(k.rule_count() == 0);
}

// ---------------------------------------------------------------- nexthop objects

namespace {

// A kernel with nexthop objects that may refuse them (as one without
// resilient groups answers the first add).
class NhSimKernel final : public Kernel {
public:
    SimKernel base;
    std::map<std::uint32_t, NexthopObject> objects;
    int refuse = 0;  // errno for every nexthop replace; 0 = accept
    int nh_calls = 0;

    Result<Observed> dump(const TableSet& t, bool r, bool ro) override { return base.dump(t, r, ro); }
    Result<std::vector<IpAddr>> dump_addresses() override { return base.dump_addresses(); }
    Result<std::vector<nl::Link>> dump_links() override { return base.dump_links(); }
    std::vector<nl::OpResult> apply(const std::vector<Op>& ops) override { return base.apply(ops); }
    nl::DrainResult drain_events(const std::function<void(const nl::Event&)>& fn) override {
        return base.drain_events(fn);
    }
    std::uint32_t portid() const override { return kSelf; }
    Result<std::vector<NexthopObject>> dump_nexthops() override {
        std::vector<NexthopObject> v;
        for (auto& [id, o] : objects) v.push_back(o);
        return Result<std::vector<NexthopObject>>::ok(std::move(v));
    }
    std::vector<nl::OpResult> apply_nexthops(const std::vector<NhOp>& ops) override {
        std::vector<nl::OpResult> out;
        for (const NhOp& op : ops) {
            ++nh_calls;
            nl::OpResult r;
            if (op.kind == NhOpKind::Del) {
                objects.erase(op.object.id);
                // The kernel takes the routes using a deleted object with it.
                std::erase_if(base.routes, [&](const Route& x) { return x.nh_id == op.object.id; });
            } else if (refuse) {
                r.error = refuse;
            } else {
                objects[op.object.id] = op.object;
            }
            out.push_back(r);
        }
        return out;
    }
    Result<std::vector<nl::Interface>> dump_interface_addresses() override {
        nl::Interface i;
        i.ifindex = 3;
        i.address = addr("10.0.0.2");
        i.prefix_len = 24;
        return Result<std::vector<nl::Interface>>::ok({i});
    }
};

NexthopSettings nh_auto() {
    NexthopSettings s;
    s.mode = NexthopSettings::Mode::Auto;
    return s;
}

}  // namespace

TEST_CASE("reconciler: nexthop objects made, the route on the group; again nothing to do") {
    QuietLog quiet;
    NhSimKernel k;
    KernelMirror m(20);
    Reconciler rec(k, m);
    NexthopManager nh(nh_auto());
    nh.set_addresses(*k.dump_interface_addresses().value);
    rec.set_nexthops(&nh);
    const Desired d = want({"192.168.1.0/24"});
    auto out = rec.reconcile(d, nullptr, t0);
    CHECK(out.ok);
    REQUIRE(k.objects.size() == 3);
    REQUIRE(k.base.routes.size() == 1);
    CHECK(k.base.routes[0].nh_id == 4202);
    CHECK(k.base.routes[0].nexthops.empty());
    CHECK(k.objects[4202].group_type == kNhGroupResilient);
    const int calls = k.nh_calls;
    auto again = rec.reconcile(d, nullptr, t0);
    CHECK(again.ok);
    CHECK(again.changes == 0);
    CHECK(k.nh_calls == calls);
    // A peer leaves: the group changes, the route does not, the object goes.
    auto one = rec.reconcile(want({"192.168.1.0/24"}, {"10.0.0.1"}), nullptr, t0);
    CHECK(one.ok);
    CHECK(k.base.routes[0].nh_id == 4202);
    CHECK(k.objects.size() == 2);
    CHECK(k.objects[4202].group.size() == 1);
}

TEST_CASE("reconciler: a kernel refusing the first nexthop object falls back to the multipath route, once") {
    QuietLog quiet;
    for (int err : {EOPNOTSUPP, EINVAL}) {
        NhSimKernel k;
        k.refuse = err;
        KernelMirror m(20);
        Reconciler rec(k, m);
        NexthopManager nh(nh_auto());
        nh.set_addresses(*k.dump_interface_addresses().value);
        rec.set_nexthops(&nh);
        const Desired d = want({"192.168.1.0/24"});
        auto out = rec.reconcile(d, nullptr, t0);
        CHECK(out.ok);
        CHECK(nh.fallen_back());
        CHECK(k.objects.empty());
        CHECK(kernel_holds(k.base, d));  // today's layout
        const int calls = k.nh_calls;
        CHECK(rec.reconcile(d, nullptr, t0).changes == 0);
        CHECK(k.nh_calls == calls);  // never asked again
    }
    SECTION("a kernel without nexthop objects at all (the dump refused)") {
        SimKernel k;  // the Kernel defaults: EOPNOTSUPP
        KernelMirror m(20);
        Reconciler rec(k, m);
        NexthopManager nh(nh_auto());
        rec.set_nexthops(&nh);
        const Desired d = want({"192.168.1.0/24"});
        CHECK(rec.reconcile(d, nullptr, t0).ok);
        CHECK(nh.fallen_back());
        CHECK(kernel_holds(k, d));
    }
    SECTION("after one object was accepted a refusal is an error, not a fallback") {
        NhSimKernel k;
        KernelMirror m(20);
        Reconciler rec(k, m);
        NexthopManager nh(nh_auto());
        nh.set_addresses(*k.dump_interface_addresses().value);
        rec.set_nexthops(&nh);
        CHECK(rec.reconcile(want({"192.168.1.0/24"}), nullptr, t0).ok);
        k.refuse = EINVAL;
        CHECK(!rec.reconcile(want({"192.168.1.0/24"}, {"10.0.0.1", "10.0.0.3", "10.0.0.4"}), nullptr, t0).ok);
        CHECK(!nh.fallen_back());
    }
}

TEST_CASE("reconciler: a dead peer leaves the group; the last one stays; CLEANANDEXIT removes the objects") {
    QuietLog quiet;
    NhSimKernel k;
    KernelMirror m(20);
    Reconciler rec(k, m);
    NexthopManager nh(nh_auto());
    nh.set_addresses(*k.dump_interface_addresses().value);
    rec.set_nexthops(&nh);
    const Desired d = want({"192.168.1.0/24"});
    CHECK(rec.reconcile(d, nullptr, t0).ok);
    const auto now = std::chrono::steady_clock::now();
    CHECK(nh.neighbour(nl::Neighbour{addr("10.0.0.3"), 3, nud::Failed}, false, now));
    CHECK(rec.reconcile(d, nullptr, t0).ok);
    REQUIRE(k.objects.count(4202));
    CHECK(k.objects[4202].group.size() == 1);
    CHECK(nh.neighbour(nl::Neighbour{addr("10.0.0.1"), 3, nud::Failed}, false, now));
    CHECK(rec.reconcile(d, nullptr, t0).ok);
    REQUIRE(k.objects.count(4202));
    CHECK(k.objects[4202].group.size() == 1);  // the last one stays
    CHECK(k.objects[k.objects[4202].group[0].id].gateway == addr("10.0.0.1"));
    auto c = rec.clean();
    CHECK(c.ok);
    CHECK(k.objects.empty());
    CHECK(k.base.routes.empty());
}

TEST_CASE("reconciler: a pool moving between peer sets is never without a route (make-before-break)") {
    QuietLog quiet;
    SimKernel k;
    KernelMirror m(Settings{}.tables());
    Reconciler rc(k, m);
    Model model;
    model.peers = {Peer{addr("10.0.0.1"), 0, "a", {}}, Peer{addr("10.0.0.2"), 0, "b", {}}};
    const auto entry = [](const char* cidr, std::optional<std::vector<std::string>> peers) {
        AddressEntry e{cidr, cidr};
        e.peers = std::move(peers);
        return e;
    };
    model.addresses = {entry("192.0.2.0/24", std::vector<std::string>{"a"}),
                       entry("198.51.100.0/24", std::vector<std::string>{"b"}), entry("203.0.113.0/24", std::nullopt)};
    const Desired before = desired_state(model, Settings{});
    REQUIRE(rc.reconcile(before, nullptr, t0).ok);
    REQUIRE(kernel_holds(k, before));
    k.must_route = {pfx("192.0.2.0/24"), pfx("198.51.100.0/24"), pfx("203.0.113.0/24")};
    const auto placed = [](const Desired& d) {
        std::vector<const Rule*> v;
        for (const Rule& r : d.rules) v.push_back(&r);
        return placement_of(v, Settings{}.tables(), kOurProtocol);
    };
    // 192.0.2.0/24 moves to b's set (its old set's table goes), then to all
    // peers, then to a new set of its own (a again, a table to create).
    model.addresses[0].peers = std::vector<std::string>{"b"};
    const Desired to_b = desired_state(model, Settings{}, {}, nullptr, placed(before));
    REQUIRE(rc.reconcile(to_b, nullptr, t0).ok);
    CHECK(kernel_holds(k, to_b));
    model.addresses[0].peers.reset();
    const Desired to_all = desired_state(model, Settings{}, {}, nullptr, placed(to_b));
    REQUIRE(rc.reconcile(to_all, nullptr, t0).ok);
    CHECK(kernel_holds(k, to_all));
    model.addresses[0].peers = std::vector<std::string>{"a"};
    const Desired back = desired_state(model, Settings{}, {}, nullptr, placed(to_all));
    REQUIRE(rc.reconcile(back, nullptr, t0).ok);
    CHECK(kernel_holds(k, back));
    CHECK(!k.unrouted);
    // Once decided, the set of b keeps its table (the tie of one CIDR each
    // in 30001 and 30002 went to the lower table).
    for (const Desired* d : {&to_b, &to_all, &back})
        for (const Rule& r : d->rules)
            if (r.src == pfx("198.51.100.0/24")) CHECK(r.table == 30001);
    for (const Rule& r : back.rules)
        if (r.src == pfx("192.0.2.0/24")) CHECK(r.table == 30002);
}
