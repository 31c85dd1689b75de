// rtnetlink transport: the two sockets, filtered dumps, batched acked
// changes and the multicast event drain. The message codec is codec.cpp.
#include "nra/netlink/rtnl.hpp"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "attr.hpp"

namespace nra::nl {

namespace {

constexpr int kRcvBuf = 32 << 20;              // events and acks of big batches
constexpr std::size_t kRecvBufSize = 1 << 16;  // >= what the kernel puts in one dump skb
constexpr std::size_t kBatchLimit = 1 << 16;   // bytes of requests per sendmsg
constexpr int kDumpAttempts = 5;               // NLM_F_DUMP_INTR retries
constexpr int kRequestTimeoutSec = 5;

// Named flag combinations.
constexpr std::uint16_t kFlagsAddRule = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
// No NLM_F_EXCL: the kernel skips rule_exists and always inserts (OpKind::AppendRule).
constexpr std::uint16_t kFlagsAppendRule = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
constexpr std::uint16_t kFlagsReplaceRoute = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
constexpr std::uint16_t kFlagsDelete = NLM_F_REQUEST | NLM_F_ACK;
constexpr std::uint16_t kFlagsDump = NLM_F_REQUEST | NLM_F_DUMP;

std::string errno_text(int e) { return std::string(std::strerror(e)); }

[[noreturn]] void fail(const char* step) {
    int e = errno;
    throw std::system_error(e, std::generic_category(), std::string("netlink: ") + step);
}

void set_rcvbuf(mnl_socket* s) {
    int fd = mnl_socket_get_fd(s);
    int size = kRcvBuf;
    // SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // best effort, capped by rmem_max
}

void set_opt(mnl_socket* s, int opt, const char* step) {
    int one = 1;
    if (mnl_socket_setsockopt(s, opt, &one, sizeof one) < 0) fail(step);
}

// The extended-ACK message of an NLMSG_ERROR or NLMSG_DONE, if any.
std::string ext_ack_msg(const nlmsghdr* nlh) {
    if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
    std::size_t off;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nlmsgerr)) return {};
        auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        off = sizeof(nlmsgerr);
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - sizeof(nlmsghdr);
    } else {
        off = sizeof(int);
    }
    detail::AttrTable<NLMSGERR_ATTR_MAX> tb;
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(off)) return {};
    tb.parse(nlh, off);
    const nlattr* m = tb[NLMSGERR_ATTR_MSG];
    if (!m) return {};
    auto* s = static_cast<const char*>(mnl_attr_get_payload(m));
    return std::string(s, strnlen(s, mnl_attr_get_payload_len(m)));
}

// Negative errno carried by NLMSG_ERROR / NLMSG_DONE (0 = ack / no error).
int msg_error(const nlmsghdr* nlh) {
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(int)) return 0;
    int e;
    std::memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof e);
    return e;
}

bool is_delete(OpKind k) { return k == OpKind::DelRule || k == OpKind::DelRoute; }

// The one place that decides which errnos are benign per operation.
int classify(OpKind k, int err) {
    if (k == OpKind::AddRule && err == EEXIST) return 0;
    if (is_delete(k) && (err == ENOENT || err == ESRCH)) return 0;
    return err;
}

// Why an op cannot be sent at all (empty when it can): a route with more
// nexthops than one message the kernel can report back carries.
std::string refusal(const Op& op) {
    if (op.kind != OpKind::ReplaceRoute) return {};
    const Route& r = op.route();
    const std::size_t max = max_route_nexthops(r);
    if (r.nexthops.size() <= max) return {};
    const std::string fam(family_name(r.family));
    return "route has " + std::to_string(r.nexthops.size()) + " " + fam +
           " nexthops; one netlink message carries at most " + std::to_string(max) + " " + fam + " nexthops (" +
           std::to_string(kMaxRouteMessage) +
           " bytes, the largest route the kernel can report back in a dump); not sent";
}

// Encodes op into buf (cap bytes); 0 when it does not fit.
std::size_t encode_op(void* buf, std::size_t cap, const Op& op, std::uint32_t seq) {
    switch (op.kind) {
    case OpKind::AddRule:
        return encode_rule(buf, cap, RTM_NEWRULE, kFlagsAddRule, seq, op.rule());
    case OpKind::AppendRule:
        return encode_rule(buf, cap, RTM_NEWRULE, kFlagsAppendRule, seq, op.rule());
    case OpKind::DelRule:
        // A rule with attributes the codec does not model goes back exactly
        // as the kernel reported it, so the delete can only match it.
        if (op.rule().raw.bytes) return encode_kernel_msg(buf, cap, RTM_DELRULE, kFlagsDelete, seq, op.rule().raw);
        return encode_rule(buf, cap, RTM_DELRULE, kFlagsDelete, seq, op.rule());
    case OpKind::ReplaceRoute:
        return encode_route(buf, cap, RTM_NEWROUTE, kFlagsReplaceRoute, seq, op.route());
    case OpKind::DelRoute: {
        const Route& r = op.route();
        if (r.nh_id) {
            // By key and nexthop id only (encode_route never adds hops then).
            return encode_route(buf, cap, RTM_DELROUTE, kFlagsDelete, seq, r);
        }
        if (r.raw.bytes) return encode_kernel_msg(buf, cap, RTM_DELROUTE, kFlagsDelete, seq, r.raw);
        if (r.family == Family::V6) {
            // IPv6: a delete without gateway/multipath sets fc_delete_all_nh
            // and removes the route with all its siblings (ip6_route_del ->
            // __ip6_del_rt_siblings); with RTA_GATEWAY or RTA_MULTIPATH only
            // the listed hops go, leaving any hop appended meanwhile. The
            // IPv6 key (table, dst, src, metric) is unique - same-key routes
            // merge into one multipath route - so this is exact. Protocol
            // (fc_protocol) is still matched.
            Route whole = r;
            whole.nexthops.clear();
            whole.oif = 0;
            return encode_route(buf, cap, RTM_DELROUTE, kFlagsDelete, seq, whole);
        }
        return encode_route(buf, cap, RTM_DELROUTE, kFlagsDelete, seq, r);
    }
    }
    return 0;
}

// An RTM_NEWADDR/RTM_DELADDR of AF_INET/AF_INET6: the local address.
bool decode_address(const nlmsghdr* nlh, Interface& out) {
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(ifaddrmsg)) return false;
    const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return false;
    detail::AttrTable<IFA_MAX> tb;
    tb.parse(nlh, sizeof(ifaddrmsg));
    const nlattr* a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (!a) return false;
    const std::size_t len = ifa->ifa_family == AF_INET ? 4 : 16;
    if (mnl_attr_get_payload_len(a) != len) return false;
    out.ifindex = static_cast<int>(ifa->ifa_index);
    out.prefix_len = ifa->ifa_prefixlen;
    out.address.family = ifa->ifa_family == AF_INET ? Family::V4 : Family::V6;
    out.address.bytes = {};
    std::memcpy(out.address.bytes.data(), mnl_attr_get_payload(a), len);
    return true;
}

bool decode_link(const nlmsghdr* nlh, Interface& out) {
    if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(ifinfomsg)) return false;
    const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    out.ifindex = ifi->ifi_index;
    out.flags = ifi->ifi_flags;
    return true;
}

}  // namespace

// Owns a libmnl socket (closed with it).
struct MnlSocket {
    mnl_socket* s = nullptr;
    MnlSocket() = default;
    MnlSocket(const MnlSocket&) = delete;
    MnlSocket& operator=(const MnlSocket&) = delete;
    ~MnlSocket() {
        if (s) mnl_socket_close(s);
    }
    MnlSocket& operator=(mnl_socket* n) {
        if (s) mnl_socket_close(s);
        s = n;
        return *this;
    }
    operator mnl_socket*() const { return s; }
};

struct Rtnl::Impl {
    MnlSocket events;
    MnlSocket requests;
    std::uint32_t req_portid = 0;
    std::uint32_t seq = 0;
    std::vector<char> rbuf = std::vector<char>(kRecvBufSize);

    bool warmed = false;

    // The kernel sizes each dump buffer by the largest read this socket has
    // done so far (capped at 32 KiB), and the first one of a dump before any
    // read: on a fresh socket that is one page, and a route larger than that
    // (a few hundred nexthops) silently ends the dump. One acked no-op read
    // with our full-size buffer first makes every dump buffer 32 KiB.
    void warm() {
        if (warmed) return;
        warmed = true;
        alignas(nlmsghdr) char req[MNL_NLMSG_HDRLEN];
        nlmsghdr* nlh = mnl_nlmsg_put_header(req);
        nlh->nlmsg_type = NLMSG_NOOP;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = next_seq();
        if (mnl_socket_sendto(requests, nlh, nlh->nlmsg_len) < 0) return;
        // The ack, or a timeout: either way the socket has read with rbuf.
        while (mnl_socket_recvfrom(requests, rbuf.data(), rbuf.size()) < 0 && errno == EINTR) {}
    }

    std::uint32_t next_seq() {
        if (++seq == 0) seq = 1;
        return seq;
    }

    // One dump of one message type and family into `fn`. Returns 0, or a
    // positive errno with `what` filled. EINTR = interrupted (retry).
    template <class Fn>
    int dump_once(std::uint16_t type, std::uint8_t family, std::uint32_t table, Fn&& fn, std::string& what) {
        alignas(nlmsghdr) char req[8192];  // >= MNL_SOCKET_BUFFER_SIZE (not a constant)
        nlmsghdr* nlh = mnl_nlmsg_put_header(req);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = kFlagsDump;
        nlh->nlmsg_seq = next_seq();
        if (type == RTM_GETADDR) {
            // Strict checking: all-zero header but the family, no attributes.
            auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
            ifa->ifa_family = family;
        } else if (type == RTM_GETLINK) {
            // Strict checking: all-zero header, no attributes.
            auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
            ifi->ifi_family = family;
        } else if (type == RTM_GETNEXTHOP) {
            // All-zero header, no filter: every object.
            mnl_nlmsg_put_extra_header(nlh, sizeof(nhmsg));
        } else if (type == RTM_GETNEIGH) {
            auto* ndm = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ndmsg)));
            ndm->ndm_family = family;
        } else if (type == RTM_GETRULE) {
            // Strict checking accepts no filter in a rule dump: header
            // all-zero but the family, no attributes.
            auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
            frh->family = family;
        } else {
            auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
            rtm->rtm_family = family;
            rtm->rtm_table = table < 256 ? static_cast<std::uint8_t>(table) : std::uint8_t(RT_TABLE_UNSPEC);
            mnl_attr_put_u32(nlh, RTA_TABLE, table);
        }
        const std::uint32_t want_seq = nlh->nlmsg_seq;
        if (mnl_socket_sendto(requests, nlh, nlh->nlmsg_len) < 0) {
            what = "send dump request: " + errno_text(errno);
            return errno;
        }
        bool interrupted = false;
        for (;;) {
            ssize_t n = mnl_socket_recvfrom(requests, rbuf.data(), rbuf.size());
            if (n < 0) {
                int e = errno;
                if (e == EINTR) continue;
                if (e == ENOSPC)
                    what = "dump reply truncated (MSG_TRUNC)";
                else if (e == EAGAIN || e == EWOULDBLOCK)
                    what = "dump timed out";
                else
                    what = "recv dump: " + errno_text(e);
                // The socket may still hold the rest of this dump: replies
                // are matched by seq, so stale ones are skipped later.
                return e == EAGAIN ? ETIMEDOUT : e;
            }
            auto* m = reinterpret_cast<const nlmsghdr*>(rbuf.data());
            int len = static_cast<int>(n);
            for (; detail::nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
                if (m->nlmsg_pid != req_portid || m->nlmsg_seq != want_seq) continue;  // stale
                if (m->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
                if (m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR) {
                    int err = -msg_error(m);
                    if (err == ENOENT && type == RTM_GETROUTE) err = 0;  // table does not exist yet: empty
                    if (err) {
                        what = std::string(type == RTM_GETRULE      ? "rule"
                                           : type == RTM_GETADDR    ? "address"
                                           : type == RTM_GETLINK    ? "link"
                                           : type == RTM_GETNEXTHOP ? "nexthop"
                                           : type == RTM_GETNEIGH   ? "neighbour"
                                                                    : "route") +
                               " dump (" +
                               (family == AF_INET    ? "inet"
                                : family == AF_INET6 ? "inet6"
                                                     : "all") +
                               "): " + errno_text(err);
                        std::string ext = ext_ack_msg(m);
                        if (!ext.empty()) what += " (" + ext + ")";
                        return err;
                    }
                    if (interrupted) {
                        what = "dump interrupted (NLM_F_DUMP_INTR)";
                        return EINTR;
                    }
                    return 0;
                }
                if (m->nlmsg_type == NLMSG_NOOP || m->nlmsg_type == NLMSG_OVERRUN) continue;
                if (!interrupted) fn(m);
            }
            if (len > 0 && len >= static_cast<int>(sizeof(nlmsghdr))) {
                what = "malformed netlink message in dump";
                return EBADMSG;
            }
        }
    }
};

// A throw below releases impl_ and with it the sockets opened so far.
Rtnl::Rtnl(Follow follow) : impl_(std::make_unique<Impl>()) {
    Impl& d = *impl_;
    d.events = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!d.events) fail("open events socket");
    if (mnl_socket_bind(d.events, 0, MNL_SOCKET_AUTOPID) < 0) fail("bind events socket");
    set_rcvbuf(d.events);
    // The rule groups have no RTMGRP_ bit: join by number.
    for (int group : {RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE}) {
        if (mnl_socket_setsockopt(d.events, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
            fail("join rtnetlink multicast group");
    }
    if (follow == Follow::LinksAndAddresses) {
        for (int group : {RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR}) {
            if (mnl_socket_setsockopt(d.events, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
                fail("join rtnetlink link/address multicast group");
        }
    }

    d.requests = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!d.requests) fail("open requests socket");
    if (mnl_socket_bind(d.requests, 0, MNL_SOCKET_AUTOPID) < 0) fail("bind requests socket");
    d.req_portid = mnl_socket_get_portid(d.requests);
    set_rcvbuf(d.requests);
    set_opt(d.requests, NETLINK_GET_STRICT_CHK, "enable NETLINK_GET_STRICT_CHK");
    set_opt(d.requests, NETLINK_EXT_ACK, "enable NETLINK_EXT_ACK");
    // Errors echo only the request header, not the whole request.
    set_opt(d.requests, NETLINK_CAP_ACK, "enable NETLINK_CAP_ACK");
    timeval tv{kRequestTimeoutSec, 0};
    if (setsockopt(mnl_socket_get_fd(d.requests), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        fail("set receive timeout");
    int sndbuf = 1 << 20;
    setsockopt(mnl_socket_get_fd(d.requests), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
}

Rtnl::~Rtnl() = default;

int Rtnl::event_fd() const { return mnl_socket_get_fd(impl_->events); }

std::uint32_t Rtnl::request_portid() const { return impl_->req_portid; }

Result<Observed> Rtnl::dump(const TableSet& tables, bool want_rules, bool want_routes) {
    Observed observed;
    std::string error;
    Impl& d = *impl_;
    d.warm();
    // Rules: one dump per family (the kernel filters no rule dump), kept when
    // their table is owned. Routes: one filtered dump per owned table, so
    // that a node's large main table is never read.
    std::vector<std::uint32_t> route_tables{tables.weight};
    for (std::uint32_t t = tables.first; t <= tables.last && t >= tables.first; ++t) {
        if (t != tables.weight) route_tables.push_back(t);
        if (t == UINT32_MAX) break;
    }
    for (std::uint8_t family : {std::uint8_t(AF_INET), std::uint8_t(AF_INET6)}) {
        for (std::uint16_t type : {std::uint16_t(RTM_GETRULE), std::uint16_t(RTM_GETROUTE)}) {
            if (!(type == RTM_GETRULE ? want_rules : want_routes)) continue;
            const std::size_t n_tables = type == RTM_GETRULE ? 1 : route_tables.size();
            for (std::size_t ti = 0; ti < n_tables; ++ti) {
                const std::uint32_t table = route_tables[ti];
                int err = EINTR;
                for (int attempt = 0; attempt < kDumpAttempts && err == EINTR; ++attempt) {
                    std::vector<Rule> rules;
                    std::vector<Route> routes;
                    err = d.dump_once(
                        type, family, table,
                        [&](const nlmsghdr* m) {
                            if (type == RTM_GETRULE) {
                                Rule r;
                                if (decode_rule(m, r) && tables.contains(r.table)) rules.push_back(std::move(r));
                            } else {
                                Route r;
                                if (decode_route(m, r) && r.table == table) routes.push_back(std::move(r));
                            }
                        },
                        error);
                    if (err == 0) {
                        for (auto& r : rules) observed.rules.push_back(std::move(r));
                        for (auto& r : routes) observed.routes.push_back(std::move(r));
                    }
                }
                if (err) {
                    if (err == EINTR) error += " (gave up after retries)";
                    return Result<Observed>::fail(std::move(error));
                }
            }
        }
    }
    return Result<Observed>::ok(std::move(observed));
}

namespace {

// One dump of `type` per family in `families`, each retried while the kernel
// interrupts it (EINTR: the table changed under the dump); `decode` appends
// what a message holds to the vector it is given.
template <class T, class Impl, class Decode>
Result<std::vector<T>> dump_list(Impl& d, std::uint16_t type, std::initializer_list<std::uint8_t> families,
                                 Decode&& decode) {
    std::string error;
    std::vector<T> out;
    for (std::uint8_t family : families) {
        int err = EINTR;
        for (int attempt = 0; attempt < kDumpAttempts && err == EINTR; ++attempt) {
            std::vector<T> found;
            err = d.dump_once(
                type, family, 0, [&](const nlmsghdr* m) { decode(m, found); }, error);
            if (err == 0)
                out.insert(out.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
        }
        if (err) {
            if (err == EINTR) error += " (gave up after retries)";
            return Result<std::vector<T>>::fail(std::move(error));
        }
    }
    return Result<std::vector<T>>::ok(std::move(out));
}

constexpr std::initializer_list<std::uint8_t> kBothFamilies = {AF_INET, AF_INET6};

}  // namespace

Result<std::vector<IpAddr>> Rtnl::dump_addresses() {
    auto all = dump_interface_addresses();
    if (!all) return Result<std::vector<IpAddr>>::fail(std::move(all.error));
    std::vector<IpAddr> addresses;
    addresses.reserve(all.value->size());
    for (const Interface& i : *all.value) addresses.push_back(i.address);
    return Result<std::vector<IpAddr>>::ok(std::move(addresses));
}

Result<std::vector<Link>> Rtnl::dump_links() {
    impl_->warm();
    return dump_list<Link>(*impl_, RTM_GETLINK, {AF_UNSPEC}, [](const nlmsghdr* m, std::vector<Link>& out) {
        Link l;
        if (decode_link_info(m, l)) out.push_back(std::move(l));
    });
}

bool decode_link_info(const nlmsghdr* nlh, Link& out) {
    if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(ifinfomsg)) return false;
    const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    Link l;
    l.ifindex = ifi->ifi_index;
    detail::AttrTable<IFLA_MAX> tb;
    if (!tb.parse(nlh, sizeof(ifinfomsg))) return false;
    if (const nlattr* n = tb[IFLA_IFNAME]) {
        auto* s = static_cast<const char*>(mnl_attr_get_payload(n));
        l.name.assign(s, strnlen(s, mnl_attr_get_payload_len(n)));
    }
    if (const nlattr* li = tb[IFLA_LINKINFO]) {
        detail::AttrTable<IFLA_INFO_MAX> info;
        if (!info.parse_nested(li)) return false;
        if (const nlattr* k = info[IFLA_INFO_KIND]) {
            auto* s = static_cast<const char*>(mnl_attr_get_payload(k));
            l.is_vrf = std::string(s, strnlen(s, mnl_attr_get_payload_len(k))) == "vrf";
        }
        if (l.is_vrf) {
            if (const nlattr* data = info[IFLA_INFO_DATA]) {
                detail::AttrTable<IFLA_VRF_MAX> vrf;
                if (!vrf.parse_nested(data)) return false;
                detail::attr_u32(vrf[IFLA_VRF_TABLE], l.vrf_table);
            }
        }
    }
    out = std::move(l);
    return true;
}

namespace {

// Sends n requests in order, batched into as few sendmsg calls as possible,
// one ack each. `refuse(i)` says why request i cannot be sent (empty: it
// can), `encode(i, buf, cap, seq)` writes it (0: does not fit),
// `benign(i, err)` maps an errno to the result.
template <class Refuse, class Encode, class Benign>
std::vector<OpResult> apply_batched(mnl_socket* sock, std::uint32_t portid, std::vector<char>& rbuf,
                                    const std::function<std::uint32_t()>& next_seq, std::size_t n, Refuse&& refuse,
                                    Encode&& encode, Benign&& benign) {
    std::vector<OpResult> results(n);
    if (n == 0) return results;

    // One batch of requests per sendmsg, each op encoded into the space left
    // (bounded: an op that does not fit the rest goes to the next batch, one
    // that does not fit an empty batch is refused, never sent in part).
    std::vector<char> storage(kBatchLimit + alignof(nlmsghdr));
    char* const buf =
        storage.data() +
        (alignof(nlmsghdr) - reinterpret_cast<std::uintptr_t>(storage.data()) % alignof(nlmsghdr)) % alignof(nlmsghdr);

    std::size_t i = 0;
    while (i < n) {
        // seq -> op index for this batch.
        std::unordered_map<std::uint32_t, std::size_t> pending;
        std::size_t used = 0;
        for (; i < n; ++i) {
            if (std::string why = refuse(i); !why.empty()) {
                results[i].error = EMSGSIZE;
                results[i].ext_ack = std::move(why);
                continue;
            }
            std::uint32_t seq = next_seq();
            std::size_t len = encode(i, buf + used, kBatchLimit - used, seq);
            if (len == 0) {
                if (used) break;  // the next batch starts with it
                results[i].error = EMSGSIZE;
                results[i].ext_ack =
                    "request does not fit one netlink message of " + std::to_string(kBatchLimit) + " bytes; not sent";
                continue;
            }
            pending.emplace(seq, i);
            used += MNL_ALIGN(len);
        }
        if (used == 0) continue;
        ssize_t sent = mnl_socket_sendto(sock, buf, used);
        if (sent < 0) {
            int e = errno;
            for (auto& [seq, idx] : pending) {
                results[idx].error = e;
                results[idx].ext_ack = "send: " + errno_text(e);
            }
            continue;
        }

        while (!pending.empty()) {
            ssize_t got = mnl_socket_recvfrom(sock, rbuf.data(), rbuf.size());
            if (got < 0) {
                int e = errno;
                if (e == EINTR) continue;
                // Timeout, overrun of our receive buffer (acks lost), ...:
                // the outcome of these ops is unknown; report it.
                int code = (e == EAGAIN || e == EWOULDBLOCK) ? ETIMEDOUT : e;
                for (auto& [seq, idx] : pending) {
                    results[idx].error = code;
                    results[idx].ext_ack = "no acknowledgement received: " + errno_text(e);
                }
                pending.clear();
                break;
            }
            auto* m = reinterpret_cast<const nlmsghdr*>(rbuf.data());
            int len = static_cast<int>(got);
            for (; detail::nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
                if (m->nlmsg_type != NLMSG_ERROR || m->nlmsg_pid != portid) continue;
                auto it = pending.find(m->nlmsg_seq);
                if (it == pending.end()) continue;  // stale (an earlier timed-out request)
                std::size_t idx = it->second;
                int err = -msg_error(m);
                results[idx].ext_ack = ext_ack_msg(m);
                results[idx].error = benign(idx, err);
                pending.erase(it);
            }
        }
    }
    return results;
}

constexpr std::uint16_t kFlagsReplaceNexthop = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;

}  // namespace

Result<std::vector<Interface>> Rtnl::dump_interface_addresses() {
    return dump_list<Interface>(*impl_, RTM_GETADDR, kBothFamilies, [](const nlmsghdr* m, std::vector<Interface>& out) {
        Interface i;
        if (m->nlmsg_type == RTM_NEWADDR && decode_address(m, i)) out.push_back(i);
    });
}

std::vector<OpResult> Rtnl::apply(const std::vector<Op>& ops) {
    Impl& d = *impl_;
    return apply_batched(
        d.requests, d.req_portid, d.rbuf, [&] { return d.next_seq(); }, ops.size(),
        [&](std::size_t i) { return refusal(ops[i]); },
        [&](std::size_t i, void* buf, std::size_t cap, std::uint32_t seq) { return encode_op(buf, cap, ops[i], seq); },
        [&](std::size_t i, int err) { return classify(ops[i].kind, err); });
}

std::vector<OpResult> Rtnl::apply_nexthops(const std::vector<NhOp>& ops) {
    Impl& d = *impl_;
    return apply_batched(
        d.requests, d.req_portid, d.rbuf, [&] { return d.next_seq(); }, ops.size(),
        [](std::size_t) { return std::string(); },
        [&](std::size_t i, void* buf, std::size_t cap, std::uint32_t seq) {
            const bool del = ops[i].kind == NhOpKind::Del;
            return encode_nexthop(buf, cap, del ? RTM_DELNEXTHOP : RTM_NEWNEXTHOP,
                                  del ? kFlagsDelete : kFlagsReplaceNexthop, seq, ops[i].object);
        },
        [&](std::size_t i, int err) { return ops[i].kind == NhOpKind::Del && err == ENOENT ? 0 : err; });
}

void Rtnl::subscribe_nexthops() {
    for (int group : {RTNLGRP_NEXTHOP, RTNLGRP_NEIGH}) {
        if (mnl_socket_setsockopt(impl_->events, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
            fail("join rtnetlink nexthop/neighbour multicast group");
    }
}

Result<std::vector<NexthopObject>> Rtnl::dump_nexthops() {
    impl_->warm();
    return dump_list<NexthopObject>(*impl_, RTM_GETNEXTHOP, {AF_UNSPEC},
                                    [](const nlmsghdr* m, std::vector<NexthopObject>& out) {
                                        NexthopObject o;
                                        if (decode_nexthop(m, o)) out.push_back(std::move(o));
                                    });
}

Result<std::vector<Neighbour>> Rtnl::dump_neighbours() {
    return dump_list<Neighbour>(*impl_, RTM_GETNEIGH, kBothFamilies,
                                [](const nlmsghdr* m, std::vector<Neighbour>& out) {
                                    Neighbour n;
                                    if (decode_neighbour(m, n)) out.push_back(n);
                                });
}

DrainResult Rtnl::drain_events(const std::function<void(const Event&)>& fn) {
    Impl& d = *impl_;
    DrainResult res;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(d.events, d.rbuf.data(), d.rbuf.size());
        if (n < 0) {
            int e = errno;
            if (e == EINTR) continue;
            if (e == EAGAIN || e == EWOULDBLOCK) break;
            if (e == ENOBUFS || e == ENOSPC) {
                // ENOBUFS: the kernel dropped messages; ENOSPC: one was
                // truncated. Either way the cache is stale, the socket fine.
                res.overrun = true;
                res.what = e == ENOBUFS ? "event socket overrun (ENOBUFS): events lost" : "event message truncated";
                continue;
            }
            res.error = true;
            res.what = "recv events: " + errno_text(e);
            break;
        }
        auto* m = reinterpret_cast<const nlmsghdr*>(d.rbuf.data());
        int len = static_cast<int>(n);
        for (; detail::nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
            Event ev;
            ev.portid = m->nlmsg_pid;
            switch (m->nlmsg_type) {
            case RTM_NEWRULE:
            case RTM_DELRULE: {
                Rule r;
                if (!decode_rule(m, r)) continue;
                ev.type = m->nlmsg_type == RTM_NEWRULE ? Event::Type::NewRule : Event::Type::DelRule;
                ev.object = std::move(r);
                break;
            }
            case RTM_NEWROUTE:
            case RTM_DELROUTE: {
                Route r;
                if (!decode_route(m, r)) continue;
                ev.type = m->nlmsg_type == RTM_NEWROUTE ? Event::Type::NewRoute : Event::Type::DelRoute;
                ev.object = std::move(r);
                break;
            }
            case RTM_NEWNEXTHOP:
            case RTM_DELNEXTHOP: {
                NexthopObject o;
                if (!decode_nexthop(m, o)) continue;
                ev.type = m->nlmsg_type == RTM_NEWNEXTHOP ? Event::Type::NewNexthop : Event::Type::DelNexthop;
                ev.object = std::move(o);
                break;
            }
            case RTM_NEWNEIGH:
            case RTM_DELNEIGH:
                if (!decode_neighbour(m, ev.neigh)) continue;
                ev.type = m->nlmsg_type == RTM_NEWNEIGH ? Event::Type::NewNeigh : Event::Type::DelNeigh;
                break;
            case RTM_NEWLINK:
            case RTM_DELLINK:
                if (!decode_link(m, ev.iface)) continue;
                ev.type = m->nlmsg_type == RTM_NEWLINK ? Event::Type::NewLink : Event::Type::DelLink;
                break;
            case RTM_NEWADDR:
            case RTM_DELADDR:
                if (!decode_address(m, ev.iface)) continue;
                ev.type = m->nlmsg_type == RTM_NEWADDR ? Event::Type::NewAddr : Event::Type::DelAddr;
                break;
            default:
                continue;
            }
            fn(ev);
        }
    }
    return res;
}

}  // namespace nra::nl
