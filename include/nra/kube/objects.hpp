// Kubernetes JSON -> owned values, via simdjson (DOM, errors as values).
// Only src/kube includes this header; the core sees the owned structs.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "nra/core/crd.hpp"
#include "nra/core/model.hpp"

namespace nra::kube {

struct ObjectMeta {
    std::string ns, name, resource_version;
    Labels labels;
    std::string key() const { return ns.empty() ? name : ns + "/" + name; }
};

struct NodeInfo {
    std::string name;
    Labels labels;  // only labels matter: status heartbeats are ignored
    bool operator==(const NodeInfo&) const = default;
};

struct ConfigMapInfo {
    std::string ns, name;
    bool has_config = false;  // data.config present
    std::string config;
    bool operator==(const ConfigMapInfo&) const = default;
};

// An frr-k8s BGPSessionState (frrk8s.metallb.io/v1beta1): status.node,
// status.peer, status.vrf, status.bgpStatus; node, peer and vrf fall back to
// the frrk8s.metallb.io/{node,peer,vrf} labels while the status is not
// written yet. bgp_status "" = not known yet.
struct SessionStateInfo {
    std::string ns, name;
    std::string node, peer, vrf, bgp_status;
    bool operator==(const SessionStateInfo&) const = default;
};

using KubeItem = std::variant<CrdPeer, CrdPool, CrdAdvertisement, NodeInfo, ConfigMapInfo, SessionStateInfo>;

// Equality where it is cheap and useful (Node, ConfigMap, BGPSessionState): a MODIFIED that
// changes nothing we read is not a change. CRD objects always count.
bool same_item(const KubeItem& a, const KubeItem& b);

enum class Kind { BgpPeer, IpAddressPool, BgpAdvertisement, Node, ConfigMap, BgpSessionState };

// Reads metadata (namespace, name, resourceVersion, labels). False if the
// object has no metadata.name or a field of the wrong type; `error` says
// which. name and ns are filled before anything else is checked, so a
// non-empty meta.name after a failure names the offending object.
bool decode_meta(simdjson::dom::element obj, ObjectMeta& meta, std::string& error);
bool decode_meta(simdjson::dom::element obj, ObjectMeta& meta);

// Decodes one object of `kind`; on failure returns nullopt and sets `error`
// (the caller logs it with namespace/name).
std::optional<KubeItem> decode_item(Kind kind, simdjson::dom::element obj, const ObjectMeta& meta, std::string& error);

// A metav1.Status (every non-2xx body, and watch ERROR objects).
struct Status {
    int code = 0;
    std::string reason, message;
    std::vector<std::string> cause_reasons;
    int retry_after_seconds = 0;
};
// Parses a Status body; nullopt if the text is not a JSON Status (an HTML error page).
std::optional<Status> parse_status(simdjson::dom::parser& parser, const std::string& body);
std::optional<Status> decode_status(simdjson::dom::element obj);

// One label selector from JSON (metav1.LabelSelector). Sets `invalid` for an
// unknown operator; returns false if the shape is wrong.
bool decode_selector(simdjson::dom::element e, LabelSelector& out, std::string& invalid);

}  // namespace nra::kube
