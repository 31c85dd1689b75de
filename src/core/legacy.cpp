#include "nra/core/legacy.hpp"

#include "nra/core/ip.hpp"
#include "nra/core/selector.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

namespace nra {

namespace {

using Keys = std::span<const std::string_view>;

constexpr long long kInvalid = INT64_MIN;  // an integer field reported invalid

// The keys MetalLB v0.12's configFile declares (yaml.UnmarshalStrict
// refuses any other).
constexpr std::string_view kTopKeys[] = {"peers", "bgp-communities", "address-pools", "bfd-profiles"};
constexpr std::string_view kPeerKeys[] = {"my-asn",         "peer-asn",  "peer-address",   "source-address",
                                          "peer-port",      "hold-time", "keepalive-time", "router-id",
                                          "node-selectors", "password",  "bfd-profile",    "ebgp-multihop"};
constexpr std::string_view kSelectorKeys[] = {"match-labels", "match-expressions"};
constexpr std::string_view kRequirementKeys[] = {"key", "operator", "values"};
constexpr std::string_view kPoolKeys[] = {"protocol",        "name",        "addresses",
                                          "avoid-buggy-ips", "auto-assign", "bgp-advertisements"};
constexpr std::string_view kAdvertisementKeys[] = {"aggregation-length", "aggregation-length-v6", "localpref",
                                                   "communities"};
constexpr std::string_view kBfdKeys[] = {"name",          "receive-interval", "transmit-interval", "detect-multiplier",
                                         "echo-interval", "echo-mode",        "passive-mode",      "minimum-ttl"};

std::string idx(const std::string& base, std::size_t i) {
    std::string s;
    s.reserve(base.size() + 12);
    return s.append(base).append("[").append(std::to_string(i)).append("]");
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// A YAML integer as yaml.v2 reads one into an integer field: unquoted,
// decimal (optionally signed) or 0x hexadecimal.
std::optional<long long> parse_int(const Node& n) {
    if (!n.is_scalar() || n.quoted()) return std::nullopt;
    std::string_view s = n.scalar.view();
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    }
    if (s.empty() || s.size() > 19) return std::nullopt;
    long long v = 0;
    for (char c : s) {
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return std::nullopt;
        if (v > (static_cast<long long>(INT64_MAX) - d) / base) return std::nullopt;
        v = v * base + d;
    }
    return neg ? -v : v;
}

// YAML 1.1 booleans, as yaml.v2 resolves them (unquoted).
std::optional<bool> parse_yaml_bool(const Node& n) {
    if (!n.is_scalar() || n.quoted()) return std::nullopt;
    const std::string_view s = n.scalar.view();
    for (std::string_view t : {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
        if (s == t) return true;
    for (std::string_view f : {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
        if (s == f) return false;
    return std::nullopt;
}

// Go's time.ParseDuration, in nanoseconds ("90s", "1m30s", "1.5h", "0").
std::optional<long double> parse_go_duration(std::string_view s) {
    if (s.empty()) return std::nullopt;
    long double sign = 1;
    if (s[0] == '+' || s[0] == '-') {
        if (s[0] == '-') sign = -1;
        s.remove_prefix(1);
    }
    if (s == "0") return 0.0L;
    if (s.empty()) return std::nullopt;
    long double total = 0;
    while (!s.empty()) {
        long double v = 0;
        bool digits = false;
        std::size_t i = 0;
        for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, digits = true) v = v * 10 + (s[i] - '0');
        if (i < s.size() && s[i] == '.') {
            long double scale = 0.1L;
            for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, digits = true, scale /= 10)
                v += (s[i] - '0') * scale;
        }
        if (!digits) return std::nullopt;
        s.remove_prefix(i);
        std::size_t u = 0;
        while (u < s.size() && !(s[u] >= '0' && s[u] <= '9') && s[u] != '.') ++u;
        const std::string_view unit = s.substr(0, u);
        long double mult;
        if (unit == "ns")
            mult = 1;
        else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs")
            mult = 1e3L;
        else if (unit == "ms")
            mult = 1e6L;
        else if (unit == "s")
            mult = 1e9L;
        else if (unit == "m")
            mult = 60e9L;
        else if (unit == "h")
            mult = 3600e9L;
        else
            return std::nullopt;
        total += v * mult;
        s.remove_prefix(u);
    }
    return sign * total;
}

// "AA:BB", two 16-bit numbers (v0.12's parseCommunity).
bool valid_community(std::string_view c) {
    const auto colon = c.find(':');
    if (colon == std::string_view::npos || c.find(':', colon + 1) != std::string_view::npos) return false;
    for (std::string_view part : {c.substr(0, colon), c.substr(colon + 1)}) {
        if (part.empty() || part.size() > 5) return false;
        unsigned v = 0;
        for (char ch : part) {
            if (ch < '0' || ch > '9') return false;
            v = v * 10 + static_cast<unsigned>(ch - '0');
        }
        if (v > 65535) return false;
    }
    return true;
}

class Parser {
public:
    Parser(LegacyRules rules, LegacyParse& out) : speaker_(rules == LegacyRules::Speaker), out_(out) {}

    void run(const Node& doc) {
        if (doc.is_null()) return;  // empty document: empty configuration
        if (!doc.is_map()) return fatal(doc, "", "configuration must be a mapping with peers and address-pools");
        keys(doc, "", kTopKeys);
        const Node* peers = doc.get("peers");
        const Node* pools = doc.get("address-pools");
        for (const auto& [name, node] :
             {std::pair<const char*, const Node*>{"peers", peers}, {"address-pools", pools}}) {
            if (!node || node->is_null()) continue;
            // The shape is wrong, not one entry: reading it as "none" would wipe routing.
            if (!node->is_seq()) return fatal(*node, name, std::string(name) + " must be a list");
            out_.has_lists = true;
        }
        if (speaker_) {
            if (const Node* b = doc.get("bfd-profiles")) bfd_profiles(*b);
            if (const Node* c = doc.get("bgp-communities")) communities(*c);
        }
        if (peers) parse_peers(*peers);
        if (pools) parse_pools(*pools);
        if (speaker_) overlaps();
        if (out_.diagnostics_dropped > 0)
            out_.diagnostics.push_back(
                {doc.where(), std::to_string(out_.diagnostics_dropped) + " more problems (not listed)"});
        if (!out_.diagnostics.empty()) out_.model = Model{};  // rejected whole: nothing of it is applied
    }

private:
    void problem(const Node& n, const std::string& path, std::string what) {
        if (out_.diagnostics.size() < kMaxLegacyDiagnostics)
            out_.diagnostics.push_back({n.where(path), std::move(what)});
        else
            ++out_.diagnostics_dropped;
    }

    void fatal(const Node& n, const std::string& path, std::string what) {
        out_.fatal = true;
        out_.model = Model{};
        out_.diagnostics.push_back({n.where(path), std::move(what)});  // always last, never capped
    }

    // Unknown keys (MetalLB parses strictly). `n` is a mapping.
    void keys(const Node& n, const std::string& path, Keys known) {
        for (auto it = n.map.begin(); it != n.map.end(); ++it) {
            const std::string_view k = (*it).first;
            if (std::find(known.begin(), known.end(), k) == known.end())
                problem(it.key_node(), path.empty() ? std::string(k) : path + "." + std::string(k),
                        "unknown key " + quote(k));
        }
    }

    // A mapping entry of a list; reports and returns false otherwise.
    bool mapping(const Node& n, const std::string& path, const char* what, Keys known) {
        if (!n.is_map()) {
            problem(n, path, std::string(what) + " must be a mapping");
            return false;
        }
        keys(n, path, known);
        return true;
    }

    // An optional list: nullptr when absent or null, or not a list (reported).
    const Node* list(const Node& parent, const char* key, const std::string& path) {
        const Node* n = parent.get(key);
        if (!n || n->is_null()) return nullptr;
        if (!n->is_seq()) {
            problem(*n, path + "." + key, std::string(key) + " must be a list");
            return nullptr;
        }
        return n;
    }

    // An optional string field ("" when absent or null).
    std::string str(const Node& parent, const char* key, const std::string& path) {
        const Node* n = parent.get(key);
        if (!n || n->is_null()) return {};
        if (!n->is_scalar()) {
            problem(*n, path + "." + key, std::string(key) + " must be a string");
            return {};
        }
        return n->scalar.str();
    }

    // An optional integer field within [lo, hi] (0 when absent or null,
    // kInvalid when reported).
    long long integer(const Node& parent, const char* key, const std::string& path, long long lo, long long hi) {
        const Node* n = parent.get(key);
        if (!n || n->is_null()) return 0;
        const auto v = parse_int(*n);
        if (!v || *v < lo || *v > hi) {
            problem(*n, path + "." + key,
                    std::string(key) + " must be an integer " + std::to_string(lo) + ".." + std::to_string(hi) +
                        ", not " + quote(n->scalar.view()));
            return kInvalid;
        }
        return *v;
    }

    bool boolean(const Node& parent, const char* key, const std::string& path) {
        const Node* n = parent.get(key);
        if (!n || n->is_null()) return false;
        const auto v = parse_yaml_bool(*n);
        if (!v) {
            problem(*n, path + "." + key, std::string(key) + " must be true or false, not " + quote(n->scalar.view()));
            return false;
        }
        return *v;
    }

    // An optional IP address field.
    void ip(const Node& parent, const char* key, const std::string& path) {
        const std::string s = str(parent, key, path);
        if (!s.empty() && !IpAddr::parse(s))
            problem(*parent.get(key), path + "." + key, "invalid " + std::string(key) + " " + quote(s));
    }

    // --- bfd-profiles, bgp-communities (speaker rules only) -----------------

    void bfd_profiles(const Node& n) {
        if (n.is_null()) return;
        if (!n.is_seq()) return problem(n, "bfd-profiles", "bfd-profiles must be a list");
        std::size_t i = 0;
        for (auto it = n.items.begin(); it != n.items.end(); ++it, ++i) {
            const std::string path = idx("bfd-profiles", i);
            if (!mapping(*it, path, "bfd profile", kBfdKeys)) continue;
            const std::string name = str(*it, "name", path);
            if (name.empty())
                problem(*it, path, "bfd profile has no name");
            else if (!bfd_names_.insert(name).second)
                problem(*it, path, "duplicate bfd profile name " + quote(name));
            integer(*it, "receive-interval", path, 10, 60000);
            integer(*it, "transmit-interval", path, 10, 60000);
            integer(*it, "detect-multiplier", path, 2, 255);
            integer(*it, "echo-interval", path, 10, 60000);
            integer(*it, "minimum-ttl", path, 1, 254);
            boolean(*it, "echo-mode", path);
            boolean(*it, "passive-mode", path);
        }
    }

    void communities(const Node& n) {
        if (n.is_null()) return;
        if (!n.is_map()) return problem(n, "bgp-communities", "bgp-communities must be a mapping");
        for (const auto& [name, value] : n.map) {
            const std::string path = "bgp-communities." + std::string(name);
            if (!value.is_scalar() || !valid_community(value.scalar.view()))
                problem(value, path, "invalid community " + quote(value.scalar.view()) + " (want AA:BB, 16 bits each)");
            else
                community_names_.insert(std::string(name));
        }
    }

    // --- peers ----------------------------------------------------------------

    void parse_peers(const Node& peers) {
        std::set<std::string> identical;  // speaker rules: a peer defined twice
        std::size_t i = 0;
        for (auto it = peers.items.begin(); it != peers.items.end(); ++it, ++i) {
            const Node& p = *it;
            const std::string path = idx("peers", i);
            if (!mapping(p, path, "peer", kPeerKeys)) continue;
            const std::size_t before = out_.diagnostics.size() + out_.diagnostics_dropped;
            Peer peer;
            peer.name = path;
            const Node* addr = p.get("peer-address");
            if (!addr || addr->is_null()) {
                problem(p, path, "peer has no peer-address");
            } else if (auto a = addr->is_scalar() ? IpAddr::parse(addr->scalar.view()) : std::nullopt) {
                peer.address = *a;
            } else {
                problem(*addr, path + ".peer-address", "invalid peer-address " + quote(addr->scalar.view()));
            }
            std::string selectors_text;
            if (const Node* ns = list(p, "node-selectors", path)) {
                std::size_t j = 0;
                for (auto s = ns->items.begin(); s != ns->items.end(); ++s, ++j) {
                    LabelSelector sel;
                    selector(*s, idx(path + ".node-selectors", j), sel);
                    selectors_text += describe(sel);
                    peer.node_selectors.push_back(std::move(sel));
                }
            }
            if (speaker_) {
                const long long my = integer(p, "my-asn", path, 0, UINT32_MAX);
                const long long asn = integer(p, "peer-asn", path, 0, UINT32_MAX);
                if (my == 0) problem(p, path, "peer has no my-asn (missing local ASN)");
                if (asn == 0) problem(p, path, "peer has no peer-asn (missing peer ASN)");
                const bool multihop = boolean(p, "ebgp-multihop", path);
                if (multihop && my != 0 && my == asn)
                    problem(p, path, "ebgp-multihop set for an iBGP peer (my-asn equals peer-asn)");
                const long long port = integer(p, "peer-port", path, 0, 65535);
                ip(p, "source-address", path);
                ip(p, "router-id", path);
                const std::string password = str(p, "password", path);
                const std::string hold = str(p, "hold-time", path);
                const std::string keepalive = str(p, "keepalive-time", path);
                long double hold_ns = 90e9L;
                if (!hold.empty()) {
                    const auto d = parse_go_duration(hold);
                    const long double secs = d ? static_cast<long double>(static_cast<long long>(*d / 1e9L)) : 0;
                    if (!d)
                        problem(*p.get("hold-time"), path + ".hold-time", "invalid hold-time " + quote(hold));
                    else if (secs != 0 && secs < 3)
                        problem(*p.get("hold-time"), path + ".hold-time",
                                "invalid hold-time " + quote(hold) + ": must be 0 or >=3s");
                    else
                        hold_ns = secs * 1e9L;
                }
                if (!keepalive.empty()) {
                    const auto d = parse_go_duration(keepalive);
                    if (!d)
                        problem(*p.get("keepalive-time"), path + ".keepalive-time",
                                "invalid keepalive-time " + quote(keepalive));
                    else if (*d > hold_ns)
                        problem(*p.get("keepalive-time"), path + ".keepalive-time",
                                "keepalive-time " + quote(keepalive) + " is longer than the hold time");
                }
                const std::string bfd = str(p, "bfd-profile", path);
                if (!bfd.empty() && !bfd_names_.count(bfd))
                    problem(*p.get("bfd-profile"), path + ".bfd-profile",
                            "peer refers to bfd profile " + quote(bfd) + " that bfd-profiles does not define");
                const std::string signature = peer.address.str() + "|" + std::to_string(my) + "|" +
                                              std::to_string(asn) + "|" + std::to_string(port ? port : 179) + "|" +
                                              str(p, "source-address", path) + "|" + str(p, "router-id", path) + "|" +
                                              password + "|" + hold + "|" + keepalive + "|" + bfd + "|" +
                                              (multihop ? "m" : "") + "|" + selectors_text;
                if (out_.diagnostics.size() + out_.diagnostics_dropped == before && !identical.insert(signature).second)
                    problem(p, path, "peer " + peer.address.str() + " already exists (an identical peer before it)");
            }
            if (out_.diagnostics.size() + out_.diagnostics_dropped == before)
                out_.model.peers.push_back(std::move(peer));
        }
    }

    static std::string describe(const LabelSelector& s) {
        std::string t = "{";
        for (const auto& [k, v] : s.match_labels) t += k + "=" + v + ",";
        for (const auto& r : s.match_expressions) {
            t += r.key + " " + selector_op_name(r.op) + " (";
            for (const auto& v : r.values) t += v + ",";
            t += "),";
        }
        return t + "}";
    }

    // One node selector: {match-labels: {k: v}, match-expressions: [{key, operator, values}]}.
    void selector(const Node& n, const std::string& path, LabelSelector& out) {
        if (n.is_null()) return;  // an empty item selects every node
        if (!mapping(n, path, "node selector", kSelectorKeys)) return;
        if (const Node* ml = n.get("match-labels"); ml && !ml->is_null()) {
            if (!ml->is_map()) return problem(*ml, path + ".match-labels", "match-labels must be a mapping");
            for (const auto& [k, v] : ml->map) {
                if (!v.is_scalar() && !v.is_null()) {
                    problem(v, path + ".match-labels." + std::string(k), "label value must be a string");
                    continue;
                }
                if (k.empty()) problem(*ml, path + ".match-labels", "match-labels has an empty key");
                out.match_labels[std::string(k)] = v.scalar.str();
            }
        }
        const Node* me = list(n, "match-expressions", path);
        if (!me) return;
        std::size_t i = 0;
        for (auto it = me->items.begin(); it != me->items.end(); ++it, ++i) {
            const Node& e = *it;
            const std::string p = idx(path + ".match-expressions", i);
            if (!mapping(e, p, "match expression", kRequirementKeys)) continue;
            const Node* key = e.get("key");
            const Node* op = e.get("operator");
            if (!key || !key->is_scalar() || key->scalar.empty() || !op || !op->is_scalar()) {
                problem(e, p, "expression needs a key and an operator");
                continue;
            }
            LabelRequirement r;
            r.key = key->scalar.str();
            if (auto parsed = parse_selector_op(op->scalar.view())) {
                r.op = *parsed;
            } else {
                problem(*op, p + ".operator", "unknown operator " + quote(op->scalar.view()));
                continue;
            }
            if (const Node* vals = list(e, "values", p)) {
                for (const Node& v : vals->items) {
                    if (!v.is_scalar())
                        problem(v, p + ".values", "values must be strings");
                    else
                        r.values.push_back(v.scalar.str());
                }
            }
            if (auto err = requirement_error(r); !err.empty()) {
                problem(e, p, std::move(err));
                continue;
            }
            out.match_expressions.push_back(std::move(r));
        }
    }

    // --- address pools ----------------------------------------------------------

    // One address entry as an interval: the CIDRs of a range are contiguous,
    // so they overlap another entry's exactly when the intervals do.
    struct Span {
        Family family;
        u128 first, last;
        std::size_t entry;  // into entries_
    };
    struct Entry {         // strings are built only for the entries reported
        const Node* node;  // the address entry (in the tree, alive while parsing)
        std::uint32_t pool, index;
    };
    // An address's family and its widest CIDR (aggregation-length checks).
    struct Widest {
        std::string text;
        Family family;
        unsigned len;
    };

    void parse_pools(const Node& pools) {
        std::set<std::string> names;
        std::unordered_set<std::string_view> seen;  // views into the tree
        std::size_t i = 0;
        for (auto it = pools.items.begin(); it != pools.items.end(); ++it, ++i) {
            const Node& pool = *it;
            const std::string path = idx("address-pools", i);
            if (!mapping(pool, path, "address pool", kPoolKeys)) continue;
            const std::string name = str(pool, "name", path);
            if (speaker_) {
                pool_names_.resize(i + 1);
                pool_names_[i] = name;
                if (name.empty())
                    problem(pool, path, "address pool has no name");
                else if (!names.insert(name).second)
                    problem(pool, path, "duplicate definition of pool " + quote(name));
                boolean(pool, "avoid-buggy-ips", path);
                boolean(pool, "auto-assign", path);
            }
            const Node* proto = pool.get("protocol");
            std::string_view protocol;
            if (!proto || proto->is_null() || (proto->is_scalar() && proto->scalar.empty())) {
                problem(pool, path, "address pool has no protocol (bgp or layer2)");
            } else if (!proto->is_scalar() || (proto->scalar.view() != "bgp" && proto->scalar.view() != "layer2")) {
                problem(*proto, path + ".protocol",
                        "unknown protocol " + quote(proto->scalar.view()) + " (bgp or layer2)");
            } else {
                protocol = proto->scalar.view();
            }
            const bool bgp = protocol == "bgp";
            // The speaker rules check every pool's addresses; the file rules
            // only what the agent routes (bgp pools).
            if (!speaker_ && !bgp) continue;
            const Node* addrs = list(pool, "addresses", path);
            if (const Node* raw = pool.get("addresses"); speaker_ && (!raw || raw->is_null()))
                problem(pool, path, "address pool has no addresses");
            if (speaker_ && addrs && addrs->items.empty())
                problem(*addrs, path + ".addresses", "address pool has no addresses");
            std::vector<Widest> widest;  // speaker: for the aggregation-length checks
            if (addrs) {
                const std::string list_path = path + ".addresses";
                std::size_t j = 0;
                for (auto ai = addrs->items.begin(); ai != addrs->items.end(); ++ai, ++j) {
                    const Node& a = *ai;
                    const std::string apath = idx(list_path, j);
                    if (!a.is_scalar()) {
                        problem(a, apath, "address entry must be a string");
                        continue;
                    }
                    const std::string_view text = a.scalar.view();
                    // The file rules: the same text again adds nothing (and a
                    // 1 MiB list of repeats must not become as many entries).
                    if (!speaker_ && !seen.insert(text).second) continue;
                    auto r = parse_pool_entry(text);
                    if (r && speaker_ && text.find('-') == std::string_view::npos &&
                        text.find('/') == std::string_view::npos)
                        r = Result<std::vector<Prefix>>::fail("a CIDR needs a prefix length (10.0.0.1/32)");
                    if (!r) {
                        problem(a, apath, "invalid address " + quote(text) + ": " + r.error);
                        continue;
                    }
                    if (speaker_ && !r.value->empty()) {
                        const auto& ps = *r.value;
                        unsigned lowest = ps.front().len;
                        for (const Prefix& p : ps) lowest = std::min<unsigned>(lowest, p.len);
                        spans_.push_back(
                            Span{ps.front().family(), ps.front().first(), ps.back().last(), entries_.size()});
                        entries_.push_back(Entry{&a, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j)});
                        widest.push_back(Widest{std::string(text), ps.front().family(), lowest});
                    }
                    if (bgp)
                        out_.model.addresses.push_back(
                            AddressEntry{a.scalar.str(), a.where(apath), std::move(r.value)});
                }
            }
            if (!speaker_) continue;
            const Node* ads = list(pool, "bgp-advertisements", path);
            if (!ads) continue;
            if (protocol == "layer2" && !ads->items.empty()) {
                problem(*ads, path + ".bgp-advertisements",
                        "bgp-advertisements cannot be set on a layer2 address pool");
                continue;
            }
            std::size_t k = 0;
            for (auto ad = ads->items.begin(); ad != ads->items.end(); ++ad, ++k)
                advertisement(*ad, idx(path + ".bgp-advertisements", k), widest);
        }
    }

    void advertisement(const Node& ad, const std::string& path, const std::vector<Widest>& widest) {
        if (!mapping(ad, path, "bgp advertisement", kAdvertisementKeys)) return;
        long long v4 = 32, v6 = 128;
        if (const Node* n = ad.get("aggregation-length"); n && !n->is_null())
            v4 = integer(ad, "aggregation-length", path, INT32_MIN, 32);
        if (const Node* n = ad.get("aggregation-length-v6"); n && !n->is_null())
            v6 = integer(ad, "aggregation-length-v6", path, INT32_MIN, 128);
        for (const Widest& w : widest) {
            if (v4 == kInvalid || v6 == kInvalid) break;
            const long long agg = w.family == Family::V4 ? v4 : v6;
            if (agg < static_cast<long long>(w.len))
                problem(ad, path,
                        "aggregation length " + std::to_string(agg) + " is shorter than the /" + std::to_string(w.len) +
                            " of address " + quote(w.text) + " in this pool");
        }
        integer(ad, "localpref", path, 0, UINT32_MAX);
        if (const Node* cs = list(ad, "communities", path)) {
            std::size_t i = 0;
            for (auto c = cs->items.begin(); c != cs->items.end(); ++c, ++i) {
                if (!c->is_scalar() || (!community_names_.count(c->scalar.str()) && !valid_community(c->scalar.view())))
                    problem(*c, idx(path + ".communities", i),
                            "invalid community " + quote(c->scalar.view()) +
                                " (a bgp-communities name, or AA:BB with 16 bits each)");
            }
        }
    }

    // No CIDR of any pool may overlap another (MetalLB's cidrsOverlap), within
    // a pool too. Sorted sweep: n log n, whatever the number of entries.
    void overlaps() {
        std::sort(spans_.begin(), spans_.end(), [](const Span& a, const Span& b) {
            if (a.family != b.family) return a.family < b.family;
            if (a.first != b.first) return a.first < b.first;
            return a.last > b.last;
        });
        const Span* widest = nullptr;  // the earlier span reaching furthest, same family
        for (const Span& s : spans_) {
            if (widest && widest->family == s.family && s.first <= widest->last) {
                const Entry& a = entries_[std::min(s.entry, widest->entry)];  // in document order
                const Entry& b = entries_[std::max(s.entry, widest->entry)];
                const auto path = [](const Entry& e) {
                    return idx(idx("address-pools", e.pool) + ".addresses", e.index);
                };
                if (out_.diagnostics.size() < kMaxLegacyDiagnostics)
                    out_.diagnostics.push_back(
                        {b.node->where(path(b)),
                         "overlaps " + path(a) +
                             (a.pool == b.pool ? " of the same pool" : " of pool " + quote(pool_names_[a.pool]))});
                else
                    ++out_.diagnostics_dropped;
            }
            if (!widest || widest->family != s.family || s.last > widest->last) widest = &s;
        }
    }

    bool speaker_;
    LegacyParse& out_;
    std::set<std::string> bfd_names_;
    std::set<std::string> community_names_;
    std::vector<Span> spans_;
    std::vector<Entry> entries_;
    std::vector<std::string> pool_names_;  // by index in address-pools (speaker rules)
};

}  // namespace

LegacyParse parse_legacy(const Node& doc, LegacyRules rules) {
    LegacyParse out;
    Parser(rules, out).run(doc);
    return out;
}

}  // namespace nra
