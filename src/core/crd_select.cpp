#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "nra/base/text.hpp"
#include "nra/core/crd.hpp"
#include "nra/core/ip.hpp"
#include "nra/core/selector.hpp"

namespace nra {

namespace {

std::string id(const std::string& ns, const std::string& name) { return ns + "/" + name; }

bool disabled(const Labels& labels) {
    const auto it = labels.find(kLabelEnabled);
    return it != labels.end() && parse_bool(it->second) == false;
}

// 1..256, decimal digits only.
std::optional<std::uint16_t> parse_weight(const std::string& s) {
    if (s.empty() || s.size() > 3) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v < 1 || v > 256) return std::nullopt;
    return static_cast<std::uint16_t>(v);
}

// What makes MetalLB's config controller refuse the whole set of objects
// (internal/config/config.go: peerFromCR, addressPoolFromCR, the overlap
// check of poolsFor), for the fields the agent reads: a peer with an invalid
// spec.peerAddress or with neither an address nor an interface, a pool
// without addresses or with an invalid one, and CIDRs of two pools (or of
// one) that overlap. Every pool counts, selected by an advertisement or not.
// An advertisement naming a pool that does not exist is ignored (as MetalLB).
void whole_set_rejections(const CrdInputView& in, CrdSelection& out) {
    const auto reject = [&](std::string where, std::string what) {
        out.diagnostics.push_back({std::move(where), std::move(what)});
        out.rejected = true;
    };
    for (const CrdPeer* p : in.peers) {
        const std::string where = "BGPPeer " + id(p->ns, p->name);
        if (p->peer_address.empty() && p->interface_name.empty())
            reject(where, "no spec.peerAddress nor spec.interface");
        else if (!p->peer_address.empty() && !IpAddr::parse(p->peer_address))
            reject(where, "invalid spec.peerAddress '" + p->peer_address + "'");
    }
    struct Span {
        Family family;
        u128 first, last;
        const CrdPool* pool;
        std::size_t index;
    };
    std::vector<Span> spans;
    for (const CrdPool* pool : in.pools) {
        const std::string where = "IPAddressPool " + id(pool->ns, pool->name);
        if (pool->addresses.empty()) reject(where, "no spec.addresses");
        for (std::size_t i = 0; i < pool->addresses.size(); ++i) {
            auto parsed = i < pool->parsed.size() ? pool->parsed[i] : parse_pool_entry(pool->addresses[i]);
            if (!parsed) {
                reject(where + " spec.addresses[" + std::to_string(i) + "]",
                       "invalid address '" + pool->addresses[i] + "': " + parsed.error);
                continue;
            }
            if (!parsed.value->empty())
                spans.push_back({parsed.value->front().family(), parsed.value->front().first(),
                                 parsed.value->back().last(), pool, i});
        }
    }
    // A range's CIDRs are contiguous: entries overlap exactly when their intervals do.
    std::sort(spans.begin(), spans.end(),
              [](const Span& a, const Span& b) { return std::tie(a.family, a.first) < std::tie(b.family, b.first); });
    const Span* reach = nullptr;  // the earlier entry reaching furthest, same family
    for (const Span& s : spans) {
        if (reach && reach->family == s.family && s.first <= reach->last)
            reject("IPAddressPool " + id(s.pool->ns, s.pool->name) + " spec.addresses[" + std::to_string(s.index) + "]",
                   "'" + s.pool->addresses[s.index] + "' overlaps '" + reach->pool->addresses[reach->index] +
                       "' of IPAddressPool " + id(reach->pool->ns, reach->pool->name));
        if (!reach || reach->family != s.family || s.last > reach->last) reach = &s;
    }
}

}  // namespace

CrdSelection select_crd(const CrdInput& in) {
    CrdInputView view;
    view.peers.reserve(in.peers.size());
    for (const auto& p : in.peers) view.peers.push_back(&p);
    view.pools.reserve(in.pools.size());
    for (const auto& p : in.pools) view.pools.push_back(&p);
    view.advertisements.reserve(in.advertisements.size());
    for (const auto& a : in.advertisements) view.advertisements.push_back(&a);
    view.node_labels = in.node_labels;
    return select_crd(view);
}

CrdSelection select_crd(const CrdInputView& in) {
    CrdSelection out;

    // Invalid selectors make the whole configuration invalid, as MetalLB
    // rejects it: the caller keeps the last good config.
    auto check = [&](const std::string& kind, const std::string& ns, const std::string& name,
                     const std::string& invalid, const std::vector<LabelSelector>& sels) {
        if (!invalid.empty()) {
            out.diagnostics.push_back({kind + " " + id(ns, name), invalid});
            out.rejected = true;
        }
        for (std::size_t i = 0; i < sels.size(); ++i) {
            if (auto err = selector_error(sels[i]); !err.empty()) {
                out.diagnostics.push_back({kind + " " + id(ns, name), "selector " + std::to_string(i) + ": " + err});
                out.rejected = true;
            }
        }
    };
    for (const CrdPeer* p : in.peers) check("BGPPeer", p->ns, p->name, p->invalid, p->node_selectors);
    for (const CrdAdvertisement* a : in.advertisements) {
        check("BGPAdvertisement", a->ns, a->name, a->invalid, a->pool_selectors);
        check("BGPAdvertisement", a->ns, a->name, {}, a->node_selectors);
    }
    whole_set_rejections(in, out);
    if (out.rejected) return out;

    // Peers.
    std::vector<const CrdPeer*> peers = in.peers;
    std::sort(peers.begin(), peers.end(),
              [](const CrdPeer* a, const CrdPeer* b) { return std::tie(a->ns, a->name) < std::tie(b->ns, b->name); });
    // Applicable peer name (same namespace as the advertisements) -> the
    // Model peer holding its address (two BGPPeers with one address are one
    // nexthop: the first by namespace/name).
    std::map<std::string, std::string> applicable;
    std::map<IpAddr, std::string> seen;
    for (const CrdPeer* p : peers) {
        const std::string where = "BGPPeer " + id(p->ns, p->name);
        if (disabled(p->labels)) continue;
        if (in.node_labels) {
            if (!any_selector_matches(p->node_selectors, *in.node_labels)) continue;
        }
        std::string text = p->peer_address;
        const auto label = p->labels.find(kLabelAddress);
        if (label != p->labels.end()) {
            text = label->second;
        } else if (text.empty()) {
            if (!p->interface_name.empty()) {
                out.diagnostics.push_back({where, "interface-only (unnumbered) peer on '" + p->interface_name +
                                                      "' has no address to route via; skipped"});
            } else {
                out.diagnostics.push_back({where, "no spec.peerAddress; skipped"});
            }
            continue;
        }
        auto addr = IpAddr::parse(text);
        if (!addr) {
            out.diagnostics.push_back({where, std::string("invalid ") +
                                                  (label != p->labels.end() ? kLabelAddress : "spec.peerAddress") +
                                                  " '" + text + "'; skipped"});
            continue;
        }
        Peer peer;
        peer.address = *addr;
        peer.name = id(p->ns, p->name);
        peer.vrf = p->vrf;
        if (auto w = p->labels.find(kLabelWeight); w != p->labels.end()) {
            if (auto weight = parse_weight(w->second)) {
                peer.weight = *weight;
            } else {
                out.diagnostics.push_back({where, std::string("invalid ") + kLabelWeight + " '" + w->second +
                                                      "' (want 1..256); label ignored"});
            }
        }
        const auto [at, fresh] = seen.emplace(peer.address, peer.name);
        applicable.emplace(p->name, at->second);
        if (!fresh) continue;  // same nexthop twice
        out.model.peers.push_back(std::move(peer));
    }

    // Pools selected by some advertisement that applies here.
    // Informer caches hand them over sorted already: sorting is then skipped.
    std::vector<const CrdPool*> pools = in.pools;
    const auto pool_less = [](const CrdPool* a, const CrdPool* b) {
        return std::tie(a->ns, a->name) < std::tie(b->ns, b->name);
    };
    if (!std::is_sorted(pools.begin(), pools.end(), pool_less)) std::sort(pools.begin(), pools.end(), pool_less);
    std::vector<char> selected(pools.size(), 0);
    // Per pool: the peers of the advertisements that select it (as MetalLB's
    // speaker announces a pool's prefixes to a peer iff some advertisement
    // of the pool that applies to this node names it, or names none).
    std::vector<char> to_all(pools.size(), 0);
    std::vector<std::set<std::string>> to_peers(pools.size());
    for (const CrdAdvertisement* adp : in.advertisements) {
        const CrdAdvertisement& ad = *adp;
        if (in.node_labels && !any_selector_matches(ad.node_selectors, *in.node_labels)) continue;
        if (!ad.peers.empty() && std::none_of(ad.peers.begin(), ad.peers.end(),
                                              [&](const std::string& n) { return applicable.count(n) > 0; }))
            continue;
        const bool all = ad.pools.empty() && ad.pool_selectors.empty();
        for (std::size_t k = 0; k < pools.size(); ++k) {
            const CrdPool* pool = pools[k];
            if (all || std::find(ad.pools.begin(), ad.pools.end(), pool->name) != ad.pools.end() ||
                std::any_of(ad.pool_selectors.begin(), ad.pool_selectors.end(),
                            [&](const LabelSelector& s) { return selector_matches(s, pool->labels); })) {
                selected[k] = 1;
                if (ad.peers.empty()) to_all[k] = 1;
                for (const std::string& n : ad.peers)
                    if (auto it = applicable.find(n); it != applicable.end()) to_peers[k].insert(it->second);
            }
        }
    }
    for (std::size_t k = 0; k < pools.size(); ++k) {
        if (!selected[k]) continue;
        const CrdPool* pool = pools[k];
        std::optional<std::vector<std::string>> pool_peers;
        if (!to_all[k]) pool_peers.emplace(to_peers[k].begin(), to_peers[k].end());
        std::string prefix = "IPAddressPool " + id(pool->ns, pool->name) + " spec.addresses[";
        for (std::size_t i = 0; i < pool->addresses.size(); ++i) {
            std::string where = prefix + std::to_string(i) + "]";
            // Parsed once when the object was decoded (pool->parsed), else here.
            auto parsed = i < pool->parsed.size() ? pool->parsed[i] : parse_pool_entry(pool->addresses[i]);
            if (!parsed) {
                out.diagnostics.push_back(
                    {std::move(where), "invalid address '" + pool->addresses[i] + "': " + parsed.error + "; skipped"});
                continue;
            }
            out.model.addresses.push_back({pool->addresses[i], std::move(where), std::move(parsed.value)});
            out.model.addresses.back().peers = pool_peers;
        }
    }
    return out;
}

}  // namespace nra
