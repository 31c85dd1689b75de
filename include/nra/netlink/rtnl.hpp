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
#include <string>
#include <variant>
#include <vector>

#include "nra/core/types.hpp"

struct nlmsghdr;

namespace nra::nl {

struct OpResult {
    int error = 0;         // 0 or a positive errno; benign errnos already mapped to 0
    std::string ext_ack;   // the kernel's extended-ACK message, if any
};

struct DumpResult {
    bool ok = false;
    Observed observed;     // rules (both families) whose table == table; routes in the table
    std::string error;     // what failed, with errno text and ext-ack
};

// A link or address change (only with Rtnl(Follow::LinksAndAddresses)).
struct Interface {
    int ifindex = 0;
    std::uint32_t flags = 0;  // link events: IFF_* of the link
    IpAddr address;           // address events: the local address (IFA_LOCAL, else IFA_ADDRESS)
};

struct Event {
    enum class Type { NewRule, DelRule, NewRoute, DelRoute, NewLink, DelLink, NewAddr, DelAddr };
    Type type;
    std::variant<Rule, Route> object;  // rule and route events
    Interface iface;                   // link and address events
    std::uint32_t portid = 0;  // nlmsg_pid: the port that caused it (ours for our own echoes)

    bool is_interface() const { return type >= Type::NewLink; }
};

struct AddressDump {
    bool ok = false;
    std::vector<IpAddr> addresses;  // every address of every link, both families
    std::string error;
};

struct DrainResult {
    bool overrun = false;   // ENOBUFS: events were lost, resync everything
    bool error = false;     // unexpected socket error (logged by the caller)
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

    // Rules of both families pointing at `table` (in the header or FRA_TABLE),
    // and every route of both families in `table`. A table that does not exist
    // yet is empty, not an error. Retries on NLM_F_DUMP_INTR.
    // `rules`/`routes` select what to dump (the agent re-dumps only what it
    // cannot track from events).
    DumpResult dump(std::uint32_t table, bool rules = true, bool routes = true);

    // The node's own addresses (all links, both families).
    AddressDump dump_addresses();

    // Applies ops in order, batched into as few sendmsg calls as possible,
    // one ack per op. EEXIST on AddRule and ENOENT/ESRCH on deletes are success.
    std::vector<OpResult> apply(const std::vector<Op>& ops);

    // Reads every pending event without blocking and calls fn for each rule or
    // route message of either family (all tables: the caller filters), and
    // each link and address message when following them.
    DrainResult drain_events(const std::function<void(const Event&)>& fn);

private:
    struct Impl;
    Impl* impl_;
};

// Codec, exposed for round-trip tests and the monitor. Buffers must hold at
// least MNL_SOCKET_BUFFER_SIZE bytes. Return the message length.
std::size_t encode_rule(void* buf, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags, std::uint32_t seq, const Rule& r);
std::size_t encode_route(void* buf, std::uint16_t nlmsg_type, std::uint16_t nlmsg_flags, std::uint32_t seq, const Route& r);
// nullopt-like: returns false when the message is not a rule/route of AF_INET/AF_INET6 or is malformed.
bool decode_rule(const nlmsghdr* nlh, Rule& out);
bool decode_route(const nlmsghdr* nlh, Route& out);

}  // namespace nra::nl
