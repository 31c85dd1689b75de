#include <catch2/catch.hpp>

#include "nra/core/selector.hpp"

using namespace nra;
using Op = LabelRequirement::Op;

namespace {
LabelSelector expr(std::string key, Op op, std::vector<std::string> values = {}) {
    LabelSelector s;
    s.match_expressions.push_back({std::move(key), op, std::move(values)});
    return s;
}
}  // namespace

TEST_CASE("an empty selector matches everything, even no labels") {
    CHECK(selector_matches(LabelSelector{}, {}));
    CHECK(selector_matches(LabelSelector{}, {{"a", "b"}}));
}

TEST_CASE("matchLabels: present and equal, ANDed") {
    LabelSelector s;
    s.match_labels = {{"zone", "a"}, {"rack", "1"}};
    CHECK(selector_matches(s, {{"zone", "a"}, {"rack", "1"}, {"x", "y"}}));
    CHECK_FALSE(selector_matches(s, {{"zone", "a"}}));
    CHECK_FALSE(selector_matches(s, {{"zone", "a"}, {"rack", "2"}}));
    LabelSelector empty_value;
    empty_value.match_labels = {{"k", ""}};
    CHECK(selector_matches(empty_value, {{"k", ""}}));
    CHECK_FALSE(selector_matches(empty_value, {}));
}

TEST_CASE("the four operators, on present and absent labels") {
    const Labels present{{"k", "v"}};
    const Labels other{{"k", "w"}};
    const Labels empty_value{{"k", ""}};
    const Labels absent{{"z", "v"}};

    CHECK(selector_matches(expr("k", Op::In, {"v", "x"}), present));
    CHECK_FALSE(selector_matches(expr("k", Op::In, {"v", "x"}), other));
    CHECK_FALSE(selector_matches(expr("k", Op::In, {"v"}), absent));

    CHECK_FALSE(selector_matches(expr("k", Op::NotIn, {"v"}), present));
    CHECK(selector_matches(expr("k", Op::NotIn, {"v"}), other));
    CHECK(selector_matches(expr("k", Op::NotIn, {"v"}), absent));  // absent label satisfies NotIn

    CHECK(selector_matches(expr("k", Op::Exists), present));
    CHECK(selector_matches(expr("k", Op::Exists), empty_value));
    CHECK_FALSE(selector_matches(expr("k", Op::Exists), absent));

    CHECK_FALSE(selector_matches(expr("k", Op::DoesNotExist), present));
    CHECK_FALSE(selector_matches(expr("k", Op::DoesNotExist), empty_value));
    CHECK(selector_matches(expr("k", Op::DoesNotExist), absent));

    // An In without values (invalid) matches nothing.
    CHECK_FALSE(selector_matches(expr("k", Op::In), present));
}

TEST_CASE("matchLabels AND matchExpressions") {
    LabelSelector s = expr("rack", Op::NotIn, {"9"});
    s.match_labels = {{"zone", "a"}};
    CHECK(selector_matches(s, {{"zone", "a"}}));
    CHECK_FALSE(selector_matches(s, {{"zone", "a"}, {"rack", "9"}}));
    CHECK_FALSE(selector_matches(s, {{"rack", "1"}}));
}

TEST_CASE("peer node selectors: empty list = all nodes, otherwise OR") {
    Peer p;
    CHECK(peer_applies_to_node(p, {}));
    LabelSelector a, b;
    a.match_labels = {{"zone", "a"}};
    b.match_labels = {{"zone", "b"}};
    p.node_selectors = {a, b};
    CHECK(peer_applies_to_node(p, {{"zone", "b"}}));
    CHECK_FALSE(peer_applies_to_node(p, {{"zone", "c"}}));
    CHECK_FALSE(peer_applies_to_node(p, {}));
    p.node_selectors = {LabelSelector{}};  // [{}] selects every node
    CHECK(peer_applies_to_node(p, {}));
}
