#include "nra/kube/objects.hpp"

#include "nra/core/selector.hpp"

namespace nra::kube {

namespace {

using simdjson::dom::element;

// Optional string field: absent or null -> "", wrong type -> false.
bool opt_string(element obj, const char* key, std::string& out) {
    element v;
    if (obj[key].get(v)) return true;  // absent
    if (v.is_null()) return true;
    std::string_view s;
    if (v.get(s)) return false;
    out = std::string(s);
    return true;
}

// Calls fn(item) for every item of the optional list obj[key] (absent or null
// = empty). False when it is not a list or fn refuses an item.
template <class Fn>
bool each_in_optional_list(element obj, const char* key, std::string& error, Fn&& fn) {
    element v;
    if (obj[key].get(v) || v.is_null()) return true;
    simdjson::dom::array arr;
    if (v.get(arr)) {
        error = std::string(key) + " must be a list";
        return false;
    }
    for (element item : arr)
        if (!fn(item)) return false;
    return true;
}

bool opt_string_list(element obj, const char* key, std::vector<std::string>& out, std::string& error) {
    return each_in_optional_list(obj, key, error, [&](element item) {
        std::string_view s;
        if (item.get(s)) {
            error = std::string(key) + " must be a list of strings";
            return false;
        }
        out.emplace_back(s);
        return true;
    });
}

bool string_map(element v, Labels& out) {
    if (v.is_null()) return true;
    simdjson::dom::object o;
    if (v.get(o)) return false;
    for (auto field : o) {
        std::string_view s;
        if (field.value.is_null()) {
            out[std::string(field.key)] = "";
            continue;
        }
        if (field.value.get(s)) return false;
        out[std::string(field.key)] = std::string(s);
    }
    return true;
}

bool selector_list(element obj, const char* key, std::vector<LabelSelector>& out, std::string& invalid,
                   std::string& error) {
    return each_in_optional_list(obj, key, error, [&](element item) {
        LabelSelector s;
        if (!decode_selector(item, s, invalid)) {
            error = std::string(key) + ": malformed label selector";
            return false;
        }
        out.push_back(std::move(s));
        return true;
    });
}

}  // namespace

bool decode_selector(element e, LabelSelector& out, std::string& invalid) {
    if (e.is_null()) return true;
    simdjson::dom::object o;
    if (e.get(o)) return false;
    element ml;
    if (!o["matchLabels"].get(ml) && !string_map(ml, out.match_labels)) return false;
    element me;
    if (!o["matchExpressions"].get(me) && !me.is_null()) {
        simdjson::dom::array arr;
        if (me.get(arr)) return false;
        for (element x : arr) {
            LabelRequirement r;
            std::string op;
            if (!opt_string(x, "key", r.key) || !opt_string(x, "operator", op)) return false;
            if (auto parsed = parse_selector_op(op))
                r.op = *parsed;
            else if (invalid.empty())
                invalid = "unknown selector operator '" + op + "'";
            std::string err;
            if (!opt_string_list(x, "values", r.values, err)) return false;
            out.match_expressions.push_back(std::move(r));
        }
    }
    return true;
}

bool decode_meta(element obj, ObjectMeta& meta, std::string& error) {
    element m;
    if (obj["metadata"].get(m) || m.is_null()) {
        error = "no metadata";
        return false;
    }
    if (!m.is_object()) {
        error = "metadata is not an object";
        return false;
    }
    // Name and namespace first, so that any later problem can name the object.
    if (!opt_string(m, "name", meta.name)) {
        error = "metadata.name is not a string";
        return false;
    }
    if (!opt_string(m, "namespace", meta.ns)) {
        error = "metadata.namespace is not a string";
        return false;
    }
    if (meta.name.empty()) {
        error = "no metadata.name";
        return false;
    }
    if (!opt_string(m, "resourceVersion", meta.resource_version)) {
        error = "metadata.resourceVersion is not a string";
        return false;
    }
    element labels;
    if (!m["labels"].get(labels) && !string_map(labels, meta.labels)) {
        error = labels.is_object() ? "metadata.labels has a value that is not a string"
                                   : "metadata.labels is not a map of strings";
        return false;
    }
    return true;
}

bool decode_meta(element obj, ObjectMeta& meta) {
    std::string error;
    return decode_meta(obj, meta, error);
}

std::optional<KubeItem> decode_item(Kind kind, element obj, const ObjectMeta& meta, std::string& error) {
    element spec;
    const bool has_spec = !obj["spec"].get(spec) && !spec.is_null();
    if (has_spec && !spec.is_object() && kind != Kind::Node && kind != Kind::ConfigMap &&
        kind != Kind::BgpSessionState) {
        error = "spec is not an object";
        return std::nullopt;
    }
    switch (kind) {
    case Kind::BgpPeer: {
        CrdPeer p;
        p.ns = meta.ns;
        p.name = meta.name;
        p.labels = meta.labels;
        if (has_spec) {
            if (!opt_string(spec, "peerAddress", p.peer_address) || !opt_string(spec, "interface", p.interface_name) ||
                !opt_string(spec, "vrf", p.vrf)) {
                error = "spec.peerAddress, spec.interface and spec.vrf must be strings";
                return std::nullopt;
            }
            if (!selector_list(spec, "nodeSelectors", p.node_selectors, p.invalid, error)) return std::nullopt;
        }
        return p;
    }
    case Kind::IpAddressPool: {
        CrdPool p;
        p.ns = meta.ns;
        p.name = meta.name;
        p.labels = meta.labels;
        if (has_spec && !opt_string_list(spec, "addresses", p.addresses, error)) return std::nullopt;
        p.parsed.reserve(p.addresses.size());
        for (const auto& a : p.addresses) p.parsed.push_back(parse_pool_entry(a));
        return p;
    }
    case Kind::BgpAdvertisement: {
        CrdAdvertisement a;
        a.ns = meta.ns;
        a.name = meta.name;
        if (has_spec) {
            if (!opt_string_list(spec, "ipAddressPools", a.pools, error) ||
                !opt_string_list(spec, "peers", a.peers, error) ||
                !selector_list(spec, "ipAddressPoolSelectors", a.pool_selectors, a.invalid, error) ||
                !selector_list(spec, "nodeSelectors", a.node_selectors, a.invalid, error))
                return std::nullopt;
        }
        return a;
    }
    case Kind::Node:
        return NodeInfo{meta.name, meta.labels};
    case Kind::ConfigMap: {
        ConfigMapInfo c;
        c.ns = meta.ns;
        c.name = meta.name;
        element data;
        if (!obj["data"].get(data) && !data.is_null()) {
            element cfg;
            if (!data.is_object()) {
                error = "data is not an object";
                return std::nullopt;
            }
            if (!data["config"].get(cfg) && !cfg.is_null()) {
                std::string_view s;
                if (cfg.get(s)) {
                    error = "data.config is not a string";
                    return std::nullopt;
                }
                c.has_config = true;
                c.config = std::string(s);
            }
        }
        return c;
    }
    case Kind::BgpSessionState: {
        SessionStateInfo x;
        x.ns = meta.ns;
        x.name = meta.name;
        element status;
        if (!obj["status"].get(status) && !status.is_null()) {
            if (!status.is_object()) {
                error = "status is not an object";
                return std::nullopt;
            }
            if (!opt_string(status, "node", x.node) || !opt_string(status, "peer", x.peer) ||
                !opt_string(status, "vrf", x.vrf) || !opt_string(status, "bgpStatus", x.bgp_status)) {
                error = "status.node, status.peer, status.vrf and status.bgpStatus must be strings";
                return std::nullopt;
            }
        }
        auto label = [&](const char* key, std::string& out) {
            if (!out.empty()) return;
            if (auto it = meta.labels.find(key); it != meta.labels.end()) out = it->second;
        };
        label("frrk8s.metallb.io/node", x.node);
        label("frrk8s.metallb.io/peer", x.peer);
        label("frrk8s.metallb.io/vrf", x.vrf);
        return x;
    }
    }
    error = "unknown kind";
    return std::nullopt;
}

bool same_item(const KubeItem& a, const KubeItem& b) {
    if (a.index() != b.index()) return false;
    if (auto* n = std::get_if<NodeInfo>(&a)) return *n == std::get<NodeInfo>(b);
    if (auto* c = std::get_if<ConfigMapInfo>(&a)) return *c == std::get<ConfigMapInfo>(b);
    if (auto* x = std::get_if<SessionStateInfo>(&a)) return *x == std::get<SessionStateInfo>(b);
    return false;
}

std::optional<Status> decode_status(element obj) {
    std::string_view kind;
    if (obj["kind"].get(kind) || kind != "Status") return std::nullopt;
    Status st;
    int64_t code = 0;
    if (!obj["code"].get(code)) st.code = static_cast<int>(code);
    opt_string(obj, "reason", st.reason);
    opt_string(obj, "message", st.message);
    element details;
    if (!obj["details"].get(details) && details.is_object()) {
        int64_t ra = 0;
        if (!details["retryAfterSeconds"].get(ra) && ra > 0)
            st.retry_after_seconds = static_cast<int>(std::min<int64_t>(ra, 3600));
        simdjson::dom::array causes;
        if (!details["causes"].get(causes)) {
            for (element c : causes) {
                std::string r;
                if (opt_string(c, "reason", r) && !r.empty()) st.cause_reasons.push_back(r);
            }
        }
    }
    return st;
}

std::optional<Status> parse_status(simdjson::dom::parser& parser, const std::string& body) {
    element doc;
    if (parser.parse(body).get(doc)) return std::nullopt;
    return decode_status(doc);
}

}  // namespace nra::kube
