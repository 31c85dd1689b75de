#include "nra/core/selector.hpp"

#include <algorithm>

namespace nra {

namespace {

bool requirement_matches(const LabelRequirement& r, const Labels& labels) {
    const auto it = labels.find(r.key);
    const bool present = it != labels.end();
    const auto in_values = [&] { return std::find(r.values.begin(), r.values.end(), it->second) != r.values.end(); };
    switch (r.op) {
        case LabelRequirement::Op::In: return present && in_values();
        case LabelRequirement::Op::NotIn: return !present || !in_values();
        case LabelRequirement::Op::Exists: return present;
        case LabelRequirement::Op::DoesNotExist: return !present;
    }
    return false;
}

}  // namespace

bool selector_matches(const LabelSelector& s, const Labels& labels) {
    for (const auto& [k, v] : s.match_labels) {
        const auto it = labels.find(k);
        if (it == labels.end() || it->second != v) return false;
    }
    return std::all_of(s.match_expressions.begin(), s.match_expressions.end(),
                       [&](const LabelRequirement& r) { return requirement_matches(r, labels); });
}

bool peer_applies_to_node(const Peer& p, const Labels& node_labels) {
    if (p.node_selectors.empty()) return true;
    return std::any_of(p.node_selectors.begin(), p.node_selectors.end(),
                       [&](const LabelSelector& s) { return selector_matches(s, node_labels); });
}

}  // namespace nra
