// Kubernetes label selector semantics (pure).
#pragma once

#include "nra/core/model.hpp"

namespace nra {

// matchLabels AND every matchExpression; an empty selector matches everything.
bool selector_matches(const LabelSelector& s, const Labels& labels);

// Peers whose node_selectors (OR-ed) match the node's labels; a peer with no
// node selectors applies to every node.
bool peer_applies_to_node(const Peer& p, const Labels& node_labels);

}  // namespace nra
