#include "nra/core/bgp_session.hpp"

#include <algorithm>
#include <cctype>

namespace nra {

std::optional<IpAddr> parse_session_peer(std::string_view text) {
    if (text.empty() || text.size() > 64) return std::nullopt;
    if (auto a = IpAddr::parse(text)) return a;
    // frr-k8s's label form of IPv6: 8 groups of 4 hex digits joined by '-'.
    if (text.size() != 39) return std::nullopt;
    std::string s(text);
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool sep = i % 5 == 4;
        const char c = s[i];
        if (sep) {
            if (c != '-') return std::nullopt;
            s[i] = ':';
        } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
            return std::nullopt;
        }
    }
    auto a = IpAddr::parse(s);
    if (!a || a->family != Family::V6) return std::nullopt;
    return a;
}

std::map<IpAddr, BgpSession> sessions_by_gateway(const BgpSessions& sessions, const std::vector<Peer>& peers,
                                                 const PeerPaths& paths) {
    std::map<IpAddr, BgpSession> out;
    for (const Peer& p : peers) {
        if (auto it = paths.find(PeerKey{p.address, p.vrf}); it != paths.end()) {
            const PeerPath& path = it->second;
            if (path.recursive || path.hops.size() != 1 || path.hops[0].gateway != p.address) continue;
        }
        auto s = std::find_if(sessions.begin(), sessions.end(),
                              [&](const BgpSession& x) { return x.peer == p.address && x.vrf == p.vrf; });
        if (s == sessions.end()) continue;
        auto [slot, added] = out.emplace(p.address, *s);
        if (!added && !slot->second.established() && s->established()) slot->second = *s;
    }
    return out;
}

}  // namespace nra
