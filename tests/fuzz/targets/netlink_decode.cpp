// libFuzzer target: rule, route, nexthop object and neighbour decoding
// (src/netlink/codec.cpp decode_rule, decode_route, decode_nexthop,
// decode_neighbour) from raw rtnetlink messages, as a dump reply or an event
// datagram delivers them.
//
// Input: a datagram of netlink messages; walked with detail::nlmsg_ok /
// mnl_nlmsg_next exactly as src/netlink/rtnl.cpp does, each message decoded
// as a rule and as a route, then printed as the agent logs it (str()).
// Invariants: a decoded object has the family of its header (AF_INET or
// AF_INET6), prefix lengths within the family, and nexthop gateways of a
// known family; a nexthop object has an id, a gateway of its header's
// family, and re-encodes into a message that decodes back equal.
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../../src/netlink/attr.hpp"
#include "nra/netlink/rtnl.hpp"

namespace {

bool prefix_ok(const nra::Prefix& p, nra::Family f) {
    return p.addr.family == f && p.len <= (f == nra::Family::V4 ? 32 : 128);
}

bool family_ok(nra::Family f) { return f == nra::Family::V4 || f == nra::Family::V6; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The receive buffer is aligned; the fuzzer's input need not be.
    std::vector<std::uint32_t> buf((size + 3) / 4);
    if (size) std::memcpy(buf.data(), data, size);
    int len = static_cast<int>(size);
    for (auto* m = reinterpret_cast<const nlmsghdr*>(buf.data()); nra::nl::detail::nlmsg_ok(m, len);
         m = mnl_nlmsg_next(m, &len)) {
        nra::Rule rule;
        if (nra::nl::decode_rule(m, rule)) {
            if (!family_ok(rule.family)) std::abort();
            if (rule.src && !prefix_ok(*rule.src, rule.family)) std::abort();
            if (rule.dst && !prefix_ok(*rule.dst, rule.family)) std::abort();
            (void)rule.str();
        }
        nra::Route route;
        if (nra::nl::decode_route(m, route)) {
            if (!family_ok(route.family)) std::abort();
            if (!prefix_ok(route.dst, route.family) || !prefix_ok(route.src, route.family)) std::abort();
            for (const nra::Nexthop& nh : route.nexthops)
                if (!family_ok(nh.gateway.family)) std::abort();
            (void)route.str();
            (void)nra::route_key(route);
        }
        nra::NexthopObject nh;
        if (nra::nl::decode_nexthop(m, nh)) {
            if (nh.id == 0) std::abort();
            if (nh.gateway && static_cast<std::uint8_t>(nh.gateway->family) != nh.family) std::abort();
            (void)nh.str();
            if (nh.unknown_attrs.empty() && !nh.blackhole && !nh.fdb && (nh.is_group() || nh.family)) {
                std::vector<std::uint32_t> out(16384);
                std::size_t n = nra::nl::encode_nexthop(out.data(), out.size() * 4, RTM_NEWNEXTHOP, 0, 1, nh);
                nra::NexthopObject back;
                if (n && nra::nl::decode_nexthop(reinterpret_cast<const nlmsghdr*>(out.data()), back)) {
                    // Weights above 256 do not survive the 8-bit request field;
                    // the group type is only sent for groups.
                    bool wide = false;
                    for (const auto& g : nh.group) wide |= g.weight > 256;
                    if (!wide && nh.is_group() && back.group != nh.group) std::abort();
                }
            }
        }
        nra::nl::Neighbour ne;
        if (nra::nl::decode_neighbour(m, ne) && (!family_ok(ne.dst.family) || ne.ifindex == 0)) std::abort();
    }
    return 0;
}
