// The configuration model every source produces: peers and pool addresses.
// Sources (static file, ConfigMap, CRDs) fill it; the core turns it into the
// desired kernel state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nra/core/ip.hpp"

namespace nra {

using Labels = std::map<std::string, std::string>;

struct LabelRequirement {
    enum class Op { In, NotIn, Exists, DoesNotExist };
    std::string key;
    Op op = Op::Exists;
    std::vector<std::string> values;
};

// metav1.LabelSelector: matchLabels AND matchExpressions. An empty selector
// matches everything.
struct LabelSelector {
    Labels match_labels;
    std::vector<LabelRequirement> match_expressions;
};

// Something wrong in the input, reported with where it is and what is wrong.
struct Diagnostic {
    std::string where;  // "line 12 column 5 (address-pools[1].addresses[2])"
    std::string what;   // "invalid address '10.0.0.300': ..."
};

struct Peer {
    IpAddr address;
    std::uint16_t weight = 0;                   // 0: use PEER_WEIGHT
    std::string name;                           // for logs: "peers[0]" or namespace/name
    std::vector<LabelSelector> node_selectors;  // OR-ed; empty = all nodes
    std::string vrf = {};                       // VRF device it is reached through ("" = the main table)
};

struct AddressEntry {
    AddressEntry() = default;
    AddressEntry(std::string text_, std::string where_, std::optional<std::vector<Prefix>> prefixes_ = std::nullopt)
        : text(std::move(text_)), where(std::move(where_)), prefixes(std::move(prefixes_)) {}

    std::string text;   // as written: CIDR, address or "a-b" range (for diagnostics)
    std::string where;  // for diagnostics
    // The entry parsed once where the Model is built (legacy parser, CRD
    // selection); nullopt for hand-built models, which desired_state parses.
    std::optional<std::vector<Prefix>> prefixes;
    // The Model peers (by Peer::name) the entry is announced to; nullopt =
    // every peer (the ConfigMap, the static file, advertisements without
    // spec.peers). An empty list: announced to no peer usable here.
    std::optional<std::vector<std::string>> peers;
};

struct Model {
    std::vector<Peer> peers;
    std::vector<AddressEntry> addresses;  // bgp pools only
};

}  // namespace nra
