// Kernel objects the agent manages, as plain values. The core knows nothing
// of netlink; the numeric constants mirror <linux/fib_rules.h> and
// <linux/rtnetlink.h> so the codec can copy them unchanged.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nra/base/result.hpp"
#include "nra/core/ip.hpp"

namespace nra {

// FR_ACT_*
enum class RuleAction : std::uint8_t {
    Unspec = 0,
    ToTable = 1,
    Goto = 2,
    Nop = 3,
    Blackhole = 6,
    Unreachable = 7,
    Prohibit = 8,
};

// RTN_* and RTPROT_* values used by the core.
inline constexpr std::uint8_t kRouteTypeUnicast = 1;
inline constexpr std::uint8_t kScopeUniverse = 0;
// Protocol number stamped on everything the agent creates (rules and routes).
// Unassigned in /etc/iproute2/rt_protos; `ip` prints it as "245".
inline constexpr std::uint8_t kOurProtocol = 245;

// The message the kernel sent for an object read from it (dump or event), so
// that a foreign object can be deleted with exactly the attributes the kernel
// gave, as `ip rule flush` does. Never part of an object's identity.
struct KernelMsg {
    std::shared_ptr<const std::vector<std::uint8_t>> bytes;  // null for objects built by the agent
    bool operator==(const KernelMsg&) const { return true; }
    std::strong_ordering operator<=>(const KernelMsg&) const { return std::strong_ordering::equal; }
};

struct PortRange {
    std::uint16_t start = 0, end = 0;
    auto operator<=>(const PortRange&) const = default;
};
struct UidRange {
    std::uint32_t start = 0, end = 0;
    auto operator<=>(const UidRange&) const = default;
};

// A policy routing rule with every field the kernel treats as significant
// (fib_rules.c rule_exists/rule_find). Two rules are the same rule iff equal.
struct Rule {
    Family family = Family::V4;
    std::uint32_t priority = 0;  // kernel omits FRA_PRIORITY when 0
    std::optional<Prefix> src;   // "from"; nullopt = all
    std::optional<Prefix> dst;   // "to"
    std::uint8_t tos = 0;
    RuleAction action = RuleAction::ToTable;
    std::uint32_t flags = 0;  // FIB_RULE_INVERT etc. (only user-visible bits)
    std::uint32_t table = 0;
    std::uint32_t fwmark = 0;
    std::uint32_t fwmask = 0;
    std::string iifname;
    std::string oifname;
    std::uint32_t goto_target = 0;
    std::uint32_t flow = 0;  // realms
    std::uint64_t tun_id = 0;
    std::optional<std::uint32_t> suppress_ifgroup;
    std::optional<std::uint32_t> suppress_prefixlen;
    std::uint8_t l3mdev = 0;
    std::optional<UidRange> uid_range;
    std::uint8_t protocol = 0;
    std::uint8_t ip_proto = 0;
    std::optional<PortRange> sport;
    std::optional<PortRange> dport;
    // Types of attributes the codec does not model (sorted, unique). A rule
    // with any is never equal to one of ours, so it can never pass for ours.
    std::vector<std::uint16_t> unknown_attrs;
    KernelMsg raw;

    auto operator<=>(const Rule&) const = default;
    std::string str() const;  // `ip rule`-like text for logs
};

struct Nexthop {
    IpAddr gateway;
    std::uint32_t ifindex = 0;  // informational; not part of desired identity
    std::uint16_t weight = 1;   // 1..256 (kernel stores weight-1)
    auto operator<=>(const Nexthop&) const = default;
};

struct Route {
    Family family = Family::V4;
    std::uint32_t table = 0;
    Prefix dst;
    Prefix src;  // IPv6 source-specific routes; len 0 otherwise
    std::uint8_t tos = 0;
    std::uint32_t priority = 0;  // metric
    std::uint8_t protocol = 0;
    std::uint8_t type = kRouteTypeUnicast;
    std::uint8_t scope = kScopeUniverse;
    std::uint32_t oif = 0;                     // single-path device, informational
    std::uint32_t nh_id = 0;                   // RTA_NH_ID (nexthop objects), never ours
    std::vector<Nexthop> nexthops;             // sorted by gateway; empty for gatewayless routes
    std::vector<std::uint16_t> unknown_attrs;  // as in Rule
    KernelMsg raw;

    auto operator<=>(const Route&) const = default;
    std::string str() const;
};

// What the kernel uses to tell two routes apart in one table.
struct RouteKey {
    Family family;
    std::uint32_t table;
    Prefix dst;
    Prefix src;
    std::uint8_t tos;
    std::uint32_t priority;
    auto operator<=>(const RouteKey&) const = default;
};
RouteKey route_key(const Route& r);

// AddRule is sent with NLM_F_EXCL (refused when the kernel holds an equal
// rule, as rule_exists judges it); AppendRule without, so the kernel always
// inserts it, after every rule of its family with a priority <= its own -
// also next to an identical rule (how a rule is moved behind one being deleted).
enum class OpKind { ReplaceRoute, AddRule, DelRule, DelRoute, AppendRule };
std::string_view op_kind_name(OpKind k);

// Why an op is planned.
enum class Reason : std::uint8_t {
    Missing,         // wanted, not in the kernel
    NexthopsDiffer,  // the route is there with other nexthops or weights
    Imposter,        // references the table, not ours (not stamped with our protocol)
    Stale,           // ours (stamped), no longer wanted
    Duplicate,       // an extra copy of a wanted rule
    NoPeers,         // the family has no peers: its route goes
    Moved,           // one of ours re-added behind a rule being deleted (a delete takes the first match)
    Clean,           // CLEANANDEXIT
};
std::string_view reason_name(Reason r);  // "missing", "nexthops differ", "imposter", ...

struct Op {
    OpKind kind;
    std::variant<Rule, Route> object;
    Reason reason;
    const Rule& rule() const { return std::get<Rule>(object); }
    const Route& route() const { return std::get<Route>(object); }
    std::string str() const;  // "add rule from ... (missing)"
};

// The tables the agent owns: TABLE_WEIGHT (the all-peers set) and the range
// PEER_SET_TABLES (one table per other peer set). Every rule whose table is
// one of them and every route in one of them is the agent's business;
// nothing else is. An empty range (first > last) owns TABLE_WEIGHT only.
struct TableSet {
    std::uint32_t weight = 20;
    std::uint32_t first = 1, last = 0;  // inclusive; empty when first > last
    bool in_range(std::uint32_t t) const { return first <= t && t <= last; }
    bool contains(std::uint32_t t) const { return t == weight || in_range(t); }
    std::string str() const;  // "20" or "20, 30001-30064"
    auto operator<=>(const TableSet&) const = default;
};

inline constexpr std::uint32_t kMaxPeerSetTables = 1024;
// PEER_SET_TABLES text "FIRST-LAST" (decimal, inclusive) beside TABLE_WEIGHT
// `weight`: refused when reversed, wider than kMaxPeerSetTables, or
// including 0, 252..255 or `weight`.
Result<TableSet> parse_peer_set_tables(std::string_view text, std::uint32_t weight);

// What the kernel holds that references the owned tables, both families.
struct Observed {
    std::vector<Rule> rules;
    std::vector<Route> routes;
};

}  // namespace nra
