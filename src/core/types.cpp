#include "nra/core/types.hpp"

#include <cstdio>

namespace nra {

namespace {

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string_view action_name(RuleAction a) {
    switch (a) {
    case RuleAction::ToTable:
        return "lookup";
    case RuleAction::Goto:
        return "goto";
    case RuleAction::Nop:
        return "nop";
    case RuleAction::Blackhole:
        return "blackhole";
    case RuleAction::Unreachable:
        return "unreachable";
    case RuleAction::Prohibit:
        return "prohibit";
    case RuleAction::Unspec:
        break;
    }
    return "action-unspec";
}

}  // namespace

// Mirrors `ip rule` output so log lines can be pasted into a shell.
std::string Rule::str() const {
    std::string s = family == Family::V6 ? "-6 " : "";
    s += "priority " + std::to_string(priority);
    if (flags & 0x2) s += " not";  // FIB_RULE_INVERT
    s += " from " + (src ? src->str() : std::string("all"));
    if (dst) s += " to " + dst->str();
    if (tos) s += " tos " + hex(tos);
    if (fwmark || fwmask) s += " fwmark " + hex(fwmark) + (fwmask != 0xffffffff ? "/" + hex(fwmask) : "");
    if (!iifname.empty()) s += " iif " + iifname;
    if (!oifname.empty()) s += " oif " + oifname;
    if (l3mdev) s += " l3mdev";
    if (uid_range) s += " uidrange " + std::to_string(uid_range->start) + "-" + std::to_string(uid_range->end);
    if (ip_proto) s += " ipproto " + std::to_string(ip_proto);
    if (sport) s += " sport " + std::to_string(sport->start) + "-" + std::to_string(sport->end);
    if (dport) s += " dport " + std::to_string(dport->start) + "-" + std::to_string(dport->end);
    if (tun_id) s += " tun_id " + std::to_string(tun_id);
    s += " ";
    s += action_name(action);
    if (action == RuleAction::ToTable || table) s += " " + std::to_string(table);
    if (action == RuleAction::Goto) s += " " + std::to_string(goto_target);
    if (suppress_prefixlen) s += " suppress_prefixlength " + std::to_string(*suppress_prefixlen);
    if (suppress_ifgroup) s += " suppress_ifgroup " + std::to_string(*suppress_ifgroup);
    if (flow) s += " realms " + hex(flow);
    s += " proto " + std::to_string(protocol);
    return s;
}

std::string Route::str() const {
    std::string s = family == Family::V6 ? "-6 " : "";
    if (type != kRouteTypeUnicast) s += "type " + std::to_string(type) + " ";
    s += dst.len == 0 ? std::string("default") : dst.str();
    if (src.len) s += " from " + src.str();
    if (tos) s += " tos " + hex(tos);
    s += " table " + std::to_string(table);
    if (priority) s += " metric " + std::to_string(priority);
    s += " proto " + std::to_string(protocol);
    if (nh_id) s += " nhid " + std::to_string(nh_id);
    if (nexthops.size() == 1) {
        s += " via " + nexthops[0].gateway.str();
    } else {
        for (const auto& nh : nexthops)
            s += " nexthop via " + nh.gateway.str() + " weight " + std::to_string(nh.weight);
    }
    if (oif && nexthops.empty()) s += " oif " + std::to_string(oif);
    return s;
}

namespace {
std::optional<std::uint32_t> table_number(std::string_view s) {
    if (s.empty() || s.size() > 10) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (v > 0xffffffffull) return std::nullopt;
    return static_cast<std::uint32_t>(v);
}
}  // namespace

Result<TableSet> parse_peer_set_tables(std::string_view text, std::uint32_t weight) {
    using R = Result<TableSet>;
    const std::string quoted = "'" + std::string(text) + "'";
    const auto dash = text.find('-');
    if (dash == std::string_view::npos)
        return R::fail("invalid " + quoted + ": expected a table range FIRST-LAST (e.g. 30001-30064)");
    const auto first = table_number(text.substr(0, dash));
    const auto last = table_number(text.substr(dash + 1));
    if (!first || !last)
        return R::fail("invalid " + quoted + ": expected a table range FIRST-LAST of table ids (1..4294967295)");
    if (*first > *last) return R::fail("refusing " + quoted + ": the range is reversed");
    if (*last - *first >= kMaxPeerSetTables)
        return R::fail("refusing " + quoted + ": more than " + std::to_string(kMaxPeerSetTables) +
                       " tables (every one is dumped on each resync)");
    if (*first == 0) return R::fail("refusing " + quoted + ": table 0 is 'unspec' (all tables)");
    for (std::uint32_t reserved : {252u, 253u, 254u, 255u})
        if (*first <= reserved && reserved <= *last)
            return R::fail("refusing " + quoted + ": includes the reserved table " + std::to_string(reserved) +
                           " (252 compat, 253 default, 254 main, 255 local)");
    if (*first <= weight && weight <= *last)
        return R::fail("refusing " + quoted + ": includes TABLE_WEIGHT " + std::to_string(weight));
    return R::ok(TableSet{weight, *first, *last});
}

std::string TableSet::str() const {
    std::string s = std::to_string(weight);
    if (first <= last) s += ", " + std::to_string(first) + "-" + std::to_string(last);
    return s;
}

RouteKey route_key(const Route& r) { return RouteKey{r.family, r.table, r.dst, r.src, r.tos, r.priority}; }

std::string_view op_kind_name(OpKind k) {
    switch (k) {
    case OpKind::ReplaceRoute:
        return "replace route";
    case OpKind::AddRule:
        return "add rule";
    case OpKind::DelRule:
        return "delete rule";
    case OpKind::DelRoute:
        return "delete route";
    case OpKind::AppendRule:
        return "append rule";
    }
    return "?";
}

std::string_view reason_name(Reason r) {
    switch (r) {
    case Reason::Missing:
        return "missing";
    case Reason::NexthopsDiffer:
        return "nexthops differ";
    case Reason::Imposter:
        return "imposter";
    case Reason::Stale:
        return "stale";
    case Reason::Duplicate:
        return "duplicate";
    case Reason::NoPeers:
        return "no peers";
    case Reason::Moved:
        return "moved";
    case Reason::Clean:
        return "clean and exit";
    }
    return "?";
}

std::string Op::str() const {
    const std::string obj = std::holds_alternative<Rule>(object) ? rule().str() : route().str();
    return std::string(op_kind_name(kind)) + " " + obj + " (" + std::string(reason_name(reason)) + ")";
}

}  // namespace nra
