#include "nra/core/ip.hpp"

#include "nra/base/text.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace nra {

std::string_view family_name(Family f) { return f == Family::V4 ? "inet" : "inet6"; }

namespace {

u128 mask_of(Family f, unsigned len) {
    const unsigned bits = family_bits(f);
    if (len == 0) return 0;
    const u128 all = bits == 128 ? ~u128{0} : ((u128{1} << bits) - 1);
    return all & ~((u128{1} << (bits - len)) - 1) & all;
}

u128 all_ones(Family f) { return f == Family::V4 ? u128{0xffffffffu} : ~u128{0}; }

}  // namespace

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
    text = trim(text);
    if (text.empty() || text.size() > 45) return std::nullopt;
    // inet_pton is pure (no I/O); it needs a terminated string.
    char buf[64];
    std::copy(text.begin(), text.end(), buf);
    buf[text.size()] = '\0';
    IpAddr a;
    if (text.find(':') != std::string_view::npos) {
        a.family = Family::V6;
        if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
    } else {
        a.family = Family::V4;
        if (inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
    }
    return a;
}

IpAddr IpAddr::from_u128(Family f, u128 v) {
    IpAddr a;
    a.family = f;
    const unsigned n = family_bytes(f);
    for (unsigned i = 0; i < n; ++i) a.bytes[n - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
    return a;
}

u128 IpAddr::to_u128() const {
    u128 v = 0;
    for (unsigned i = 0; i < family_bytes(family); ++i) v = (v << 8) | bytes[i];
    return v;
}

std::string IpAddr::str() const {
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(family == Family::V4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf)) return "?";
    return buf;
}

bool IpAddr::is_v6_link_local() const { return family == Family::V6 && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }

Prefix Prefix::masked(const IpAddr& a, unsigned len) {
    return Prefix{IpAddr::from_u128(a.family, a.to_u128() & mask_of(a.family, len)), static_cast<std::uint8_t>(len)};
}

std::string Prefix::str() const { return addr.str() + "/" + std::to_string(len); }
u128 Prefix::first() const { return addr.to_u128(); }
u128 Prefix::last() const { return first() | (all_ones(family()) & ~mask_of(family(), len)); }

Result<Prefix> parse_prefix(std::string_view text, bool strict, bool* had_host_bits) {
    using P = Result<Prefix>;
    text = trim(text);
    if (text.empty()) return P::fail("empty address");
    const auto slash = text.find('/');
    const auto addr_text = trim(text.substr(0, slash));
    auto addr = IpAddr::parse(addr_text);
    if (!addr) return P::fail("'" + std::string(addr_text) + "' is not an IPv4 or IPv6 address");
    unsigned len = family_bits(addr->family);
    if (slash != std::string_view::npos) {
        const auto len_text = trim(text.substr(slash + 1));
        auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
        if (len_text.empty() || ec != std::errc{} || end != len_text.data() + len_text.size())
            return P::fail("prefix length '" + std::string(len_text) + "' is not a number");
        if (len > family_bits(addr->family))
            return P::fail("prefix length " + std::to_string(len) + " exceeds " +
                           std::to_string(family_bits(addr->family)) + " for " +
                           std::string(family_name(addr->family)));
    }
    Prefix p = Prefix::masked(*addr, len);
    const bool host_bits = p.addr != *addr;
    if (had_host_bits) *had_host_bits = host_bits;
    if (strict && host_bits) return P::fail("host bits set (did you mean " + p.str() + "?)");
    return P::ok(p);
}

std::vector<Prefix> range_to_prefixes(Family f, u128 first, u128 last) {
    std::vector<Prefix> out;
    if (first > last) return out;
    const unsigned bits = family_bits(f);
    for (;;) {
        // Largest block aligned at `first` that does not pass `last`.
        unsigned host = 0;
        while (host < bits) {
            const unsigned next = host + 1;
            const u128 size_mask = next == 128 ? ~u128{0} : ((u128{1} << next) - 1);
            if ((first & size_mask) != 0) break;    // not aligned
            if ((first | size_mask) > last) break;  // overshoots
            host = next;
        }
        out.push_back(Prefix{IpAddr::from_u128(f, first), static_cast<std::uint8_t>(bits - host)});
        const u128 block_last = host == 128 ? ~u128{0} : (first | ((u128{1} << host) - 1));
        if (block_last >= last) break;
        first = block_last + 1;
    }
    return out;
}

Result<std::vector<Prefix>> parse_pool_entry(std::string_view text) {
    using P = Result<std::vector<Prefix>>;
    const auto t = trim(text);
    if (t.empty()) return P::fail("empty entry");
    const auto dash = t.find('-');
    if (dash == std::string_view::npos) {
        auto p = parse_prefix(t);
        if (!p) return P::fail(p.error);
        return P::ok({*p.value});
    }
    const auto a_text = trim(t.substr(0, dash));
    const auto b_text = trim(t.substr(dash + 1));
    auto a = IpAddr::parse(a_text);
    auto b = IpAddr::parse(b_text);
    if (!a) return P::fail("range start '" + std::string(a_text) + "' is not an IP address");
    if (!b) return P::fail("range end '" + std::string(b_text) + "' is not an IP address");
    if (a->family != b->family) return P::fail("range mixes IPv4 and IPv6");
    if (a->to_u128() > b->to_u128()) return P::fail("range start " + a->str() + " is after its end " + b->str());
    return P::ok(range_to_prefixes(a->family, a->to_u128(), b->to_u128()));
}

std::vector<Prefix> aggregate(std::vector<Prefix> prefixes) {
    // Ranges computed once (thousands of pools): sort by family, start, wider first.
    struct Span {
        Family f;
        u128 lo, hi;
        std::uint8_t len;
    };
    std::vector<Span> spans;
    spans.reserve(prefixes.size());
    for (const Prefix& p : prefixes) spans.push_back(Span{p.family(), p.first(), p.last(), p.len});
    std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) {
        if (x.f != y.f) return x.f < y.f;
        if (x.lo != y.lo) return x.lo < y.lo;
        return x.len < y.len;
    });
    std::vector<Prefix> out;
    out.reserve(spans.size());
    std::size_t i = 0;
    while (i < spans.size()) {
        const Family f = spans[i].f;
        u128 lo = spans[i].lo, hi = spans[i].hi;
        std::size_t j = i + 1;
        for (; j < spans.size() && spans[j].f == f; ++j) {
            if (hi != all_ones(f) && spans[j].lo > hi + 1) break;  // gap: neither overlapping nor adjacent
            hi = std::max(hi, spans[j].hi);
        }
        if (j == i + 1) {
            out.push_back(Prefix::masked(IpAddr::from_u128(f, lo), spans[i].len));  // alone: itself
        } else {
            auto merged = range_to_prefixes(f, lo, hi);
            out.insert(out.end(), merged.begin(), merged.end());
        }
        i = j;
    }
    return out;
}

}  // namespace nra
