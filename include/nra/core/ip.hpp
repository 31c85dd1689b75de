// IP addresses and prefixes of both families, and the address math the agent
// needs: parsing, masking, ranges to CIDRs, aggregation. Pure values.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nra/base/result.hpp"

namespace nra {

// Values equal AF_INET / AF_INET6 so the netlink layer can cast directly.
enum class Family : std::uint8_t { V4 = 2, V6 = 10 };

std::string_view family_name(Family f);  // "inet" / "inet6"
constexpr unsigned family_bits(Family f) { return f == Family::V4 ? 32 : 128; }
constexpr unsigned family_bytes(Family f) { return f == Family::V4 ? 4 : 16; }

using u128 = unsigned __int128;

struct IpAddr {
    Family family = Family::V4;
    std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

    // Same order as the defaulted member-wise comparison (family, then the
    // bytes in network order), but one memcmp: rule sets of 10,000 entries
    // are sorted and searched on every full reconcile.
    std::strong_ordering operator<=>(const IpAddr& o) const {
        if (family != o.family) return family <=> o.family;
        return std::memcmp(bytes.data(), o.bytes.data(), bytes.size()) <=> 0;
    }
    bool operator==(const IpAddr& o) const { return family == o.family && bytes == o.bytes; }

    static std::optional<IpAddr> parse(std::string_view text);
    static IpAddr from_u128(Family f, u128 value);
    u128 to_u128() const;
    std::string str() const;
    bool is_v6_link_local() const;
};

struct Prefix {
    IpAddr addr;  // host bits zero when built by parse_prefix/masked; the kernel may hold
                  // rules with host bits set ("from 10.1.0.1/24"), decoded as they are
    std::uint8_t len = 0;

    auto operator<=>(const Prefix&) const = default;

    Family family() const { return addr.family; }
    std::string str() const;
    u128 first() const;
    u128 last() const;
    // Builds a prefix, clearing host bits.
    static Prefix masked(const IpAddr& a, unsigned len);
};

// "a.b.c.d/len", "x::/len" or a bare address (host prefix). With strict=true,
// host bits set are an error; otherwise they are cleared (*had_host_bits set).
Result<Prefix> parse_prefix(std::string_view text, bool strict = false, bool* had_host_bits = nullptr);

// One address-pool entry: a CIDR, a bare address, or "a-b" (spaces around '-'
// allowed, both ends one family, start <= end). Returns the minimal CIDR list.
Result<std::vector<Prefix>> parse_pool_entry(std::string_view text);

// Minimal list of CIDRs covering [first, last] of family f.
std::vector<Prefix> range_to_prefixes(Family f, u128 first, u128 last);

// Minimal equivalent CIDR set: duplicates dropped, overlapping and adjacent
// prefixes merged. Output sorted (IPv4 first, then by address).
std::vector<Prefix> aggregate(std::vector<Prefix> prefixes);

}  // namespace nra
