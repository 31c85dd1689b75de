// libFuzzer target: Kubernetes JSON from the API server (src/kube/objects.cpp)
// and the CRD selection over what it decodes (src/core/crd_select.cpp).
//
// Input: byte 0 selects the stream's kind (BGPPeer, IPAddressPool,
// BGPAdvertisement, Node, ConfigMap), the rest is one JSON text, read the
// three ways the informer reads server JSON:
// - as a watch event line {"type":..., "object":{...}}: ERROR -> Status,
//   else metadata and the object of the stream's kind (the calls of
//   Informer::on_watch_line, which is bound to the event loop);
// - as a list body {"metadata":{...}, "items":[...]} (Informer::on_list),
//   each item decoded as its own "kind" when it names one of ours; the
//   decoded MetalLB objects and a Node's labels then go through select_crd;
// - as an error body (parse_status).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nra/core/crd.hpp"
#include "nra/kube/objects.hpp"

namespace {

using namespace nra;
using namespace nra::kube;
using simdjson::dom::element;

constexpr Kind kKinds[] = {Kind::BgpPeer, Kind::IpAddressPool, Kind::BgpAdvertisement, Kind::Node, Kind::ConfigMap};

Kind kind_of(std::string_view name, Kind fallback) {
    if (name == "BGPPeer") return Kind::BgpPeer;
    if (name == "IPAddressPool") return Kind::IpAddressPool;
    if (name == "BGPAdvertisement") return Kind::BgpAdvertisement;
    if (name == "Node") return Kind::Node;
    if (name == "ConfigMap") return Kind::ConfigMap;
    return fallback;
}

// One object: metadata, then the item; the decoder must report why it fails.
std::optional<KubeItem> decode(Kind kind, element obj) {
    ObjectMeta m;
    if (!decode_meta(obj, m)) return std::nullopt;
    if (m.name.empty()) std::abort();
    std::string error;
    auto item = decode_item(kind, obj, m, error);
    if (!item && error.empty()) std::abort();
    return item;
}

void watch_event(simdjson::dom::parser& parser, Kind kind, const std::string& line) {
    element doc, obj;
    std::string_view type;
    if (parser.parse(line).get(doc) || doc["type"].get(type) || doc["object"].get(obj) || !obj.is_object()) return;
    if (type == "ERROR") {
        (void)decode_status(obj);
        return;
    }
    if (type == "BOOKMARK") {
        element meta;
        std::string_view rv;
        (void)(!obj["metadata"].get(meta) && !meta["resourceVersion"].get(rv));
        return;
    }
    (void)decode(kind, obj);
}

void list_body(simdjson::dom::parser& parser, Kind kind, const std::string& body) {
    element doc, items_elem;
    simdjson::dom::array items;
    if (parser.parse(body).get(doc) || doc["items"].get(items_elem) || items_elem.get(items)) return;
    element meta;
    if (!doc["metadata"].get(meta)) {
        std::string_view s;
        (void)meta["resourceVersion"].get(s);
        (void)meta["continue"].get(s);
    }
    CrdInput input;
    for (element item : items) {
        std::string_view k;
        const Kind ik = item["kind"].get(k) ? kind : kind_of(k, kind);
        auto decoded = decode(ik, item);
        if (!decoded) continue;
        if (auto* p = std::get_if<CrdPeer>(&*decoded))
            input.peers.push_back(std::move(*p));
        else if (auto* p = std::get_if<CrdPool>(&*decoded))
            input.pools.push_back(std::move(*p));
        else if (auto* a = std::get_if<CrdAdvertisement>(&*decoded))
            input.advertisements.push_back(std::move(*a));
        else if (auto* n = std::get_if<NodeInfo>(&*decoded))
            input.node_labels = n->labels;
    }
    const CrdSelection sel = select_crd(input);
    if (sel.model.peers.size() > input.peers.size()) std::abort();
    for (const Peer& p : sel.model.peers)
        if (!p.node_selectors.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    static simdjson::dom::parser parser;  // reused, as the informer does
    const Kind kind = kKinds[data[0] % 5];
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    watch_event(parser, kind, text);
    list_body(parser, kind, text);
    (void)parse_status(parser, text);
    return 0;
}
