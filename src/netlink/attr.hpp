// Private helpers shared by the netlink codec, transport and monitor:
// attribute tables over libmnl, without the C macros that do not compile
// as C++.
#pragma once

#include <libmnl/libmnl.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace nra::nl::detail {

// Attributes of one nesting level indexed by type; later duplicates win.
// Types above N are ignored (newer kernels add attributes).
template <std::size_t N>
struct AttrTable {
    std::array<const nlattr*, N + 1> at{};

    const nlattr* operator[](std::size_t type) const { return type <= N ? at[type] : nullptr; }

    // Attributes from `offset` bytes into the payload of nlh.
    bool parse(const nlmsghdr* nlh, std::size_t offset) {
        if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(offset)) return false;
        auto* first = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, offset));
        int len = static_cast<int>(nlh->nlmsg_len) - static_cast<int>(MNL_NLMSG_HDRLEN + MNL_ALIGN(offset));
        return parse_span(first, len);
    }
    // The attributes nested in `nest`.
    bool parse_nested(const nlattr* nest) {
        auto* first = static_cast<const nlattr*>(mnl_attr_get_payload(nest));
        return parse_span(first, static_cast<int>(mnl_attr_get_payload_len(nest)));
    }
    // A raw span of attributes (e.g. after an rtnexthop).
    bool parse_span(const nlattr* a, int len) {
        while (mnl_attr_ok(a, len)) {
            std::uint16_t t = mnl_attr_get_type(a);
            if (t <= N) at[t] = a;
            len -= static_cast<int>(MNL_ALIGN(a->nla_len));
            a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(a) + MNL_ALIGN(a->nla_len));
        }
        return len == 0 || len < static_cast<int>(sizeof(nlattr));  // trailing padding only
    }
};

// Whether a whole message of `len` remaining bytes starts at nlh. Replaces
// mnl_nlmsg_ok, which compares (int)nlmsg_len <= len: a length of 2 GiB or
// more is negative there and accepted, and mnl_nlmsg_next then steps far
// outside the buffer (found by fuzzing, tests/fuzz/regressions/netlink_decode).
inline bool nlmsg_ok(const nlmsghdr* nlh, int len) {
    return len >= static_cast<int>(sizeof(nlmsghdr)) && nlh->nlmsg_len >= sizeof(nlmsghdr) &&
           nlh->nlmsg_len <= static_cast<unsigned>(len);
}

// Size-checked payload reads: false when the attribute is absent or short.
inline bool attr_u8(const nlattr* a, std::uint8_t& v) {
    if (!a || mnl_attr_get_payload_len(a) < 1) return false;
    v = mnl_attr_get_u8(a);
    return true;
}
inline bool attr_u32(const nlattr* a, std::uint32_t& v) {
    if (!a || mnl_attr_get_payload_len(a) < 4) return false;
    v = mnl_attr_get_u32(a);
    return true;
}

}  // namespace nra::nl::detail
