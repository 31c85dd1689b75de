// Kubernetes label selector semantics (pure).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nra/core/model.hpp"

namespace nra {

// The one implementation of metav1.LabelSelector rules, whichever format
// the selector was written in (legacy YAML node-selectors, CRD JSON).

// "In", "NotIn", "Exists", "DoesNotExist" (case-sensitive, as Kubernetes).
std::optional<LabelRequirement::Op> parse_selector_op(std::string_view name);
const char* selector_op_name(LabelRequirement::Op op);

// Why a requirement or a selector is invalid ("" if valid): In/NotIn need
// values, Exists/DoesNotExist take none, keys must be non-empty.
std::string requirement_error(const LabelRequirement& r);
std::string selector_error(const LabelSelector& s);

// matchLabels AND every matchExpression; an empty selector matches everything.
bool selector_matches(const LabelSelector& s, const Labels& labels);

// Selectors OR-ed: any of them matches; no selector at all matches everything.
bool any_selector_matches(const std::vector<LabelSelector>& selectors, const Labels& labels);

// Peers whose node_selectors (OR-ed) match the node's labels; a peer with no
// node selectors applies to every node.
bool peer_applies_to_node(const Peer& p, const Labels& node_labels);

}  // namespace nra
