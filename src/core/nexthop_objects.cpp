#include "nra/core/nexthop_objects.hpp"

#include <algorithm>
#include <set>

namespace nra {

namespace {

constexpr std::uint8_t kAfInet = 2, kAfInet6 = 10;

std::uint8_t af(Family f) { return f == Family::V4 ? kAfInet : kAfInet6; }

bool by_id(const NexthopObject& a, const NexthopObject& b) { return a.id < b.id; }

}  // namespace

std::string NexthopObject::str() const {
    std::string s = "id " + std::to_string(id);
    if (is_group()) {
        s += " group ";
        for (std::size_t i = 0; i < group.size(); ++i) {
            if (i) s += "/";
            s += std::to_string(group[i].id);
            if (group[i].weight != 1) s += "," + std::to_string(group[i].weight);
        }
        if (group_type == kNhGroupResilient)
            s += " type resilient buckets " + std::to_string(buckets) + " idle_timer " +
                 std::to_string(idle_timer / kNhClockHz) + " unbalanced_timer " +
                 std::to_string(unbalanced_timer / kNhClockHz);
        else if (group_type != kNhGroupMpath)
            s += " type " + std::to_string(group_type);
    } else if (blackhole) {
        s += " blackhole";
    } else {
        if (gateway) s += " via " + gateway->str();
        if (oif) s += " dev " + std::to_string(oif);
    }
    if (fdb) s += " fdb";
    if (flags) s += " flags " + std::to_string(flags);
    s += " proto " + std::to_string(protocol);
    if (!unknown_attrs.empty()) {
        s += " unknown attributes";
        for (std::uint16_t t : unknown_attrs) s += " " + std::to_string(t);
    }
    return s;
}

std::string NhOp::str() const {
    return std::string(kind == NhOpKind::Replace ? "replace nexthop " : "delete nexthop ") + object.str() + " (" +
           std::string(reason_name(reason)) + ")";
}

NhAssignment recover_assignment(const std::vector<NexthopObject>& objects, const std::vector<Route>& routes,
                                const NexthopSettings& s) {
    NhAssignment a;
    std::set<std::uint32_t> used;
    std::set<std::uint32_t> groups;
    for (const NexthopObject& o : objects) {
        if (!s.contains(o.id) || o.protocol != s.protocol || !o.unknown_attrs.empty()) continue;
        if (o.is_group()) {
            groups.insert(o.id);
            continue;
        }
        if (!o.gateway || !o.oif) continue;
        NhKey k{false, *o.gateway, o.oif, Family::V4, 0};
        if (a.count(k)) continue;  // a twin: the lower id stays ours, the other goes as stale
        a[k] = o.id;
        used.insert(o.id);
    }
    for (const Route& r : routes) {
        if (!r.nh_id || !groups.count(r.nh_id) || used.count(r.nh_id) || r.protocol != s.protocol) continue;
        NhKey k{true, IpAddr{}, 0, r.family, r.table};
        if (a.count(k)) continue;
        a[k] = r.nh_id;
        used.insert(r.nh_id);
    }
    return a;
}

Result<NhAssignment> assign_ids(const std::vector<NhKey>& wanted, const NhAssignment& previous,
                                const NexthopSettings& s) {
    NhAssignment out;
    std::set<std::uint32_t> taken;
    std::set<NhKey> want(wanted.begin(), wanted.end());
    for (const NhKey& k : want) {
        auto it = previous.find(k);
        if (it == previous.end() || !s.contains(it->second) || taken.count(it->second)) continue;
        out[k] = it->second;
        taken.insert(it->second);
    }
    // Ids still held by keys no longer wanted are not reused in the same
    // pass: their objects are deleted only after the routes moved away.
    for (const auto& [k, id] : previous)
        if (!want.count(k)) taken.insert(id);
    std::uint32_t next = s.id_min;
    for (const NhKey& k : want) {
        if (out.count(k)) continue;
        while (next <= s.id_max && taken.count(next)) ++next;
        if (next > s.id_max || next < s.id_min)
            return Result<NhAssignment>::fail("nexthop id range " + std::to_string(s.id_min) + "-" +
                                              std::to_string(s.id_max) + " exhausted (" + std::to_string(want.size()) +
                                              " objects wanted)");
        out[k] = next;
        taken.insert(next);
        if (next == s.id_max)
            next = 0;  // no further id (guards the wrap at UINT32_MAX)
        else
            ++next;
    }
    return Result<NhAssignment>::ok(std::move(out));
}

Result<NexthopLayout> nexthop_layout(const std::vector<Route>& routes, const std::map<IpAddr, std::uint32_t>& links,
                                     const NhAssignment& previous, const NexthopSettings& s) {
    NexthopLayout out;
    // Which routes get a group, and the keys they need.
    std::vector<bool> grouped(routes.size(), false);
    std::vector<NhKey> keys;
    auto link_of = [&](const Nexthop& nh) -> std::uint32_t {
        if (nh.ifindex) return nh.ifindex;
        auto it = links.find(nh.gateway);
        return it == links.end() ? 0 : it->second;
    };
    for (std::size_t i = 0; i < routes.size(); ++i) {
        const Route& r = routes[i];
        if (r.nexthops.empty() || r.nh_id) continue;
        bool all = true;
        for (const Nexthop& nh : r.nexthops) {
            if (link_of(nh)) continue;
            out.notes.push_back("route " + r.str() + " stays multipath: no link is known for peer " + nh.gateway.str() +
                                " (a nexthop object needs a device)");
            all = false;
            break;
        }
        if (!all) continue;
        grouped[i] = true;
        for (const Nexthop& nh : r.nexthops) keys.push_back(NhKey{false, nh.gateway, link_of(nh), Family::V4, 0});
        keys.push_back(NhKey{true, IpAddr{}, 0, r.family, r.table});
    }
    auto assigned = assign_ids(keys, previous, s);
    if (!assigned) return Result<NexthopLayout>::fail(assigned.error);
    out.assignment = std::move(*assigned.value);

    std::map<std::uint32_t, NexthopObject> singles, groups;
    for (std::size_t i = 0; i < routes.size(); ++i) {
        Route r = routes[i];
        if (!grouped[i]) {
            out.routes.push_back(std::move(r));
            continue;
        }
        NexthopObject g;
        g.id = out.assignment.at(NhKey{true, IpAddr{}, 0, r.family, r.table});
        g.protocol = s.protocol;
        g.group_type = kNhGroupResilient;
        g.buckets = s.buckets;
        g.idle_timer = s.idle_timer_s * kNhClockHz;
        g.unbalanced_timer = s.unbalanced_timer_s * kNhClockHz;
        for (const Nexthop& nh : r.nexthops) {
            const std::uint32_t oif = link_of(nh);
            const std::uint32_t id = out.assignment.at(NhKey{false, nh.gateway, oif, Family::V4, 0});
            NexthopObject& one = singles[id];
            one.id = id;
            one.family = af(nh.gateway.family);
            one.protocol = s.protocol;
            one.gateway = nh.gateway;
            one.oif = oif;
            // A single-peer route's hop has weight 1 already (desired_state).
            const std::uint16_t w = std::clamp<std::uint16_t>(nh.weight, 1, 256);
            auto m = std::find_if(g.group.begin(), g.group.end(), [&](const NhGroupMember& x) { return x.id == id; });
            if (m == g.group.end()) g.group.push_back(NhGroupMember{id, w});
        }
        std::sort(g.group.begin(), g.group.end());
        r.nh_id = g.id;
        r.nexthops.clear();
        r.oif = 0;
        groups[g.id] = std::move(g);
        out.routes.push_back(std::move(r));
    }
    for (auto& [id, o] : singles) out.objects.push_back(std::move(o));
    for (auto& [id, o] : groups) out.objects.push_back(std::move(o));
    return Result<NexthopLayout>::ok(std::move(out));
}

NhPlan plan_nexthops(const std::vector<NexthopObject>& wanted, const std::vector<NexthopObject>& observed,
                     const NexthopSettings& s) {
    NhPlan p;
    std::map<std::uint32_t, const NexthopObject*> have;
    for (const NexthopObject& o : observed)
        if (s.contains(o.id)) have[o.id] = &o;
    std::set<std::uint32_t> want_ids;
    std::vector<NhOp> del_kind, singles, groups;
    for (const NexthopObject& w : wanted) {
        want_ids.insert(w.id);
        auto it = have.find(w.id);
        if (it != have.end() && *it->second == w) continue;
        Reason why = Reason::Missing;
        if (it != have.end()) {
            const NexthopObject& o = *it->second;
            why = o.protocol == s.protocol && o.unknown_attrs.empty() ? Reason::NexthopsDiffer : Reason::Imposter;
            // The kernel replaces a nexthop by a nexthop and a group by a
            // group only; a blackhole or fdb object, too, cannot turn into ours.
            if (o.is_group() != w.is_group() || o.fdb != w.fdb || o.blackhole ||
                (o.is_group() && o.group_type != w.group_type))
                del_kind.push_back(NhOp{NhOpKind::Del, o, why});
        }
        (w.is_group() ? groups : singles).push_back(NhOp{NhOpKind::Replace, w, why});
    }
    std::vector<NhOp> del_groups, del_singles;
    for (const auto& [id, o] : have) {
        if (want_ids.count(id)) continue;
        const Reason why = o->protocol == s.protocol && o->unknown_attrs.empty() ? Reason::Stale : Reason::Imposter;
        (o->is_group() ? del_groups : del_singles).push_back(NhOp{NhOpKind::Del, *o, why});
    }
    for (auto* v : {&del_kind, &singles, &groups})
        for (auto& op : *v) p.before.push_back(std::move(op));
    for (auto* v : {&del_groups, &del_singles})
        for (auto& op : *v) p.after.push_back(std::move(op));
    return p;
}

std::vector<NhOp> plan_nexthops_clean(const std::vector<NexthopObject>& observed, const NexthopSettings& s) {
    std::vector<NexthopObject> in;
    for (const NexthopObject& o : observed)
        if (s.contains(o.id)) in.push_back(o);
    std::stable_sort(in.begin(), in.end(), by_id);
    std::vector<NhOp> ops;
    for (int pass = 0; pass < 2; ++pass)
        for (const NexthopObject& o : in)
            if (o.is_group() == (pass == 0)) ops.push_back(NhOp{NhOpKind::Del, o, Reason::Clean});
    return ops;
}

}  // namespace nra
