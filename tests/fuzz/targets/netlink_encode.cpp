// libFuzzer target: the netlink encoders (src/netlink/codec.cpp encode_rule,
// encode_route) driven by desired states built from fuzzed configurations,
// as the agent builds them (issue 8 item 1: 2,400 IPv6 peers wrapped the
// 16-bit RTA_MULTIPATH length and overflowed a fixed buffer).
//
// Input: byte 0 = settings (family mix, weights, table >= 256), bytes 1-2 =
// peer count (up to 6,000), byte 3 = the buffer capacity class, the rest
// seeds the peer addresses and the pool entries. Each desired route and rule
// is encoded into a buffer of the chosen capacity surrounded by guard bytes.
// Invariants: nothing is written past the capacity; a message that does not
// fit is reported as 0, never truncated; an encoded message has the length
// it claims, decodes back to the same object, and a route that encodes at
// all carries no more nexthops than max_route_nexthops() allows once it is
// within kMaxRouteMessage.
#include <linux/rtnetlink.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "nra/core/desired.hpp"
#include "nra/netlink/rtnl.hpp"

namespace {

using namespace nra;

constexpr unsigned char kGuard = 0xa5;

struct Bytes {
    const std::uint8_t* p;
    std::size_t n, i = 0;
    std::uint8_t next() { return n ? p[i++ % n] : 0; }
};

IpAddr peer_address(bool v6, std::uint32_t k, Bytes& b) {
    IpAddr a;
    a.family = v6 ? Family::V6 : Family::V4;
    if (v6) {
        a.bytes[0] = 0xfd;
        a.bytes[1] = b.next();
    } else {
        a.bytes[0] = 10;
    }
    const std::size_t n = family_bytes(a.family);
    a.bytes[n - 1] = static_cast<std::uint8_t>(k);
    a.bytes[n - 2] = static_cast<std::uint8_t>(k >> 8);
    a.bytes[n - 3] = static_cast<std::uint8_t>(1 + (k >> 16));  // never 0.0.0.0 or ::
    return a;
}

template <class T, class Encode, class Decode>
void check_encoding(const T& obj, std::size_t cap, Encode encode, Decode decode) {
    std::vector<unsigned char> buf(cap + 64, kGuard);
    const std::size_t len = encode(buf.data(), cap, obj);
    for (std::size_t k = cap; k < buf.size(); ++k)
        if (buf[k] != kGuard) std::abort();  // written past the capacity
    if (len == 0) return;                    // did not fit: reported, nothing sent
    if (len > cap) std::abort();
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(buf.data());
    if (nlh->nlmsg_len != len) std::abort();
    T back;
    if (!decode(nlh, back)) std::abort();
    if (!(back == obj)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    Bytes b{data + 4, size - 4};
    const std::uint8_t mode = data[0];
    const std::size_t peers = (static_cast<std::size_t>(data[1]) << 8 | data[2]) % 6001;
    static constexpr std::size_t kCaps[] = {0, 16, 64, 200, 1024, 8192, 32768, 65536, 70000, 1 << 20};
    const std::size_t cap = kCaps[data[3] % (sizeof kCaps / sizeof kCaps[0])];

    Model m;
    for (std::size_t k = 0; k < peers; ++k) {
        const bool v6 = (mode & 3) == 1 || ((mode & 3) == 2 && (b.next() & 1));
        Peer p;
        p.address = peer_address(v6, static_cast<std::uint32_t>(k), b);
        p.weight = (mode & 4) ? static_cast<std::uint16_t>(1 + b.next()) : 0;
        m.peers.push_back(std::move(p));
    }
    for (int k = 0, n = b.next() % 8; k < n; ++k) {
        std::string text = (b.next() & 1)
                               ? "2001:db8:" + std::to_string(b.next()) + "::/" + std::to_string(b.next() % 129)
                               : "192.0." + std::to_string(b.next()) + ".0/" + std::to_string(b.next() % 33);
        m.addresses.push_back(AddressEntry{text, "fuzz"});
    }
    Settings s;
    if (mode & 8) s.table = 1000 + b.next();
    if (mode & 16) {
        s.fwmark = b.next();
        s.fwmask = 0xff;
    }
    const Desired d = desired_state(m, s);

    for (const Route& r : d.routes) {
        check_encoding(
            r, cap,
            [](void* buf, std::size_t c, const Route& x) {
                return nl::encode_route(buf, c, RTM_NEWROUTE, NLM_F_REQUEST, 1, x);
            },
            [](const nlmsghdr* h, Route& out) { return nl::decode_route(h, out); });
        // Whatever fits kMaxRouteMessage is within the documented limit.
        const std::size_t max = nl::max_route_nexthops(r);
        if (nl::route_message_size(r, std::min(max, r.nexthops.size())) > nl::kMaxRouteMessage) std::abort();
    }
    for (const Rule& r : d.rules)
        check_encoding(
            r, cap,
            [](void* buf, std::size_t c, const Rule& x) {
                return nl::encode_rule(buf, c, RTM_NEWRULE, NLM_F_REQUEST, 1, x);
            },
            [](const nlmsghdr* h, Rule& out) { return nl::decode_rule(h, out); });
    return 0;
}
