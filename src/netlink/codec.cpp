// Encoding and decoding of policy rules (fib_rule_hdr + FRA_*) and routes
// (rtmsg + RTA_*). Reference: net/core/fib_rules.c (fib_nl_fill_rule,
// fib_nl2rule, rule_find), net/ipv4/fib_semantics.c (fib_dump_info,
// fib_nh_match), net/ipv6/route.c (rt6_fill_node, rtm_to_fib6_config).
#include "nra/netlink/rtnl.hpp"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <endian.h>

#include "nra/netlink/attr.hpp"

namespace nra::nl {

namespace {

using detail::AttrTable;
using detail::attr_u32;
using detail::attr_u8;

// Bits of fib_rule_hdr.flags that the kernel computes on every dump from the
// current state (goto target missing, iif/oif device absent) instead of
// storing what userspace sent: not part of a rule's identity, and never sent.
constexpr std::uint32_t kRuleStateFlags = FIB_RULE_UNRESOLVED | FIB_RULE_IIF_DETACHED | FIB_RULE_OIF_DETACHED;

// Table ids >= 256 do not fit the 8-bit header field: RT_TABLE_UNSPEC there,
// the real id in FRA_TABLE / RTA_TABLE.
std::uint8_t header_table(std::uint32_t table) { return table < 256 ? static_cast<std::uint8_t>(table) : std::uint8_t(RT_TABLE_UNSPEC); }

bool family_ok(unsigned f) { return f == AF_INET || f == AF_INET6; }

void put_addr(nlmsghdr* nlh, std::uint16_t type, const IpAddr& a) {
    mnl_attr_put(nlh, type, family_bytes(a.family), a.bytes.data());
}

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

void put_via(nlmsghdr* nlh, const IpAddr& a) {
    char buf[sizeof(rtvia) + 16] = {};
    auto* via = reinterpret_cast<rtvia*>(buf);
    via->rtvia_family = static_cast<__kernel_sa_family_t>(a.family);
    std::memcpy(buf + sizeof(rtvia), a.bytes.data(), family_bytes(a.family));
    mnl_attr_put(nlh, RTA_VIA, sizeof(rtvia) + family_bytes(a.family), buf);
}

// A gateway of the route's family goes in RTA_GATEWAY, another family
// (IPv4 route via an IPv6 neighbour) in RTA_VIA.
void put_gateway(nlmsghdr* nlh, Family route_family, const IpAddr& gw) {
    if (gw.family == route_family)
        put_addr(nlh, RTA_GATEWAY, gw);
    else
        put_via(nlh, gw);
}

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

nlmsghdr* put_request_header(void* buf, std::uint16_t type, std::uint16_t flags, std::uint32_t seq) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = seq;
    return nlh;
}

}  // namespace

// ---------------------------------------------------------------- rules

std::size_t encode_rule(void* buf, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags, std::uint32_t seq, const Rule& r) {
    nlmsghdr* nlh = put_request_header(buf, nlmsg_type, nlmsg_flags, seq);

    auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
    frh->family = static_cast<std::uint8_t>(r.family);
    frh->dst_len = r.dst ? r.dst->len : 0;
    frh->src_len = r.src ? r.src->len : 0;
    frh->tos = r.tos;
    frh->table = header_table(r.table);
    frh->action = static_cast<std::uint8_t>(r.action);
    frh->flags = r.flags & ~kRuleStateFlags;

    // Always sent: priority 0 is a real preference (the local rule's), and a
    // delete without FRA_PRIORITY would match a rule of any priority.
    mnl_attr_put_u32(nlh, FRA_PRIORITY, r.priority);
    // Always sent, also for small ids; the kernel prefers it to the header.
    mnl_attr_put_u32(nlh, FRA_TABLE, r.table);
    if (r.src && r.src->len) put_addr(nlh, FRA_SRC, r.src->addr);
    if (r.dst && r.dst->len) put_addr(nlh, FRA_DST, r.dst->addr);
    if (r.fwmark) mnl_attr_put_u32(nlh, FRA_FWMARK, r.fwmark);
    if (r.fwmask) mnl_attr_put_u32(nlh, FRA_FWMASK, r.fwmask);
    if (!r.iifname.empty()) mnl_attr_put_strz(nlh, FRA_IIFNAME, r.iifname.c_str());
    if (!r.oifname.empty()) mnl_attr_put_strz(nlh, FRA_OIFNAME, r.oifname.c_str());
    if (r.goto_target || r.action == RuleAction::Goto) mnl_attr_put_u32(nlh, FRA_GOTO, r.goto_target);
    if (r.flow) mnl_attr_put_u32(nlh, FRA_FLOW, r.flow);
    if (r.tun_id) mnl_attr_put_u64(nlh, FRA_TUN_ID, htobe64(r.tun_id));
    if (r.suppress_ifgroup) mnl_attr_put_u32(nlh, FRA_SUPPRESS_IFGROUP, *r.suppress_ifgroup);
    if (r.suppress_prefixlen) mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, *r.suppress_prefixlen);
    if (r.l3mdev) mnl_attr_put_u8(nlh, FRA_L3MDEV, r.l3mdev);
    if (r.uid_range) {
        fib_rule_uid_range u{r.uid_range->start, r.uid_range->end};
        mnl_attr_put(nlh, FRA_UID_RANGE, sizeof u, &u);
    }
    if (r.protocol) mnl_attr_put_u8(nlh, FRA_PROTOCOL, r.protocol);
    if (r.ip_proto) mnl_attr_put_u8(nlh, FRA_IP_PROTO, r.ip_proto);
    if (r.sport) {
        fib_rule_port_range p{r.sport->start, r.sport->end};
        mnl_attr_put(nlh, FRA_SPORT_RANGE, sizeof p, &p);
    }
    if (r.dport) {
        fib_rule_port_range p{r.dport->start, r.dport->end};
        mnl_attr_put(nlh, FRA_DPORT_RANGE, sizeof p, &p);
    }
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
    attr_u32(tb[FRA_TABLE], r.table);       // preferred when present
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
    if (auto* s = tb[FRA_IIFNAME]) r.iifname.assign(static_cast<const char*>(mnl_attr_get_payload(s)), strnlen(static_cast<const char*>(mnl_attr_get_payload(s)), mnl_attr_get_payload_len(s)));
    if (auto* s = tb[FRA_OIFNAME]) r.oifname.assign(static_cast<const char*>(mnl_attr_get_payload(s)), strnlen(static_cast<const char*>(mnl_attr_get_payload(s)), mnl_attr_get_payload_len(s)));
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
    out = std::move(r);
    return true;
}

// ---------------------------------------------------------------- routes

std::size_t encode_route(void* buf, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags, std::uint32_t seq, const Route& r) {
    nlmsghdr* nlh = put_request_header(buf, nlmsg_type, nlmsg_flags, seq);

    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = static_cast<std::uint8_t>(r.family);
    rtm->rtm_dst_len = r.dst.len;
    rtm->rtm_src_len = r.src.len;
    rtm->rtm_tos = r.tos;
    rtm->rtm_table = header_table(r.table);
    rtm->rtm_protocol = r.protocol;
    rtm->rtm_scope = r.scope;
    rtm->rtm_type = r.type;
    rtm->rtm_flags = 0;

    mnl_attr_put_u32(nlh, RTA_TABLE, r.table);
    if (r.dst.len) put_addr(nlh, RTA_DST, r.dst.addr);
    if (r.src.len) put_addr(nlh, RTA_SRC, r.src.addr);
    if (r.priority) mnl_attr_put_u32(nlh, RTA_PRIORITY, r.priority);
    if (r.nh_id) mnl_attr_put_u32(nlh, RTA_NH_ID, r.nh_id);

    if (r.nexthops.size() == 1) {
        const Nexthop& nh = r.nexthops.front();
        put_gateway(nlh, r.family, nh.gateway);
        if (std::uint32_t oif = r.oif ? r.oif : nh.ifindex) mnl_attr_put_u32(nlh, RTA_OIF, oif);
    } else if (r.nexthops.size() > 1) {
        nlattr* mp = mnl_attr_nest_start(nlh, RTA_MULTIPATH);
        for (const Nexthop& nh : r.nexthops) {
            auto* rtnh = static_cast<rtnexthop*>(mnl_nlmsg_get_payload_tail(nlh));
            nlh->nlmsg_len += MNL_ALIGN(sizeof(rtnexthop));
            std::memset(rtnh, 0, sizeof *rtnh);
            rtnh->rtnh_hops = static_cast<std::uint8_t>(std::clamp<unsigned>(nh.weight, 1, 256) - 1);
            rtnh->rtnh_ifindex = static_cast<int>(nh.ifindex);
            put_gateway(nlh, r.family, nh.gateway);
            rtnh->rtnh_len = static_cast<unsigned short>(reinterpret_cast<char*>(mnl_nlmsg_get_payload_tail(nlh)) - reinterpret_cast<char*>(rtnh));
        }
        mnl_attr_nest_end(nlh, mp);
    } else if (r.oif) {
        mnl_attr_put_u32(nlh, RTA_OIF, r.oif);
    }
    return nlh->nlmsg_len;
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
            }
            r.nexthops.push_back(nh);
            std::size_t step = MNL_ALIGN(rtnh->rtnh_len);
            if (step >= left) break;
            left -= step;
            p += step;
        }
    }
    std::sort(r.nexthops.begin(), r.nexthops.end());
    out = std::move(r);
    return true;
}

}  // namespace nra::nl
