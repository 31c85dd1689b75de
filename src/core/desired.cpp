#include "nra/core/desired.hpp"

#include "nra/core/rule_order.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <tuple>

namespace nra {

namespace {

constexpr std::uint32_t kIpv6DefaultMetric = 1024;  // the kernel's IP6_RT_PRIO_USER for metric 0

std::optional<Prefix> rule_source(const Prefix& p) {
    if (p.len == 0) return std::nullopt;  // the kernel reports "from all" as no source
    return p;
}

// A route is ours as-is when it matches the desired one in every field the
// kernel stores for it; device and scope are derived by the kernel.
bool same_route(const Route& a, const Route& b) {
    if (route_key(a) != route_key(b) || a.protocol != b.protocol || a.type != b.type || a.nh_id != b.nh_id ||
        a.unknown_attrs != b.unknown_attrs)
        return false;
    if (a.nh_id) return true;  // the object says where; the kernel reports its hops besides
    if (a.nexthops.size() != b.nexthops.size()) return false;
    for (std::size_t i = 0; i < a.nexthops.size(); ++i) {
        if (a.nexthops[i].gateway != b.nexthops[i].gateway) return false;
        if (a.nexthops.size() > 1 && a.nexthops[i].weight != b.nexthops[i].weight) return false;
    }
    return true;
}

bool is_loopback(const IpAddr& a) {
    if (a.family == Family::V4) return a.bytes[0] == 127;
    static constexpr std::array<std::uint8_t, 16> v6_loopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr std::array<std::uint8_t, 12> v4_mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a.bytes == v6_loopback) return true;
    return std::equal(v4_mapped.begin(), v4_mapped.end(), a.bytes.begin()) && a.bytes[12] == 127;
}

bool is_unspecified(const IpAddr& a) {
    const std::size_t n = a.family == Family::V4 ? 4 : 16;
    return std::all_of(a.bytes.begin(), a.bytes.begin() + static_cast<std::ptrdiff_t>(n),
                       [](std::uint8_t b) { return b == 0; });
}

std::vector<const Rule*> sorted_rules(const std::vector<const Rule*>& rules, const std::vector<std::size_t>& order) {
    std::vector<const Rule*> out;
    out.reserve(order.size());
    for (std::size_t k : order) out.push_back(rules[k]);
    return out;
}

// A peer's nexthops: its own address without a path (on-link as written),
// its path's hops with the peer's weight shared by the hops' weights, or
// none (listed as unusable) when the path says it cannot be reached.
void add_peer_hops(const Peer& p, std::uint16_t weight, const PeerPaths* paths, std::vector<Nexthop>& out, Desired& d) {
    const auto it = paths ? paths->find(PeerKey{p.address, p.vrf}) : PeerPaths::const_iterator{};
    if (!paths || it == paths->end()) {
        out.push_back(Nexthop{p.address, 0, weight});
        return;
    }
    const PeerPath& path = it->second;
    if (!path.usable()) {
        d.unusable_peers.push_back(UnusablePeer{PeerKey{p.address, p.vrf}, p.name, path.kind, path.reason});
        return;
    }
    std::uint32_t total = 0;
    for (const Nexthop& h : path.hops) total += std::max<std::uint32_t>(h.weight, 1);
    for (const Nexthop& h : path.hops) {
        const std::uint32_t share = (std::uint32_t{weight} * std::max<std::uint32_t>(h.weight, 1) + total / 2) / total;
        out.push_back(
            Nexthop{h.gateway, h.ifindex, static_cast<std::uint16_t>(std::clamp<std::uint32_t>(share, 1, 256))});
    }
}

// Sorted, one nexthop per gateway and device: several peers reached through
// the same gateway weigh their sum (capped at the kernel's 256).
std::vector<Nexthop> merge_hops(std::vector<Nexthop> nh) {
    std::sort(nh.begin(), nh.end());
    std::vector<Nexthop> out;
    out.reserve(nh.size());
    for (const Nexthop& h : nh) {
        if (!out.empty() && out.back().gateway == h.gateway && out.back().ifindex == h.ifindex) {
            out.back().weight = static_cast<std::uint16_t>(std::min<std::uint32_t>(out.back().weight + h.weight, 256));
            continue;
        }
        out.push_back(h);
    }
    if (out.size() == 1) out[0].weight = 1;  // single-gateway form: no weight
    return out;
}

void add_route(Desired& d, const Settings& s, Family fam, std::uint32_t table, std::vector<Nexthop> nh) {
    const bool v6 = fam == Family::V6;
    Route r;
    r.family = fam;
    r.table = table;
    r.dst = v6 ? s.destination_v6 : s.destination_v4;
    r.src = Prefix{IpAddr{fam, {}}, 0};
    r.priority = v6 ? kIpv6DefaultMetric : 0;
    r.protocol = s.protocol;
    r.nexthops = std::move(nh);
    d.routes.push_back(std::move(r));
}

}  // namespace

std::string local_peer_reason(const IpAddr& a, const std::set<IpAddr>& local) {
    if (is_unspecified(a)) return "is the unspecified address";
    if (is_loopback(a)) return "is a loopback address";
    if (local.count(a)) return "is one of this node's own addresses";
    return {};
}

TablePlacement placement_of(const std::vector<const Rule*>& rules, const TableSet& tables, std::uint8_t protocol) {
    TablePlacement out;
    for (const Rule* r : rules)
        if (r->src && r->action == RuleAction::ToTable && r->protocol == protocol && tables.in_range(r->table))
            out.emplace(*r->src, r->table);
    return out;
}

std::vector<std::uint32_t> assign_peer_set_tables(const std::vector<PeerSetRequest>& sets,
                                                  const TablePlacement& previous, const TableSet& tables) {
    std::vector<std::uint32_t> out(sets.size(), 0);
    // Every (set, table its CIDRs were in) pair, most CIDRs first: a set
    // takes the table most of its CIDRs were in, else its next best free one.
    struct Claim {
        std::size_t votes;
        std::uint32_t table;
        std::size_t set;
    };
    std::vector<Claim> claims;
    for (std::size_t k = 0; k < sets.size(); ++k) {
        std::map<std::uint32_t, std::size_t> votes;
        for (const Prefix& p : sets[k].cidrs)
            if (auto it = previous.find(p); it != previous.end() && tables.in_range(it->second)) ++votes[it->second];
        for (const auto& [table, n] : votes) claims.push_back(Claim{n, table, k});
    }
    std::stable_sort(claims.begin(), claims.end(), [](const Claim& a, const Claim& b) {
        return a.votes != b.votes ? a.votes > b.votes : a.table < b.table;
    });
    std::set<std::uint32_t> taken;
    for (const Claim& c : claims)
        if (!out[c.set] && !taken.count(c.table)) {
            taken.insert(c.table);
            out[c.set] = c.table;
        }
    std::uint32_t next = tables.first;
    for (std::size_t k = 0; k < sets.size(); ++k) {
        if (out[k]) continue;
        while (next <= tables.last && taken.count(next)) ++next;
        if (next > tables.last || next < tables.first) break;  // exhausted (or an empty range)
        taken.insert(next);
        out[k] = next;
    }
    return out;
}

namespace {

std::string peers_text(const std::vector<IpAddr>& peers) {
    std::string s;
    for (const IpAddr& a : peers) s += (s.empty() ? "" : ", ") + a.str();
    return s;
}

}  // namespace

Desired desired_state(const Model& model, const Settings& s, const std::set<IpAddr>& local, const PeerPaths* paths,
                      const TablePlacement& previous) {
    Desired d;
    d.protocol = s.protocol;

    // Peers per family, first occurrence of an address wins, each with the
    // nexthops its path gives it (none: unusable, listed in unusable_peers).
    std::vector<IpAddr> configured[2];
    std::map<IpAddr, std::vector<Nexthop>> peer_hops;
    std::set<IpAddr> seen;
    std::map<std::string, IpAddr> usable;  // peer name -> its address, for the entries' peer sets
    for (const Peer& p : model.peers) {
        if (p.address.is_v6_link_local()) {
            d.diagnostics.push_back(
                {p.name, "peer " + p.address.str() + " is IPv6 link-local and needs an interface; skipped"});
            ++d.link_local_peers;
            continue;
        }
        if (const std::string why = local_peer_reason(p.address, local); !why.empty()) {
            d.diagnostics.push_back({p.name, "peer " + p.address.str() + " " + why +
                                                 " and cannot be a gateway; skipped until that changes"});
            d.local_peers.insert(p.address);
            continue;
        }
        usable.emplace(p.name, p.address);
        if (!seen.insert(p.address).second) continue;
        configured[p.address.family == Family::V6].push_back(p.address);
        add_peer_hops(p, p.weight ? p.weight : s.peer_weight, paths, peer_hops[p.address], d);
    }
    const auto hops_of = [&](const std::vector<IpAddr>& peers) {
        std::vector<Nexthop> nh;
        for (const IpAddr& a : peers) {
            const auto it = peer_hops.find(a);
            if (it != peer_hops.end()) nh.insert(nh.end(), it->second.begin(), it->second.end());
        }
        return merge_hops(std::move(nh));
    };

    // Entries grouped by their peer set (nullopt: all peers), so that
    // aggregation never merges pools announced to different peers.
    std::map<std::optional<std::vector<IpAddr>>, std::vector<Prefix>> groups;
    std::vector<Prefix> prefixes;
    prefixes.reserve(model.addresses.size());
    for (const AddressEntry& e : model.addresses) {
        auto r = e.prefixes ? Result<std::vector<Prefix>>::ok(*e.prefixes) : parse_pool_entry(e.text);
        if (!r) {
            d.diagnostics.push_back({e.where, "invalid address '" + e.text + "': " + r.error + "; skipped"});
            continue;
        }
        for (const Prefix& p : *r.value) {
            if (p.len != 0) continue;
            d.warnings.push_back(
                {e.where, "address pool entry '" + e.text + "' covers the whole " +
                              std::string(p.family() == Family::V4 ? "IPv4" : "IPv6") +
                              " address space: ALL traffic from this node is routed through the peers"});
        }
        std::optional<std::vector<IpAddr>> key;
        if (e.peers) {
            std::set<IpAddr> addrs;
            for (const std::string& n : *e.peers)
                if (auto it = usable.find(n); it != usable.end()) addrs.insert(it->second);
            key.emplace(addrs.begin(), addrs.end());
            if (addrs.empty())
                d.diagnostics.push_back({e.where, "'" + e.text +
                                                      "' is announced to no peer usable on this node; no rule "
                                                      "(MetalLB does not announce it from here)"});
        }
        if (key) {
            auto& g = groups[key];
            g.insert(g.end(), r.value->begin(), r.value->end());
        }
        prefixes.insert(prefixes.end(), r.value->begin(), r.value->end());
    }
    // The common case, every pool announced to every peer, aggregates once.
    const bool one_set = groups.empty();
    if (!one_set) {
        // The entries announced to every peer form a group of their own.
        std::vector<Prefix> rest;
        for (const AddressEntry& e : model.addresses) {
            if (e.peers) continue;
            auto r = e.prefixes ? Result<std::vector<Prefix>>::ok(*e.prefixes) : parse_pool_entry(e.text);
            if (r) rest.insert(rest.end(), r.value->begin(), r.value->end());
        }
        if (!rest.empty()) groups[std::nullopt] = std::move(rest);
    }
    d.cidrs = aggregate(std::move(prefixes));
    // Several entries that together cover a whole family (0.0.0.0/1 and 128.0.0.0/1).
    for (const Prefix& p : d.cidrs) {
        if (p.len != 0) continue;
        const std::string fam = p.family() == Family::V4 ? "IPv4" : "IPv6";
        if (std::any_of(d.warnings.begin(), d.warnings.end(),
                        [&](const Diagnostic& w) { return w.what.find(" " + fam + " ") != std::string::npos; }))
            continue;
        d.warnings.push_back({"pools", "the address pools together cover the whole " + fam +
                                           " address space: ALL traffic from this node is routed through the peers"});
    }

    // Each group's CIDRs by family: announced to every configured peer of the
    // family -> TABLE_WEIGHT; to some of them -> that set's own table; to
    // none -> no rule (reported above, per entry).
    std::vector<Prefix> weight_cidrs;
    std::map<std::vector<IpAddr>, std::vector<Prefix>> sets;
    for (auto& [key, cidrs] : groups) {
        if (!key) {
            weight_cidrs.insert(weight_cidrs.end(), cidrs.begin(), cidrs.end());
            continue;
        }
        for (int v6 = 0; v6 < 2; ++v6) {
            const Family fam = v6 ? Family::V6 : Family::V4;
            std::vector<IpAddr> peers;
            for (const IpAddr& a : *key)
                if (a.family == fam) peers.push_back(a);
            const bool all = peers.size() == configured[v6].size();  // a subset of the same size is the same set
            if (peers.empty() && !key->empty() && !configured[v6].empty()) {
                const auto n =
                    std::count_if(cidrs.begin(), cidrs.end(), [&](const Prefix& p) { return p.family() == fam; });
                if (n)
                    d.diagnostics.push_back({"peer set " + peers_text(*key),
                                             std::to_string(n) + " " + std::string(family_name(fam)) +
                                                 " pool CIDR(s) announced to no " + std::string(family_name(fam)) +
                                                 " peer usable on this node; no rule"});
            }
            for (const Prefix& p : cidrs) {
                if (p.family() != fam) continue;
                if (all)
                    weight_cidrs.push_back(p);
                else if (!peers.empty())
                    sets[peers].push_back(p);
            }
        }
    }
    weight_cidrs = one_set ? d.cidrs : aggregate(std::move(weight_cidrs));
    std::vector<PeerSetRequest> requests;
    requests.reserve(sets.size());
    for (auto& [peers, cidrs] : sets) requests.push_back(PeerSetRequest{peers, aggregate(std::move(cidrs))});
    const std::vector<std::uint32_t> assigned = assign_peer_set_tables(requests, previous, s.tables());

    const auto add_rules = [&](const std::vector<Prefix>& cidrs, Family fam, std::uint32_t table) {
        for (const Prefix& p : cidrs) {
            if (p.family() != fam) continue;
            Rule rule;
            rule.family = fam;
            rule.priority = s.rule_priority;
            rule.src = rule_source(p);
            rule.action = RuleAction::ToTable;
            rule.table = table;
            if (s.fwmark) {
                rule.fwmark = *s.fwmark;
                rule.fwmask = s.fwmask;
            }
            rule.protocol = s.protocol;
            d.rules.push_back(std::move(rule));
        }
    };
    // A table's route over the set's reachable peers; with none reachable the
    // rules stay and the table has no route until one can be reached.
    const auto route_for = [&](Family fam, std::uint32_t table, const std::vector<IpAddr>& peers,
                               const std::string& what, bool has_cidrs) {
        std::vector<Nexthop> nh = hops_of(peers);
        if (!nh.empty()) {
            add_route(d, s, fam, table, std::move(nh));
        } else if (has_cidrs) {
            d.diagnostics.push_back({what, "no " + std::string(family_name(fam)) + " peer of table " +
                                               std::to_string(table) +
                                               " can be reached: the rules stay, the table has no " +
                                               std::string(family_name(fam)) + " route until one can"});
        }
    };
    d.rules.reserve(d.cidrs.size());

    for (int v6 = 0; v6 < 2; ++v6) {
        const Family fam = v6 ? Family::V6 : Family::V4;
        const auto n_cidrs =
            std::count_if(d.cidrs.begin(), d.cidrs.end(), [&](const Prefix& p) { return p.family() == fam; });
        if (configured[v6].empty()) {
            if (n_cidrs)
                d.diagnostics.push_back({"pools", std::to_string(n_cidrs) + " " + std::string(family_name(fam)) +
                                                      " pool CIDR(s) ignored: no " + std::string(family_name(fam)) +
                                                      " peer"});
            continue;
        }
        const bool has =
            std::any_of(weight_cidrs.begin(), weight_cidrs.end(), [&](const Prefix& p) { return p.family() == fam; });
        route_for(fam, s.table, configured[v6], "peers", has);
        add_rules(weight_cidrs, fam, s.table);
    }
    for (std::size_t k = 0; k < requests.size(); ++k) {
        const PeerSetRequest& req = requests[k];
        const Family fam = req.peers.front().family;
        if (!assigned[k]) {
            d.diagnostics.push_back({"peer set " + peers_text(req.peers),
                                     std::to_string(req.cidrs.size()) + " pool CIDR(s) not routed: no free table in " +
                                         "PEER_SET_TABLES " + std::to_string(s.peer_set_first) + "-" +
                                         std::to_string(s.peer_set_last)});
            continue;
        }
        route_for(fam, assigned[k], req.peers, "peer set " + peers_text(req.peers), true);
        add_rules(req.cidrs, fam, assigned[k]);
        d.peer_sets.push_back(PeerSetTable{fam, assigned[k], req.peers, req.cidrs.size()});
    }
    std::sort(d.routes.begin(), d.routes.end(),
              [](const Route& a, const Route& b) { return std::tie(a.family, a.table) < std::tie(b.family, b.table); });
    // Built from aggregated (sorted) CIDRs the rules are normally in order already.
    if (!std::is_sorted(d.rules.begin(), d.rules.end())) std::sort(d.rules.begin(), d.rules.end());
    d.rules.erase(std::unique(d.rules.begin(), d.rules.end()), d.rules.end());
    return d;
}

std::vector<Op> plan(const Desired& desired, const Observed& observed) {
    std::vector<const Rule*> rules;
    rules.reserve(observed.rules.size());
    for (const Rule& r : observed.rules) rules.push_back(&r);
    return plan(desired, rules, observed.routes);
}

std::vector<Op> plan(const Desired& desired, const std::vector<const Rule*>& rules, const std::vector<Route>& routes,
                     std::vector<const Rule*>* stuck) {
    if (stuck) stuck->clear();
    std::vector<Op> replace_routes, del_routes;

    // Per family and table: at most one wanted route (TABLE_WEIGHT's, or a
    // peer set's); every other route in an owned table goes.
    std::set<std::pair<Family, std::uint32_t>> keys;
    for (const Route& r : desired.routes) keys.emplace(r.family, r.table);
    for (const Route& r : routes) keys.emplace(r.family, r.table);
    for (const auto& [fam, table] : keys) {
        const Route* want = nullptr;
        bool family_wanted = false;
        for (const Route& r : desired.routes) {
            if (r.family != fam) continue;
            family_wanted = true;
            if (r.table == table) want = &r;
        }
        bool have = false;
        if (want)
            for (const Route& o : routes)
                if (same_route(o, *want)) have = true;
        bool kept = false;
        bool same_key_seen = false;
        for (const Route& o : routes) {
            if (o.family != fam || o.table != table) continue;
            if (want && have && !kept && same_route(o, *want)) {
                kept = true;
                continue;
            }
            if (want && !have && route_key(o) == route_key(*want)) {
                // Replaced in place below; deleting it by its old nexthops now
                // could cut into the replacement (IPv6 deletes per nexthop).
                // Leftovers are caught by the verification pass.
                same_key_seen = true;
                continue;
            }
            const Reason why = !family_wanted                   ? Reason::NoPeers
                               : o.protocol == desired.protocol ? Reason::Stale
                                                                : Reason::Imposter;
            del_routes.push_back(Op{OpKind::DelRoute, o, why});
        }
        if (want && !have)
            replace_routes.push_back(
                Op{OpKind::ReplaceRoute, *want, same_key_seen ? Reason::NexthopsDiffer : Reason::Missing});
    }

    // desired.rules is sorted and unique; walk the observed rules in the same
    // order (the kernel's order of our rules normally is) and merge: one
    // comparison per step. Every copy of a wanted rule is labelled with it.
    const auto less = [&](std::size_t a, std::size_t b) { return *rules[a] < *rules[b]; };
    std::vector<std::size_t> order(rules.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    if (!std::is_sorted(order.begin(), order.end(), less)) std::stable_sort(order.begin(), order.end(), less);
    std::vector<char> present(desired.rules.size(), 0);
    std::vector<RuleEntry> entries(rules.size());  // kernel order
    bool changes = false;
    std::size_t i = 0;
    for (std::size_t k : order) {
        const Rule& o = *rules[k];
        while (i < desired.rules.size() && desired.rules[i] < o) ++i;
        entries[k].rule = &o;
        if (i < desired.rules.size() && desired.rules[i] == o) {
            changes |= present[i] != 0;  // a second copy
            present[i] = 1;
            entries[k].keep = static_cast<std::int32_t>(i);
            continue;
        }
        entries[k].why = o.protocol == desired.protocol ? Reason::Stale : Reason::Imposter;
        changes = true;
    }
    std::vector<MissingRule> missing;
    for (std::size_t i = 0; i < desired.rules.size(); ++i)
        if (!present[i]) missing.push_back(MissingRule{&desired.rules[i], static_cast<std::int32_t>(i)});
    // The kernel deletes the first rule a request matches, not necessarily
    // the one meant: the simulation orders the requests so that it is.
    std::vector<Op> rule_ops;
    if (changes || !missing.empty()) {
        std::optional<RulePlan> additions;  // only rules to add: no simulation of the list needed
        if (!changes) additions = plan_additions(sorted_rules(rules, order), missing);
        RulePlan rp = additions ? std::move(*additions) : plan_rule_changes(entries, missing);
        rule_ops = std::move(rp.ops);
        if (stuck) *stuck = std::move(rp.stuck);
    }

    std::vector<Op> ops;
    ops.reserve(replace_routes.size() + rule_ops.size() + del_routes.size());
    for (auto* v : {&replace_routes, &rule_ops, &del_routes})
        for (auto& op : *v) ops.push_back(std::move(op));
    return ops;
}

std::vector<Op> plan_clean(const Observed& observed) {
    std::vector<Op> ops;
    for (const Rule& r : observed.rules) ops.push_back(Op{OpKind::DelRule, r, Reason::Clean});
    for (const Route& r : observed.routes) ops.push_back(Op{OpKind::DelRoute, r, Reason::Clean});
    return ops;
}

}  // namespace nra
