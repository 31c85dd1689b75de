#include "nra/core/legacy.hpp"

#include "nra/core/selector.hpp"

#include <string>
#include <string_view>
#include <unordered_set>

namespace nra {

namespace {

std::string at(const Node& n, const std::string& path) { return n.where(path); }

// Entry diagnostics (not the fatal ones, which always land last): capped.
struct Diags {
    std::vector<Diagnostic>& list;
    std::size_t& dropped;
    void push_back(Diagnostic d) {
        if (list.size() < kMaxLegacyDiagnostics)
            list.push_back(std::move(d));
        else
            ++dropped;
    }
};

std::string idx(const std::string& base, std::size_t i) {
    std::string s;
    s.reserve(base.size() + 12);
    return s.append(base).append("[").append(std::to_string(i)).append("]");
}

// One legacy node selector: {match-labels: {k: v}, match-expressions: [{key, operator, values}]}.
bool parse_selector(const Node& n, const std::string& path, LabelSelector& out, Diags diags) {
    if (n.is_null()) return true;  // an empty item selects every node
    if (!n.is_map()) {
        diags.push_back({at(n, path), "node selector must be a mapping"});
        return false;
    }
    if (const Node* ml = n.get("match-labels"); ml && !ml->is_null()) {
        if (!ml->is_map()) {
            diags.push_back({at(*ml, path + ".match-labels"), "match-labels must be a mapping"});
            return false;
        }
        for (const auto& [k, v] : ml->map) {
            if (!v.is_scalar()) {
                diags.push_back({at(v, path + ".match-labels." + std::string(k)), "label value must be a string"});
                return false;
            }
            out.match_labels[std::string(k)] = v.scalar.str();
        }
    }
    if (const Node* me = n.get("match-expressions"); me && !me->is_null()) {
        if (!me->is_seq()) {
            diags.push_back({at(*me, path + ".match-expressions"), "match-expressions must be a list"});
            return false;
        }
        std::size_t i = 0;
        for (auto it = me->items.begin(); it != me->items.end(); ++it, ++i) {
            const Node& e = *it;
            const std::string p = idx(path + ".match-expressions", i);
            const Node* key = e.get("key");
            const Node* op = e.get("operator");
            if (!key || !key->is_scalar() || key->scalar.empty() || !op || !op->is_scalar()) {
                diags.push_back({at(e, p), "expression needs a key and an operator"});
                return false;
            }
            LabelRequirement r;
            r.key = key->scalar.str();
            if (auto parsed = parse_selector_op(op->scalar.view())) {
                r.op = *parsed;
            } else {
                diags.push_back({at(*op, p + ".operator"), "unknown operator '" + op->scalar.str() + "'"});
                return false;
            }
            if (const Node* vals = e.get("values"); vals && !vals->is_null()) {
                if (!vals->is_seq()) {
                    diags.push_back({at(*vals, p + ".values"), "values must be a list"});
                    return false;
                }
                for (const Node& v : vals->items) r.values.push_back(v.scalar.str());
            }
            if (auto err = requirement_error(r); !err.empty()) {
                diags.push_back({at(e, p), std::move(err)});
                return false;
            }
            out.match_expressions.push_back(std::move(r));
        }
    }
    return true;
}

void parse_peers(const Node& peers, LegacyParse& out) {
    if (peers.is_null()) return;
    if (!peers.is_seq()) {
        // The shape is wrong, not one entry: applying "no peers" would wipe routing.
        out.fatal = true;
        out.diagnostics.push_back({at(peers, "peers"), "peers must be a list"});
        return;
    }
    out.has_lists = true;
    Diags diags{out.diagnostics, out.diagnostics_dropped};
    std::size_t i = 0;
    for (auto it = peers.items.begin(); it != peers.items.end(); ++it, ++i) {
        const Node& p = *it;
        const std::string path = idx("peers", i);
        if (!p.is_map()) {
            diags.push_back({at(p, path), "peer must be a mapping"});
            continue;
        }
        const Node* addr = p.get("peer-address");
        if (!addr || !addr->is_scalar()) {
            diags.push_back({at(p, path), "peer has no peer-address; skipped"});
            continue;
        }
        auto ip = IpAddr::parse(addr->scalar.view());
        if (!ip) {
            diags.push_back(
                {at(*addr, path + ".peer-address"), "invalid peer-address '" + addr->scalar.str() + "'; peer skipped"});
            continue;
        }
        Peer peer;
        peer.address = *ip;
        peer.name = path;
        bool ok = true;
        if (const Node* ns = p.get("node-selectors"); ns && !ns->is_null()) {
            if (!ns->is_seq()) {
                diags.push_back({at(*ns, path + ".node-selectors"), "node-selectors must be a list; peer skipped"});
                continue;
            }
            std::size_t j = 0;
            for (auto s = ns->items.begin(); s != ns->items.end() && ok; ++s, ++j) {
                LabelSelector sel;
                ok = parse_selector(*s, idx(path + ".node-selectors", j), sel, diags);
                peer.node_selectors.push_back(std::move(sel));
            }
        }
        if (!ok) {
            diags.push_back({at(p, path), "peer " + ip->str() + " skipped: invalid node-selectors"});
            continue;
        }
        out.model.peers.push_back(std::move(peer));
    }
}

void parse_pools(const Node& pools, LegacyParse& out) {
    if (pools.is_null()) return;
    if (!pools.is_seq()) {
        out.fatal = true;
        out.diagnostics.push_back({at(pools, "address-pools"), "address-pools must be a list"});
        return;
    }
    out.has_lists = true;
    Diags diags{out.diagnostics, out.diagnostics_dropped};
    std::unordered_set<std::string_view> seen;  // views into the tree
    std::size_t i = 0;
    for (auto it = pools.items.begin(); it != pools.items.end(); ++it, ++i) {
        const Node& pool = *it;
        const std::string path = idx("address-pools", i);
        if (!pool.is_map()) {
            diags.push_back({at(pool, path), "address pool must be a mapping"});
            continue;
        }
        const Node* proto = pool.get("protocol");
        if (!proto || !proto->is_scalar()) {
            diags.push_back({at(pool, path), "address pool has no protocol; skipped"});
            continue;
        }
        if (proto->scalar.view() != "bgp") {
            if (proto->scalar.view() != "layer2")
                diags.push_back({at(*proto, path + ".protocol"),
                                 "unknown protocol '" + proto->scalar.str() + "' (bgp or layer2); pool skipped"});
            continue;
        }
        const Node* addrs = pool.get("addresses");
        if (!addrs || addrs->is_null()) continue;
        if (!addrs->is_seq()) {
            diags.push_back({at(*addrs, path + ".addresses"), "addresses must be a list"});
            continue;
        }
        const std::string list = path + ".addresses";
        std::size_t j = 0;
        for (auto ai = addrs->items.begin(); ai != addrs->items.end(); ++ai, ++j) {
            const Node& a = *ai;
            std::string where = at(a, idx(list, j));
            if (!a.is_scalar()) {
                diags.push_back({std::move(where), "address entry must be a string"});
                continue;
            }
            // Checked here, not only when the desired state is built: a 1 MiB
            // list of invalid or repeated entries must not become hundreds of
            // thousands of model entries (each with its location) first.
            const std::string_view text = a.scalar.view();
            if (!seen.insert(text).second) continue;  // the same text again: nothing to add
            auto r = parse_pool_entry(text);
            if (!r) {
                diags.push_back(
                    {std::move(where), "invalid address '" + a.scalar.str() + "': " + r.error + "; skipped"});
                continue;
            }
            out.model.addresses.push_back(AddressEntry{a.scalar.str(), std::move(where), std::move(r.value)});
        }
    }
}

}  // namespace

LegacyParse parse_legacy(const Node& doc) {
    LegacyParse out;
    if (doc.is_null()) return out;  // empty document: empty configuration
    if (!doc.is_map()) {
        out.fatal = true;
        out.diagnostics.push_back({doc.where(), "configuration must be a mapping with peers and address-pools"});
        return out;
    }
    if (const Node* peers = doc.get("peers")) parse_peers(*peers, out);
    if (out.fatal) return out;
    if (const Node* pools = doc.get("address-pools")) parse_pools(*pools, out);
    if (!out.fatal && out.diagnostics_dropped > 0)
        out.diagnostics.push_back(
            {doc.where(), std::to_string(out.diagnostics_dropped) + " more invalid entries skipped (not listed)"});
    return out;
}

}  // namespace nra
