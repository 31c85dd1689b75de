// rtnetlink through libmnl: dumps of the managed table's rules and routes,
// batched acked changes, and the multicast event subscription.
//
// Two sockets: `events` joins RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE,
// RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE (and optionally the link and
// address groups; joined before any dump, so nothing
// is lost between a dump and the first event); `requests` carries dumps and
// acked changes with NETLINK_GET_STRICT_CHK and NETLINK_EXT_ACK.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "nra/base/result.hpp"
#include "nra/core/nexthop_objects.hpp"
#include "nra/core/types.hpp"

struct nlmsghdr;

namespace nra::nl {

struct OpResult {
    int error = 0;        // 0 or a positive errno; benign errnos already mapped to 0
    std::string ext_ack;  // the kernel's extended-ACK message, if any
};

// A link or address change (only with Rtnl(Follow::LinksAndAddresses)).
struct Interface {
    int ifindex = 0;
    std::uint32_t flags = 0;      // link events: IFF_* of the link
    IpAddr address;               // address events: the local address (IFA_LOCAL, else IFA_ADDRESS)
    std::uint8_t prefix_len = 0;  // address events: the length of its subnet
};

// A neighbour entry (RTM_NEWNEIGH/RTM_DELNEIGH of AF_INET/AF_INET6).
struct Neighbour {
    IpAddr dst;
    std::uint32_t ifindex = 0;
    std::uint16_t state = 0;  // ndm_state, NUD_*
};

// A link as a dump reports it: what peer resolution needs (VRF devices and
// their tables).
struct Link {
    int ifindex = 0;
    std::string name;
    bool is_vrf = false;          // IFLA_INFO_KIND "vrf"
    std::uint32_t vrf_table = 0;  // IFLA_VRF_TABLE of a VRF (IFLA_LINKINFO / IFLA_INFO_DATA)
};

struct Event {
    enum class Type {
        NewRule,
        DelRule,
        NewRoute,
        DelRoute,
        NewLink,
        DelLink,
        NewAddr,
        DelAddr,
        NewNexthop,  // only after subscribe_nexthops()
        DelNexthop,
        NewNeigh,
        DelNeigh,
    };
    Type type;
    std::variant<Rule, Route, NexthopObject> object;  // rule, route and nexthop events
    Interface iface;                                  // link and address events
    std::uint32_t portid = 0;                         // nlmsg_pid: the port that caused it (ours for our own echoes)
    Neighbour neigh;                                  // neighbour events (last: aggregate order)

    bool is_interface() const { return type >= Type::NewLink && type <= Type::DelAddr; }
    bool is_nexthop() const { return type == Type::NewNexthop || type == Type::DelNexthop; }
    bool is_neighbour() const { return type == Type::NewNeigh || type == Type::DelNeigh; }
};

struct DrainResult {
    bool overrun = false;  // ENOBUFS: events were lost, resync everything
    bool error = false;    // unexpected socket error (logged by the caller)
    std::string what;
};

class Rtnl {
public:
    // Opens and subscribes. Throws std::system_error on failure (no netlink,
    // no permission) with a message that says which step failed. With
    // LinksAndAddresses the event socket also joins RTNLGRP_LINK,
    // RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR (link and address changes
    // can remove routes without any route notification).
    enum class Follow { RulesAndRoutes, LinksAndAddresses };
    explicit Rtnl(Follow follow = Follow::RulesAndRoutes);
    ~Rtnl();
    Rtnl(const Rtnl&) = delete;
    Rtnl& operator=(const Rtnl&) = delete;

    int event_fd() const;
    std::uint32_t request_portid() const;  // nlmsg_pid of our own echoes

    // Rules of both families pointing at an owned table (in the header or
    // FRA_TABLE; one dump per family, filtered here), and every route of
    // both families in the owned tables (one filtered dump per table and
    // family). A table that does not exist
    // yet is empty, not an error. Retries on NLM_F_DUMP_INTR.
    // `rules`/`routes` select what to dump (the agent re-dumps only what it
    // cannot track from events).
    // The error says what failed, with errno text and ext-ack.
    Result<Observed> dump(const TableSet& tables, bool rules = true, bool routes = true);
    Result<Observed> dump(std::uint32_t table, bool rules = true, bool routes = true) {
        return dump(TableSet{table, 1, 0}, rules, routes);
    }

    // The node's own addresses (all links, both families).
    // Every address of every link, both families.
    Result<std::vector<IpAddr>> dump_addresses();

    // Every link: index, name, and for a VRF device its table.
    Result<std::vector<Link>> dump_links();

    // Every address of every link with its link and prefix length (which
    // peers are on which link: a nexthop object needs the device).
    Result<std::vector<Interface>> dump_interface_addresses();

    // Joins RTNLGRP_NEXTHOP and RTNLGRP_NEIGH on the event socket (call
    // before the first nexthop dump, so nothing is lost in between).
    // Throws std::system_error like the constructor.
    void subscribe_nexthops();
    // Every nexthop object (all ids; the caller filters its range). On a
    // kernel without nexthop objects the error carries EOPNOTSUPP's text.
    Result<std::vector<NexthopObject>> dump_nexthops();
    // Every neighbour entry of both families.
    Result<std::vector<Neighbour>> dump_neighbours();
    // Nexthop ops in order, batched like apply(); ENOENT on a delete is success.
    std::vector<OpResult> apply_nexthops(const std::vector<NhOp>& ops);

    // Applies ops in order, batched into as few sendmsg calls as possible,
    // one ack per op. EEXIST on AddRule and ENOENT/ESRCH on deletes are success.
    std::vector<OpResult> apply(const std::vector<Op>& ops);

    // Reads every pending event without blocking and calls fn for each rule or
    // route message of either family (all tables: the caller filters), and
    // each link and address message when following them.
    DrainResult drain_events(const std::function<void(const Event&)>& fn);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Codec, exposed for round-trip tests and the monitor. Encoders write into
// `buf` of `cap` bytes (aligned for nlmsghdr) and return the message length,
// or 0 when the message does not fit (nothing past cap is ever written; the
// buffer's contents are then unspecified). An attribute or nest longer than
// its 16-bit length can say never fits.
std::size_t encode_rule(void* buf, std::size_t cap, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags,
                        std::uint32_t seq, const Rule& r);
std::size_t encode_route(void* buf, std::size_t cap, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags,
                         std::uint32_t seq, const Route& r);
// The kernel's own message of an object read from it, with type, flags and
// seq replaced (pid 0): how a foreign object is deleted by exactly the
// attributes the kernel reported, as `ip rule flush` does. 0 when there is
// no message or it does not fit.
std::size_t encode_kernel_msg(void* buf, std::size_t cap, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags,
                              std::uint32_t seq, const KernelMsg& msg);
// nullopt-like: returns false when the message is not a rule/route of AF_INET/AF_INET6 or is malformed.
// These stay bool + out-parameter rather than Result<T>: they run for every
// object of every dump and event (tens of thousands per resync), decode into
// a caller-reused object, and "not ours / malformed" needs no reason text.
// Attributes the codec does not model go to unknown_attrs (types inside a
// multipath nexthop as kNestedAttr | type), and then the message itself to
// `raw` (routes: unless they use a nexthop object, deleted by key and id).
bool decode_rule(const nlmsghdr* nlh, Rule& out);
bool decode_route(const nlmsghdr* nlh, Route& out);
// An RTM_NEWLINK: index, name and VRF table. False when malformed.
bool decode_link_info(const nlmsghdr* nlh, Link& out);
// Nexthop objects (nhmsg + NHA_*). Replace = NLM_F_CREATE|NLM_F_REPLACE;
// a delete carries the id only. Attributes the decoder does not model
// (encapsulations, NHA_RES_BUCKET, ...) go to unknown_attrs; RTNH_F_DEAD,
// LINKDOWN, OFFLOAD, TRAP and the resilient group's UNBALANCED_TIME are
// state, not part of the object.
std::size_t encode_nexthop(void* buf, std::size_t cap, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags,
                           std::uint32_t seq, const NexthopObject& o);
bool decode_nexthop(const nlmsghdr* nlh, NexthopObject& out);
// RTM_NEWNEIGH/RTM_DELNEIGH of AF_INET/AF_INET6 with NDA_DST.
bool decode_neighbour(const nlmsghdr* nlh, Neighbour& out);
inline constexpr std::uint16_t kNestedAttr = 0x8000;

// The largest route message the agent sends. The kernel reports a route in
// one message that must fit one dump buffer (SKB_WITH_OVERHEAD(32 KiB),
// 32,448 bytes on x86-64 6.x); a larger route is accepted by RTM_NEWROUTE
// but then silently ends every dump of its family in that table, so no tool
// (nor the agent) can read the table back. Kept below that with margin.
inline constexpr std::size_t kMaxRouteMessage = 31 * 1024;
// Bytes of the request encode_route builds for `r` shaped with n nexthops.
std::size_t route_message_size(const Route& r, std::size_t nexthops);
// How many nexthops shaped like r's fit kMaxRouteMessage (with the kernel's
// additions in its reports) and the 16-bit RTA_MULTIPATH length.
std::size_t max_route_nexthops(const Route& r);

}  // namespace nra::nl
