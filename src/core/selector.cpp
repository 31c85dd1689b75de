#include "nra/core/selector.hpp"

#include <algorithm>

namespace nra {

namespace {

bool requirement_matches(const LabelRequirement& r, const Labels& labels) {
    const auto it = labels.find(r.key);
    const bool present = it != labels.end();
    const auto in_values = [&] { return std::find(r.values.begin(), r.values.end(), it->second) != r.values.end(); };
    switch (r.op) {
    case LabelRequirement::Op::In:
        return present && in_values();
    case LabelRequirement::Op::NotIn:
        return !present || !in_values();
    case LabelRequirement::Op::Exists:
        return present;
    case LabelRequirement::Op::DoesNotExist:
        return !present;
    }
    return false;
}

}  // namespace

std::optional<LabelRequirement::Op> parse_selector_op(std::string_view name) {
    if (name == "In") return LabelRequirement::Op::In;
    if (name == "NotIn") return LabelRequirement::Op::NotIn;
    if (name == "Exists") return LabelRequirement::Op::Exists;
    if (name == "DoesNotExist") return LabelRequirement::Op::DoesNotExist;
    return std::nullopt;
}

const char* selector_op_name(LabelRequirement::Op op) {
    switch (op) {
    case LabelRequirement::Op::In:
        return "In";
    case LabelRequirement::Op::NotIn:
        return "NotIn";
    case LabelRequirement::Op::Exists:
        return "Exists";
    case LabelRequirement::Op::DoesNotExist:
        return "DoesNotExist";
    }
    return "?";
}

std::string requirement_error(const LabelRequirement& r) {
    if (r.key.empty()) return "matchExpressions entry has an empty key";
    const bool needs_values = r.op == LabelRequirement::Op::In || r.op == LabelRequirement::Op::NotIn;
    if (needs_values && r.values.empty())
        return "operator " + std::string(selector_op_name(r.op)) + " on key '" + r.key + "' needs at least one value";
    if (!needs_values && !r.values.empty())
        return "operator " + std::string(selector_op_name(r.op)) + " on key '" + r.key + "' takes no values";
    return {};
}

std::string selector_error(const LabelSelector& s) {
    for (const auto& [k, v] : s.match_labels)
        if (k.empty()) return "matchLabels has an empty key";
    for (const auto& r : s.match_expressions)
        if (auto e = requirement_error(r); !e.empty()) return e;
    return {};
}

bool selector_matches(const LabelSelector& s, const Labels& labels) {
    for (const auto& [k, v] : s.match_labels) {
        const auto it = labels.find(k);
        if (it == labels.end() || it->second != v) return false;
    }
    return std::all_of(s.match_expressions.begin(), s.match_expressions.end(),
                       [&](const LabelRequirement& r) { return requirement_matches(r, labels); });
}

bool any_selector_matches(const std::vector<LabelSelector>& selectors, const Labels& labels) {
    return selectors.empty() || std::any_of(selectors.begin(), selectors.end(),
                                            [&](const LabelSelector& s) { return selector_matches(s, labels); });
}

bool peer_applies_to_node(const Peer& p, const Labels& node_labels) {
    return any_selector_matches(p.node_selectors, node_labels);
}

}  // namespace nra
