// Nexthop objects (RTM_NEWNEXTHOP, kernel >= 5.3; resilient groups >= 5.13):
// the values, the post-pass that turns each desired multipath route into a
// resilient group of one nexthop object per peer, the stable assignment of
// ids from the agent's range, and the plan that brings the kernel's objects
// in that range to the wanted ones. Pure functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "nra/core/types.hpp"

namespace nra {

// NEXTHOP_GRP_TYPE_* of <linux/nexthop.h>.
inline constexpr std::uint16_t kNhGroupMpath = 0;
inline constexpr std::uint16_t kNhGroupResilient = 1;
// USER_HZ: the kernel reports (and takes) resilient timers in clock_t ticks.
inline constexpr std::uint32_t kNhClockHz = 100;

struct NhGroupMember {
    std::uint32_t id = 0;
    std::uint16_t weight = 1;  // 1..256
    auto operator<=>(const NhGroupMember&) const = default;
};

// One nexthop object as the kernel holds it: a gateway on a device, or a
// group of other objects. Every field the kernel reports and a request can
// set is here; two objects are the same object iff equal.
struct NexthopObject {
    std::uint32_t id = 0;
    std::uint8_t family = 0;  // nh_family: AF_INET/AF_INET6 (gateway), 0 for groups and blackholes
    std::uint8_t protocol = 0;
    std::uint32_t flags = 0;  // RTNH_F_ONLINK etc. (RTNH_F_DEAD/LINKDOWN are state, never compared)
    std::optional<IpAddr> gateway;
    std::uint32_t oif = 0;
    bool blackhole = false;
    bool fdb = false;
    std::vector<NhGroupMember> group;  // in the kernel's order (by id)
    std::uint16_t group_type = kNhGroupMpath;
    // Resilient groups only.
    std::uint16_t buckets = 0;
    std::uint32_t idle_timer = 0;        // clock_t ticks (1/100 s)
    std::uint32_t unbalanced_timer = 0;  // clock_t ticks
    // Attribute types the codec does not model (sorted, unique): never ours.
    std::vector<std::uint16_t> unknown_attrs;

    bool is_group() const { return !group.empty(); }
    auto operator<=>(const NexthopObject&) const = default;
    std::string str() const;  // `ip nexthop`-like text: "id 4200 via 10.0.0.1 dev 3"
};

struct NexthopSettings {
    enum class Mode { Off, Auto };
    Mode mode = Mode::Off;
    std::uint32_t id_min = 4200, id_max = 4999;  // the range the agent owns
    std::uint16_t buckets = 128;
    std::uint32_t idle_timer_s = 120;
    std::uint32_t unbalanced_timer_s = 0;  // 0: never force a rebalance
    std::uint8_t protocol = kOurProtocol;
    bool contains(std::uint32_t id) const { return id >= id_min && id <= id_max; }
};

// What an id stands for: a gateway on a link, or the group of a route
// (family x table).
struct NhKey {
    bool group = false;
    IpAddr gateway;              // !group
    std::uint32_t ifindex = 0;   // !group
    Family family = Family::V4;  // group
    std::uint32_t table = 0;     // group
    auto operator<=>(const NhKey&) const = default;
};
using NhAssignment = std::map<NhKey, std::uint32_t>;

// The assignment the kernel shows: our objects in the range (single
// nexthops by gateway and device), and the group each of our routes uses.
NhAssignment recover_assignment(const std::vector<NexthopObject>& objects, const std::vector<Route>& routes,
                                const NexthopSettings& s);

// Ids for `wanted`: a key keeps its previous id while it is wanted (and the
// id is in the range, given to no other key); a new key takes the lowest id
// not in `previous` nor given to another wanted key (an object not ours
// that holds it is an imposter, replaced). Fails when the range is exhausted.
Result<NhAssignment> assign_ids(const std::vector<NhKey>& wanted, const NhAssignment& previous,
                                const NexthopSettings& s);

// The desired objects and the routes rewritten to use them.
struct NexthopLayout {
    std::vector<NexthopObject> objects;  // singles first (by id), then groups (by id)
    std::vector<Route> routes;           // desired routes, with nh_id and no nexthops where a group is used
    NhAssignment assignment;
    std::vector<std::string> notes;  // routes left as multipath, and why
};

// Post-pass over the desired routes: each route with nexthops gets one
// nexthop object per distinct (gateway, ifindex) and one resilient group
// (weights mapped); the route becomes `nhid GROUP`. A gateway without a
// known link (ifindex 0 and absent from `links`) keeps its route multipath,
// with a note (the kernel needs a device for a nexthop object).
Result<NexthopLayout> nexthop_layout(const std::vector<Route>& routes, const std::map<IpAddr, std::uint32_t>& links,
                                     const NhAssignment& previous, const NexthopSettings& s);

enum class NhOpKind { Replace, Del };
struct NhOp {
    NhOpKind kind;
    NexthopObject object;
    Reason reason;
    std::string str() const;  // "replace nexthop id 4200 via 10.0.0.1 dev 3 (missing)"
};

// The nexthop-object half of a reconcile, make-before-break:
// `before` (single nexthops, then groups) is applied before the route ops,
// `after` (groups, then single nexthops no longer wanted) once no route
// uses them. Objects in the range that differ from the wanted ones or are
// not wanted are replaced or deleted (imposters: not stamped with our
// protocol); an object whose kind changes (a group where a nexthop is
// wanted) is deleted first, in `before`. Objects outside the range are
// never touched.
struct NhPlan {
    std::vector<NhOp> before;
    std::vector<NhOp> after;
    bool empty() const { return before.empty() && after.empty(); }
};
NhPlan plan_nexthops(const std::vector<NexthopObject>& wanted, const std::vector<NexthopObject>& observed,
                     const NexthopSettings& s);
// CLEANANDEXIT: every object in the range, groups first.
std::vector<NhOp> plan_nexthops_clean(const std::vector<NexthopObject>& observed, const NexthopSettings& s);

}  // namespace nra
