// Encoding and decoding of policy rules (fib_rule_hdr + FRA_*) and routes
// (rtmsg + RTA_*). Reference: net/core/fib_rules.c (fib_nl_fill_rule,
// fib_nl2rule, rule_find), net/ipv4/fib_semantics.c (fib_dump_info,
// fib_nh_match), net/ipv6/route.c (rt6_fill_node, rtm_to_fib6_config).
#include "nra/netlink/rtnl.hpp"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/neighbour.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <endian.h>

#include "attr.hpp"

namespace nra::nl {

namespace {

using detail::attr_u32;
using detail::attr_u8;
using detail::AttrTable;

// Bits of fib_rule_hdr.flags that the kernel computes on every dump from the
// current state (goto target missing, iif/oif device absent) instead of
// storing what userspace sent: not part of a rule's identity, and never sent.
constexpr std::uint32_t kRuleStateFlags = FIB_RULE_UNRESOLVED | FIB_RULE_IIF_DETACHED | FIB_RULE_OIF_DETACHED;

// Table ids >= 256 do not fit the 8-bit header field: RT_TABLE_UNSPEC there,
// the real id in FRA_TABLE / RTA_TABLE.
std::uint8_t header_table(std::uint32_t table) {
    return table < 256 ? static_cast<std::uint8_t>(table) : std::uint8_t(RT_TABLE_UNSPEC);
}

bool family_ok(unsigned f) { return f == AF_INET || f == AF_INET6; }

// An address attribute of family f; false when the payload is short.
bool get_addr(const nlattr* a, Family f, IpAddr& out) {
    if (!a || mnl_attr_get_payload_len(a) < family_bytes(f)) return false;
    out = IpAddr{};
    out.family = f;
    std::memcpy(out.bytes.data(), mnl_attr_get_payload(a), family_bytes(f));
    return true;
}

// RTA_VIA: struct rtvia { u16 family; u8 addr[] }.
bool get_via(const nlattr* a, IpAddr& out) {
    if (!a || mnl_attr_get_payload_len(a) < sizeof(rtvia)) return false;
    auto* via = static_cast<const rtvia*>(mnl_attr_get_payload(a));
    if (!family_ok(via->rtvia_family)) return false;
    Family f = static_cast<Family>(via->rtvia_family);
    if (mnl_attr_get_payload_len(a) < sizeof(rtvia) + family_bytes(f)) return false;
    out = IpAddr{};
    out.family = f;
    std::memcpy(out.bytes.data(), via->rtvia_addr, family_bytes(f));
    return true;
}

// A message under construction in a buffer of `cap` bytes. Every put checks
// the space left first; the first one that does not fit marks the message
// failed and nothing more is written (the encoder then returns 0).
// An attribute's length is 16 bits, header included.
constexpr std::size_t kMaxAttrPayload = 0xffff - MNL_ATTR_HDRLEN;

struct Writer {
    nlmsghdr* nlh;
    std::size_t cap;
    bool ok = true;

    bool room(std::size_t bytes) {
        if (ok && nlh->nlmsg_len + MNL_ALIGN(bytes) > cap) ok = false;
        return ok;
    }
    void* reserve(std::size_t bytes) {
        if (!room(bytes)) return nullptr;
        void* p = mnl_nlmsg_get_payload_tail(nlh);
        std::memset(p, 0, MNL_ALIGN(bytes));
        nlh->nlmsg_len += static_cast<std::uint32_t>(MNL_ALIGN(bytes));
        return p;
    }
    void put(std::uint16_t type, std::size_t len, const void* data) {
        if (len > kMaxAttrPayload || !room(MNL_ATTR_HDRLEN + len)) {
            ok = false;
            return;
        }
        mnl_attr_put(nlh, type, len, data);
    }
    void u8(std::uint16_t type, std::uint8_t v) { put(type, sizeof v, &v); }
    void u32(std::uint16_t type, std::uint32_t v) { put(type, sizeof v, &v); }
    void u64(std::uint16_t type, std::uint64_t v) { put(type, sizeof v, &v); }
    void strz(std::uint16_t type, const std::string& v) { put(type, v.size() + 1, v.c_str()); }
    void addr(std::uint16_t type, const IpAddr& a) { put(type, family_bytes(a.family), a.bytes.data()); }
    void via(const IpAddr& a) {
        char buf[sizeof(rtvia) + 16] = {};
        auto* v = reinterpret_cast<rtvia*>(buf);
        v->rtvia_family = static_cast<__kernel_sa_family_t>(a.family);
        std::memcpy(buf + sizeof(rtvia), a.bytes.data(), family_bytes(a.family));
        put(RTA_VIA, sizeof(rtvia) + family_bytes(a.family), buf);
    }
    // A gateway of the route's family goes in RTA_GATEWAY, another family
    // (IPv4 route via an IPv6 neighbour) in RTA_VIA.
    void gateway(Family route_family, const IpAddr& gw) {
        if (gw.family == route_family)
            addr(RTA_GATEWAY, gw);
        else
            via(gw);
    }
    // A nest whose 16-bit length must not wrap: end() fails the message when
    // the payload grew past kMaxAttrPayload.
    nlattr* nest_start(std::uint16_t type) {
        auto* a = static_cast<nlattr*>(reserve(MNL_ATTR_HDRLEN));
        if (a) a->nla_type = type | NLA_F_NESTED;
        return a;
    }
    void nest_end(nlattr* a) {
        if (!ok) return;
        std::size_t len = reinterpret_cast<char*>(mnl_nlmsg_get_payload_tail(nlh)) - reinterpret_cast<char*>(a);
        if (len > 0xffff) {
            ok = false;
            return;
        }
        a->nla_len = static_cast<std::uint16_t>(len);
    }
    std::size_t done() const { return ok ? nlh->nlmsg_len : 0; }
};

// Decoded prefixes keep whatever address the kernel holds, host bits
// included: a rule added as "from 10.0.0.1/24" must be deleted with exactly
// that address (fib4_rule_compare compares the stored value).
Prefix raw_prefix(const IpAddr& a, std::uint8_t len) {
    Prefix p;
    p.addr = a;
    p.len = len;
    return p;
}

}  // namespace

namespace {

// The header, or nullptr when not even it fits.
Writer start_message(void* buf, std::size_t cap, std::uint16_t type, std::uint16_t flags, std::uint32_t seq,
                     std::size_t extra_header) {
    if (cap < MNL_NLMSG_HDRLEN + MNL_ALIGN(extra_header)) return Writer{nullptr, cap, false};
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = seq;
    mnl_nlmsg_put_extra_header(nlh, extra_header);
    return Writer{nlh, cap};
}

// Attributes of a message after its family header: each type once (sorted)
// that `known` rejects, so an object carrying a selector or property the
// codec does not model is never mistaken for one it does.
template <class Known>
std::vector<std::uint16_t> unknown_types(const nlmsghdr* nlh, std::size_t offset, Known&& known) {
    std::vector<std::uint16_t> out;
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(offset)) return out;
    auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, offset));
    auto* end = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
    for (; mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a)) {
        if (!known(a)) out.push_back(mnl_attr_get_type(a));
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

KernelMsg keep_message(const nlmsghdr* nlh) {
    auto* p = reinterpret_cast<const std::uint8_t*>(nlh);
    return KernelMsg{std::make_shared<const std::vector<std::uint8_t>>(p, p + nlh->nlmsg_len)};
}

// Attribute numbers newer than the build's <linux/fib_rules.h>.
constexpr std::uint16_t kFraSportMask = 28, kFraDportMask = 29;

// FRA_* the codec decodes (see Rule), FRA_PAD (alignment only), and the
// port masks 6.x kernels report for a single-port range (0xffff: the exact
// port, what the range already says).
bool known_rule_attr(const nlattr* a) {
    const std::uint16_t t = mnl_attr_get_type(a);
    if (t == kFraSportMask || t == kFraDportMask)
        return mnl_attr_get_payload_len(a) == 2 && mnl_attr_get_u16(a) == 0xffff;
    switch (t) {
    case FRA_DST:
    case FRA_SRC:
    case FRA_IIFNAME:
    case FRA_GOTO:
    case FRA_PRIORITY:
    case FRA_FWMARK:
    case FRA_FLOW:
    case FRA_TUN_ID:
    case FRA_SUPPRESS_IFGROUP:
    case FRA_SUPPRESS_PREFIXLEN:
    case FRA_TABLE:
    case FRA_FWMASK:
    case FRA_OIFNAME:
    case FRA_PAD:
    case FRA_L3MDEV:
    case FRA_UID_RANGE:
    case FRA_PROTOCOL:
    case FRA_IP_PROTO:
    case FRA_SPORT_RANGE:
    case FRA_DPORT_RANGE:
        return true;
    default:
        return false;  // e.g. FRA_DSCP (25), FRA_FLOWLABEL (26) and their masks on 6.x kernels
    }
}

// RTA_* the codec decodes, and what the kernel adds to every route it
// reports without it selecting anything: RTA_CACHEINFO (usage counters),
// RTA_PREF (IPv6 router preference, always "medium" for configured routes),
// RTA_PAD (alignment).
bool known_route_attr(const nlattr* a) {
    switch (mnl_attr_get_type(a)) {
    case RTA_DST:
    case RTA_SRC:
    case RTA_OIF:
    case RTA_GATEWAY:
    case RTA_PRIORITY:
    case RTA_MULTIPATH:
    case RTA_TABLE:
    case RTA_VIA:
    case RTA_NH_ID:
    case RTA_CACHEINFO:
    case RTA_PREF:
    case RTA_PAD:
        return true;
    default:
        return false;  // RTA_PREFSRC, RTA_METRICS, RTA_FLOW, RTA_ENCAP, RTA_EXPIRES, ...
    }
}

// Inside one rtnexthop of RTA_MULTIPATH only the gateway is modelled.
bool known_nexthop_attr(std::uint16_t t) { return t == RTA_GATEWAY || t == RTA_VIA; }

}  // namespace

// ---------------------------------------------------------------- rules

std::size_t encode_rule(void* buf, std::size_t cap, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags,
                        std::uint32_t seq, const Rule& r) {
    Writer w = start_message(buf, cap, nlmsg_type, nlmsg_flags, seq, sizeof(fib_rule_hdr));
    if (!w.ok) return 0;
    auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_get_payload(w.nlh));
    frh->family = static_cast<std::uint8_t>(r.family);
    frh->dst_len = r.dst ? r.dst->len : 0;
    frh->src_len = r.src ? r.src->len : 0;
    frh->tos = r.tos;
    frh->table = header_table(r.table);
    frh->action = static_cast<std::uint8_t>(r.action);
    frh->flags = r.flags & ~kRuleStateFlags;

    // Always sent: priority 0 is a real preference (the local rule's), and a
    // delete without FRA_PRIORITY would match a rule of any priority.
    w.u32(FRA_PRIORITY, r.priority);
    // Always sent, also for small ids; the kernel prefers it to the header.
    w.u32(FRA_TABLE, r.table);
    if (r.src && r.src->len) w.addr(FRA_SRC, r.src->addr);
    if (r.dst && r.dst->len) w.addr(FRA_DST, r.dst->addr);
    if (r.fwmark) w.u32(FRA_FWMARK, r.fwmark);
    if (r.fwmask) w.u32(FRA_FWMASK, r.fwmask);
    if (!r.iifname.empty()) w.strz(FRA_IIFNAME, r.iifname);
    if (!r.oifname.empty()) w.strz(FRA_OIFNAME, r.oifname);
    if (r.goto_target || r.action == RuleAction::Goto) w.u32(FRA_GOTO, r.goto_target);
    if (r.flow) w.u32(FRA_FLOW, r.flow);
    if (r.tun_id) w.u64(FRA_TUN_ID, htobe64(r.tun_id));
    if (r.suppress_ifgroup) w.u32(FRA_SUPPRESS_IFGROUP, *r.suppress_ifgroup);
    if (r.suppress_prefixlen) w.u32(FRA_SUPPRESS_PREFIXLEN, *r.suppress_prefixlen);
    if (r.l3mdev) w.u8(FRA_L3MDEV, r.l3mdev);
    if (r.uid_range) {
        fib_rule_uid_range u{r.uid_range->start, r.uid_range->end};
        w.put(FRA_UID_RANGE, sizeof u, &u);
    }
    if (r.protocol) w.u8(FRA_PROTOCOL, r.protocol);
    if (r.ip_proto) w.u8(FRA_IP_PROTO, r.ip_proto);
    if (r.sport) {
        fib_rule_port_range p{r.sport->start, r.sport->end};
        w.put(FRA_SPORT_RANGE, sizeof p, &p);
    }
    if (r.dport) {
        fib_rule_port_range p{r.dport->start, r.dport->end};
        w.put(FRA_DPORT_RANGE, sizeof p, &p);
    }
    return w.done();
}

std::size_t encode_kernel_msg(void* buf, std::size_t cap, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags,
                              std::uint32_t seq, const KernelMsg& msg) {
    if (!msg.bytes || msg.bytes->size() < MNL_NLMSG_HDRLEN || msg.bytes->size() > cap) return 0;
    std::memcpy(buf, msg.bytes->data(), msg.bytes->size());
    auto* nlh = static_cast<nlmsghdr*>(buf);
    nlh->nlmsg_len = static_cast<std::uint32_t>(msg.bytes->size());
    nlh->nlmsg_type = nlmsg_type;
    nlh->nlmsg_flags = nlmsg_flags;
    nlh->nlmsg_seq = seq;
    nlh->nlmsg_pid = 0;
    return nlh->nlmsg_len;
}

bool decode_rule(const nlmsghdr* nlh, Rule& out) {
    if (nlh->nlmsg_type != RTM_NEWRULE && nlh->nlmsg_type != RTM_DELRULE) return false;
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(fib_rule_hdr)) return false;
    auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(nlh));
    if (!family_ok(frh->family)) return false;
    AttrTable<FRA_MAX> tb;
    if (!tb.parse(nlh, sizeof(fib_rule_hdr))) return false;

    // A prefix longer than its family is malformed (the kernel refuses to
    // store one); Prefix arithmetic assumes len <= family bits.
    const unsigned bits = family_bits(static_cast<Family>(frh->family));
    if (frh->src_len > bits || frh->dst_len > bits) return false;

    Rule r;
    r.family = static_cast<Family>(frh->family);
    r.tos = frh->tos;
    r.action = static_cast<RuleAction>(frh->action);
    r.flags = frh->flags & ~kRuleStateFlags;
    r.table = frh->table;
    attr_u32(tb[FRA_TABLE], r.table);        // preferred when present
    attr_u32(tb[FRA_PRIORITY], r.priority);  // omitted when 0
    IpAddr a;
    if (frh->src_len) {
        if (!get_addr(tb[FRA_SRC], r.family, a)) return false;
        r.src = raw_prefix(a, frh->src_len);
    }
    if (frh->dst_len) {
        if (!get_addr(tb[FRA_DST], r.family, a)) return false;
        r.dst = raw_prefix(a, frh->dst_len);
    }
    attr_u32(tb[FRA_FWMARK], r.fwmark);
    attr_u32(tb[FRA_FWMASK], r.fwmask);
    if (auto* s = tb[FRA_IIFNAME])
        r.iifname.assign(static_cast<const char*>(mnl_attr_get_payload(s)),
                         strnlen(static_cast<const char*>(mnl_attr_get_payload(s)), mnl_attr_get_payload_len(s)));
    if (auto* s = tb[FRA_OIFNAME])
        r.oifname.assign(static_cast<const char*>(mnl_attr_get_payload(s)),
                         strnlen(static_cast<const char*>(mnl_attr_get_payload(s)), mnl_attr_get_payload_len(s)));
    attr_u32(tb[FRA_GOTO], r.goto_target);
    attr_u32(tb[FRA_FLOW], r.flow);
    if (auto* t = tb[FRA_TUN_ID]; t && mnl_attr_get_payload_len(t) >= 8) r.tun_id = be64toh(mnl_attr_get_u64(t));
    // The kernel stores "unset" as -1 and omits the attribute then.
    std::uint32_t v;
    if (attr_u32(tb[FRA_SUPPRESS_IFGROUP], v) && v != 0xffffffffu) r.suppress_ifgroup = v;
    if (attr_u32(tb[FRA_SUPPRESS_PREFIXLEN], v) && v != 0xffffffffu) r.suppress_prefixlen = v;
    attr_u8(tb[FRA_L3MDEV], r.l3mdev);
    if (auto* u = tb[FRA_UID_RANGE]; u && mnl_attr_get_payload_len(u) >= sizeof(fib_rule_uid_range)) {
        fib_rule_uid_range ur;
        std::memcpy(&ur, mnl_attr_get_payload(u), sizeof ur);
        r.uid_range = UidRange{ur.start, ur.end};
    }
    attr_u8(tb[FRA_PROTOCOL], r.protocol);
    attr_u8(tb[FRA_IP_PROTO], r.ip_proto);
    if (auto* p = tb[FRA_SPORT_RANGE]; p && mnl_attr_get_payload_len(p) >= sizeof(fib_rule_port_range)) {
        fib_rule_port_range pr;
        std::memcpy(&pr, mnl_attr_get_payload(p), sizeof pr);
        r.sport = PortRange{pr.start, pr.end};
    }
    if (auto* p = tb[FRA_DPORT_RANGE]; p && mnl_attr_get_payload_len(p) >= sizeof(fib_rule_port_range)) {
        fib_rule_port_range pr;
        std::memcpy(&pr, mnl_attr_get_payload(p), sizeof pr);
        r.dport = PortRange{pr.start, pr.end};
    }
    r.unknown_attrs = unknown_types(nlh, sizeof(fib_rule_hdr), known_rule_attr);
    // The kernel's own message is kept only where re-encoding the fields
    // could not say the same: a rule with attributes the codec does not
    // model (deleted by sending exactly these bytes back).
    if (!r.unknown_attrs.empty()) r.raw = keep_message(nlh);
    out = std::move(r);
    return true;
}

// ---------------------------------------------------------------- routes

std::size_t encode_route(void* buf, std::size_t cap, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags,
                         std::uint32_t seq, const Route& r) {
    Writer w = start_message(buf, cap, nlmsg_type, nlmsg_flags, seq, sizeof(rtmsg));
    if (!w.ok) return 0;
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_get_payload(w.nlh));
    rtm->rtm_family = static_cast<std::uint8_t>(r.family);
    rtm->rtm_dst_len = r.dst.len;
    rtm->rtm_src_len = r.src.len;
    rtm->rtm_tos = r.tos;
    rtm->rtm_table = header_table(r.table);
    rtm->rtm_protocol = r.protocol;
    rtm->rtm_scope = r.scope;
    rtm->rtm_type = r.type;
    rtm->rtm_flags = 0;

    w.u32(RTA_TABLE, r.table);
    if (r.dst.len) w.addr(RTA_DST, r.dst.addr);
    if (r.src.len) w.addr(RTA_SRC, r.src.addr);
    if (r.priority) w.u32(RTA_PRIORITY, r.priority);
    if (r.nh_id) {
        // A route using a nexthop object: the kernel refuses RTA_NH_ID
        // together with a gateway, device or multipath ("Nexthop
        // specification and nexthop id are mutually exclusive"), though its
        // dumps report both. The id alone says which route.
        w.u32(RTA_NH_ID, r.nh_id);
    } else if (r.nexthops.size() == 1) {
        const Nexthop& nh = r.nexthops.front();
        w.gateway(r.family, nh.gateway);
        if (std::uint32_t oif = r.oif ? r.oif : nh.ifindex) w.u32(RTA_OIF, oif);
    } else if (r.nexthops.size() > 1) {
        nlattr* mp = w.nest_start(RTA_MULTIPATH);
        for (const Nexthop& nh : r.nexthops) {
            auto* rtnh = static_cast<rtnexthop*>(w.reserve(sizeof(rtnexthop)));
            if (!rtnh) break;
            rtnh->rtnh_hops = static_cast<std::uint8_t>(std::clamp<unsigned>(nh.weight, 1, 256) - 1);
            rtnh->rtnh_ifindex = static_cast<int>(nh.ifindex);
            w.gateway(r.family, nh.gateway);
            if (!w.ok) break;
            rtnh->rtnh_len = static_cast<unsigned short>(reinterpret_cast<char*>(mnl_nlmsg_get_payload_tail(w.nlh)) -
                                                         reinterpret_cast<char*>(rtnh));
        }
        w.nest_end(mp);
    } else if (r.oif) {
        w.u32(RTA_OIF, r.oif);
    }
    return w.done();
}

std::size_t route_message_size(const Route& r, std::size_t nexthops) {
    auto hop_bytes = [&](const IpAddr& gw) {
        return MNL_ALIGN(sizeof(rtnexthop)) +
               (gw.family == r.family ? MNL_ALIGN(MNL_ATTR_HDRLEN + family_bytes(gw.family))
                                      : MNL_ALIGN(MNL_ATTR_HDRLEN + sizeof(rtvia) + family_bytes(gw.family)));
    };
    Route shape = r;
    shape.nexthops.clear();
    shape.oif = 0;
    std::size_t size = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(rtmsg)) + MNL_ALIGN(MNL_ATTR_HDRLEN + 4);  // RTA_TABLE
    if (r.dst.len) size += MNL_ALIGN(MNL_ATTR_HDRLEN + family_bytes(r.family));
    if (r.src.len) size += MNL_ALIGN(MNL_ATTR_HDRLEN + family_bytes(r.family));
    if (r.priority) size += MNL_ALIGN(MNL_ATTR_HDRLEN + 4);
    if (r.nh_id) return size + MNL_ALIGN(MNL_ATTR_HDRLEN + 4);
    // The largest hop of this route stands for every hop (an IPv4 route via
    // IPv6 neighbours costs more per hop).
    std::size_t per_hop = 0;
    for (const Nexthop& nh : r.nexthops) per_hop = std::max(per_hop, hop_bytes(nh.gateway));
    if (per_hop == 0) per_hop = hop_bytes(IpAddr{r.family, {}});
    if (nexthops == 1)
        return size + per_hop - MNL_ALIGN(sizeof(rtnexthop)) + MNL_ALIGN(MNL_ATTR_HDRLEN + 4);  // + RTA_OIF
    return size + MNL_ATTR_HDRLEN + nexthops * per_hop;
}

std::size_t max_route_nexthops(const Route& r) {
    // What the kernel adds when it reports the route (RTA_CACHEINFO and
    // RTA_PREF for IPv6, RTA_OIF of a single path), with room to spare.
    constexpr std::size_t kKernelExtra = 128;
    std::size_t n = 0;
    for (std::size_t step = std::size_t(1) << 16; step; step >>= 1) {
        std::size_t m = n + step;
        std::size_t size = route_message_size(r, m);
        // The multipath nest's 16-bit length, too.
        std::size_t nest = size - route_message_size(r, 0);
        if (size + kKernelExtra <= kMaxRouteMessage && nest <= 0xffff) n = m;
    }
    return std::max<std::size_t>(n, 1);
}

bool decode_route(const nlmsghdr* nlh, Route& out) {
    if (nlh->nlmsg_type != RTM_NEWROUTE && nlh->nlmsg_type != RTM_DELROUTE) return false;
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(rtmsg)) return false;
    auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
    if (!family_ok(rtm->rtm_family)) return false;
    // Cached clones (IPv4 exceptions, IPv6 PMTU/redirect entries) are not
    // routes anyone configured.
    if (rtm->rtm_flags & RTM_F_CLONED) return false;
    AttrTable<RTA_MAX> tb;
    if (!tb.parse(nlh, sizeof(rtmsg))) return false;

    const unsigned bits = family_bits(static_cast<Family>(rtm->rtm_family));
    if (rtm->rtm_dst_len > bits || rtm->rtm_src_len > bits) return false;  // as for rules

    Route r;
    r.family = static_cast<Family>(rtm->rtm_family);
    r.table = rtm->rtm_table;
    attr_u32(tb[RTA_TABLE], r.table);
    IpAddr a;
    a.family = r.family;
    r.dst = raw_prefix(a, rtm->rtm_dst_len);
    r.src = raw_prefix(a, rtm->rtm_src_len);
    if (rtm->rtm_dst_len) {
        if (!get_addr(tb[RTA_DST], r.family, a)) return false;
        r.dst = raw_prefix(a, rtm->rtm_dst_len);
    }
    if (rtm->rtm_src_len) {
        if (!get_addr(tb[RTA_SRC], r.family, a)) return false;
        r.src = raw_prefix(a, rtm->rtm_src_len);
    }
    r.tos = rtm->rtm_tos;
    attr_u32(tb[RTA_PRIORITY], r.priority);
    r.protocol = rtm->rtm_protocol;
    r.type = rtm->rtm_type;
    r.scope = rtm->rtm_scope;
    attr_u32(tb[RTA_OIF], r.oif);
    attr_u32(tb[RTA_NH_ID], r.nh_id);

    IpAddr gw;
    if (get_addr(tb[RTA_GATEWAY], r.family, gw) || get_via(tb[RTA_VIA], gw)) {
        r.nexthops.push_back(Nexthop{gw, r.oif, 1});
    }
    std::vector<std::uint16_t> nested_unknown;  // kNestedAttr | type, inside an rtnexthop
    if (const nlattr* mp = tb[RTA_MULTIPATH]) {
        auto* p = static_cast<const char*>(mnl_attr_get_payload(mp));
        std::size_t left = mnl_attr_get_payload_len(mp);
        while (left >= sizeof(rtnexthop)) {
            auto* rtnh = reinterpret_cast<const rtnexthop*>(p);
            if (rtnh->rtnh_len < sizeof(rtnexthop) || rtnh->rtnh_len > left) return false;
            Nexthop nh;
            nh.ifindex = static_cast<std::uint32_t>(rtnh->rtnh_ifindex);
            nh.weight = static_cast<std::uint16_t>(rtnh->rtnh_hops + 1);
            nh.gateway.family = r.family;
            AttrTable<RTA_MAX> nt;
            int alen = static_cast<int>(rtnh->rtnh_len) - static_cast<int>(MNL_ALIGN(sizeof(rtnexthop)));
            if (alen > 0) {
                nt.parse_span(reinterpret_cast<const nlattr*>(p + MNL_ALIGN(sizeof(rtnexthop))), alen);
                if (!get_addr(nt[RTA_GATEWAY], r.family, nh.gateway)) get_via(nt[RTA_VIA], nh.gateway);
                auto* first = reinterpret_cast<const nlattr*>(p + MNL_ALIGN(sizeof(rtnexthop)));
                for (auto* x = first; mnl_attr_ok(x, alen - static_cast<int>(reinterpret_cast<const char*>(x) -
                                                                             reinterpret_cast<const char*>(first)));
                     x = mnl_attr_next(x))
                    if (!known_nexthop_attr(mnl_attr_get_type(x)))
                        nested_unknown.push_back(kNestedAttr | mnl_attr_get_type(x));
            }
            r.nexthops.push_back(nh);
            std::size_t step = MNL_ALIGN(rtnh->rtnh_len);
            if (step >= left) break;
            left -= step;
            p += step;
        }
    }
    r.unknown_attrs = unknown_types(nlh, sizeof(rtmsg), known_route_attr);
    for (std::uint16_t t : nested_unknown) r.unknown_attrs.push_back(t);
    std::sort(r.unknown_attrs.begin(), r.unknown_attrs.end());
    r.unknown_attrs.erase(std::unique(r.unknown_attrs.begin(), r.unknown_attrs.end()), r.unknown_attrs.end());
    if (!r.unknown_attrs.empty() && !r.nh_id) r.raw = keep_message(nlh);
    std::sort(r.nexthops.begin(), r.nexthops.end());
    out = std::move(r);
    return true;
}

// ---------------------------------------------------------------- nexthop objects

namespace {

// Attribute numbers newer than the build's <linux/nexthop.h>, reported by
// newer kernels for groups: NHA_GROUP_STATS (per-member packet counts,
// state) and the hardware statistics switches (ours when off).
constexpr std::uint16_t kNhaGroupStats = 14, kNhaHwStatsEnable = 15, kNhaHwStatsUsed = 16;
// nh_flags that are the nexthop's state, computed by the kernel.
constexpr std::uint32_t kNhStateFlags =
    RTNH_F_DEAD | RTNH_F_LINKDOWN | RTNH_F_OFFLOAD | RTNH_F_TRAP | RTNH_F_UNRESOLVED | 128 /* RTNH_F_OFFLOAD_FAILED */;

bool known_nexthop_obj_attr(const nlattr* a) {
    switch (mnl_attr_get_type(a)) {
    case NHA_ID:
    case NHA_GROUP:
    case NHA_GROUP_TYPE:
    case NHA_BLACKHOLE:
    case NHA_OIF:
    case NHA_GATEWAY:
    case NHA_FDB:
    case NHA_RES_GROUP:
    case kNhaGroupStats:
        return true;
    case kNhaHwStatsEnable:
    case kNhaHwStatsUsed: {
        std::uint32_t v = 0;
        return attr_u32(a, v) && v == 0;
    }
    default:
        return false;
    }
}

}  // namespace

std::size_t encode_nexthop(void* buf, std::size_t cap, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags,
                           std::uint32_t seq, const NexthopObject& o) {
    Writer w = start_message(buf, cap, nlmsg_type, nlmsg_flags, seq, sizeof(nhmsg));
    if (!w.ok) return 0;
    auto* nhm = static_cast<nhmsg*>(mnl_nlmsg_get_payload(w.nlh));
    w.u32(NHA_ID, o.id);
    if (nlmsg_type != RTM_NEWNEXTHOP) return w.done();  // delete / get: by id
    nhm->nh_family = o.is_group() || o.blackhole ? AF_UNSPEC : o.family;
    nhm->nh_protocol = o.protocol;
    nhm->nh_flags = o.flags & ~kNhStateFlags;
    if (o.is_group()) {
        std::vector<nexthop_grp> g(o.group.size());
        for (std::size_t i = 0; i < o.group.size(); ++i) {
            g[i] = nexthop_grp{};
            g[i].id = o.group[i].id;
            const unsigned wt = std::clamp<unsigned>(o.group[i].weight, 1, 256) - 1;
            g[i].weight = static_cast<std::uint8_t>(wt);
        }
        w.put(NHA_GROUP, g.size() * sizeof(nexthop_grp), g.data());
        w.put(NHA_GROUP_TYPE, sizeof(std::uint16_t), &o.group_type);
        if (o.group_type == kNhGroupResilient) {
            nlattr* res = w.nest_start(NHA_RES_GROUP);
            w.put(NHA_RES_GROUP_BUCKETS, sizeof(std::uint16_t), &o.buckets);
            w.u32(NHA_RES_GROUP_IDLE_TIMER, o.idle_timer);
            w.u32(NHA_RES_GROUP_UNBALANCED_TIMER, o.unbalanced_timer);
            w.nest_end(res);
        }
    } else if (o.blackhole) {
        w.put(NHA_BLACKHOLE, 0, nullptr);
    } else {
        if (o.oif) w.u32(NHA_OIF, o.oif);
        if (o.gateway) w.addr(NHA_GATEWAY, *o.gateway);
    }
    if (o.fdb) w.put(NHA_FDB, 0, nullptr);
    return w.done();
}

bool decode_nexthop(const nlmsghdr* nlh, NexthopObject& out) {
    if (nlh->nlmsg_type != RTM_NEWNEXTHOP && nlh->nlmsg_type != RTM_DELNEXTHOP) return false;
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nhmsg)) return false;
    auto* nhm = static_cast<const nhmsg*>(mnl_nlmsg_get_payload(nlh));
    AttrTable<NHA_MAX> tb;
    if (!tb.parse(nlh, sizeof(nhmsg))) return false;
    NexthopObject o;
    if (!attr_u32(tb[NHA_ID], o.id) || o.id == 0) return false;
    o.family = nhm->nh_family;
    o.protocol = nhm->nh_protocol;
    o.flags = nhm->nh_flags & ~kNhStateFlags;
    attr_u32(tb[NHA_OIF], o.oif);
    o.blackhole = tb[NHA_BLACKHOLE] != nullptr;
    o.fdb = tb[NHA_FDB] != nullptr;
    if (const nlattr* gw = tb[NHA_GATEWAY]) {
        if (!family_ok(o.family)) return false;
        IpAddr a;
        if (!get_addr(gw, static_cast<Family>(o.family), a)) return false;
        o.gateway = a;
    }
    if (const nlattr* g = tb[NHA_GROUP]) {
        const std::size_t len = mnl_attr_get_payload_len(g);
        if (len == 0 || len % sizeof(nexthop_grp)) return false;
        auto* p = static_cast<const char*>(mnl_attr_get_payload(g));
        for (std::size_t off = 0; off < len; off += sizeof(nexthop_grp)) {
            nexthop_grp e;
            std::memcpy(&e, p + off, sizeof e);
            // resvd1 is weight_high on kernels with 16-bit weights (6.12).
            const unsigned wt = ((unsigned(e.resvd1) << 8) | e.weight) + 1;
            o.group.push_back(NhGroupMember{e.id, static_cast<std::uint16_t>(std::min(wt, 0xffffu))});
        }
        if (const nlattr* t = tb[NHA_GROUP_TYPE]) {
            if (mnl_attr_get_payload_len(t) < 2) return false;
            o.group_type = mnl_attr_get_u16(t);
        }
    }
    std::vector<std::uint16_t> nested_unknown;
    if (const nlattr* res = tb[NHA_RES_GROUP]) {
        AttrTable<NHA_RES_GROUP_MAX> rt;
        if (!rt.parse_nested(res)) return false;
        if (const nlattr* b = rt[NHA_RES_GROUP_BUCKETS]) {
            if (mnl_attr_get_payload_len(b) < 2) return false;
            o.buckets = mnl_attr_get_u16(b);
        }
        attr_u32(rt[NHA_RES_GROUP_IDLE_TIMER], o.idle_timer);
        attr_u32(rt[NHA_RES_GROUP_UNBALANCED_TIMER], o.unbalanced_timer);
        auto* first = static_cast<const nlattr*>(mnl_attr_get_payload(res));
        const int len = static_cast<int>(mnl_attr_get_payload_len(res));
        for (auto* x = first; mnl_attr_ok(
                 x, len - static_cast<int>(reinterpret_cast<const char*>(x) - reinterpret_cast<const char*>(first)));
             x = mnl_attr_next(x)) {
            const std::uint16_t t = mnl_attr_get_type(x);
            if (t != NHA_RES_GROUP_BUCKETS && t != NHA_RES_GROUP_IDLE_TIMER && t != NHA_RES_GROUP_UNBALANCED_TIMER &&
                t != NHA_RES_GROUP_UNBALANCED_TIME && t != NHA_RES_GROUP_PAD)
                nested_unknown.push_back(kNestedAttr | t);
        }
    }
    o.unknown_attrs = unknown_types(nlh, sizeof(nhmsg), known_nexthop_obj_attr);
    for (std::uint16_t t : nested_unknown) o.unknown_attrs.push_back(t);
    std::sort(o.unknown_attrs.begin(), o.unknown_attrs.end());
    o.unknown_attrs.erase(std::unique(o.unknown_attrs.begin(), o.unknown_attrs.end()), o.unknown_attrs.end());
    out = std::move(o);
    return true;
}

bool decode_neighbour(const nlmsghdr* nlh, Neighbour& out) {
    if (nlh->nlmsg_type != RTM_NEWNEIGH && nlh->nlmsg_type != RTM_DELNEIGH) return false;
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(ndmsg)) return false;
    auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
    if (!family_ok(ndm->ndm_family)) return false;
    AttrTable<NDA_MAX> tb;
    if (!tb.parse(nlh, sizeof(ndmsg))) return false;
    Neighbour n;
    if (!get_addr(tb[NDA_DST], static_cast<Family>(ndm->ndm_family), n.dst)) return false;
    if (ndm->ndm_ifindex <= 0) return false;
    n.ifindex = static_cast<std::uint32_t>(ndm->ndm_ifindex);
    n.state = ndm->ndm_state;
    out = n;
    return true;
}

}  // namespace nra::nl
