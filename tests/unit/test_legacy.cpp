#include <catch2/catch.hpp>

#include "nra/core/legacy.hpp"
#include "nra/doc/yaml.hpp"

using namespace nra;

namespace {
LegacyParse parse(const char* text) {
    auto doc = parse_yaml(text);
    INFO(doc.error);
    REQUIRE(doc);
    return parse_legacy(*doc.value);
}
}  // namespace

TEST_CASE("the legacy fixture: bgp pools only, every peer") {
    auto r = parse(R"(
address-pools:
- addresses:
  - 172.29.3.0-172.29.3.255
  name: default
  protocol: layer2
- addresses:
  - 192.168.57.0/24
  - 192.168.58.10-192.168.58.30
  auto-assign: false
  name: dedicated-bgp
  protocol: bgp
peers:
- my-asn: 64512
  peer-address: 172.29.0.1
  peer-asn: 64512
- peer-address: 172.29.0.3
)");
    CHECK(r.diagnostics.empty());
    REQUIRE(r.model.peers.size() == 2);
    CHECK(r.model.peers[1].address.str() == "172.29.0.3");
    REQUIRE(r.model.addresses.size() == 2);
    CHECK(r.model.addresses[1].text == "192.168.58.10-192.168.58.30");
    CHECK(r.model.addresses[1].where == "line 9 column 5 (address-pools[1].addresses[1])");
}

TEST_CASE("JSON input works since it is YAML") {
    auto r = parse(
        R"({"peers":[{"peer-address":"fd00::1"}],"address-pools":[{"protocol":"bgp","addresses":["fd00:1::/64"]}]})");
    REQUIRE(r.model.peers.size() == 1);
    CHECK(r.model.peers[0].address.family == Family::V6);
    CHECK(r.model.addresses.size() == 1);
}

TEST_CASE("bad entries are reported with where, and refuse the whole document") {
    auto r = parse(R"(peers:
- peer-address: 10.0.0.300
- peer-asn: 1
- peer-address: 10.0.0.1
- just a string
address-pools:
- name: nopro
  addresses: [10.1.0.0/24]
- name: weird
  protocol: bgpp
  addresses: [10.2.0.0/24]
- name: ok
  protocol: bgp
  addresses: [10.3.0.0/24, {a: b}]
)");
    CHECK(r.rejected());
    CHECK(r.model.peers.empty());  // nothing of a refused document is applied
    CHECK(r.model.addresses.empty());
    REQUIRE(r.diagnostics.size() == 6);
    CHECK(r.diagnostics[0].where == "line 2 column 17 (peers[0].peer-address)");
    CHECK(r.diagnostics[0].what.find("10.0.0.300") != std::string::npos);
    CHECK(r.diagnostics[4].what.find("bgpp") != std::string::npos);
}

TEST_CASE("legacy node-selectors are parsed and validated") {
    auto r = parse(R"(peers:
- peer-address: 10.0.0.1
  node-selectors:
  - match-labels: {rack: a}
    match-expressions:
    - {key: zone, operator: In, values: [z1, z2]}
- peer-address: 10.0.0.2
  node-selectors:
  - match-expressions:
    - {key: zone, operator: In}
- peer-address: 10.0.0.3
  node-selectors:
  -
)");
    CHECK(r.rejected());  // peers[1]: In without values
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].where == "line 10 column 7 (peers[1].node-selectors[0].match-expressions[0])");

    auto ok = parse(R"(peers:
- peer-address: 10.0.0.1
  node-selectors:
  - match-labels: {rack: a}
    match-expressions:
    - {key: zone, operator: In, values: [z1, z2]}
- peer-address: 10.0.0.3
  node-selectors:
  -
)");
    CHECK_FALSE(ok.rejected());
    REQUIRE(ok.model.peers.size() == 2);
    REQUIRE(ok.model.peers[0].node_selectors.size() == 1);
    CHECK(ok.model.peers[0].node_selectors[0].match_labels.at("rack") == "a");
    CHECK(ok.model.peers[0].node_selectors[0].match_expressions[0].values.size() == 2);
    CHECK(ok.model.peers[1].address.str() == "10.0.0.3");
    CHECK(ok.model.peers[1].node_selectors.size() == 1);
}

TEST_CASE("documents that are not a configuration") {
    CHECK(parse("").model.peers.empty());
    CHECK_FALSE(parse("").fatal);
    CHECK(parse("- a\n- b\n").fatal);
    CHECK(parse("just text").fatal);
    // A wrong shape must not read as "no peers, no pools" (that would wipe routing).
    CHECK(parse("peers: 12\naddress-pools: []\n").fatal);
    CHECK(parse("peers: []\naddress-pools: hello\n").fatal);
    CHECK_FALSE(parse("peers: []\naddress-pools:\n").fatal);
}

TEST_CASE("YAML errors carry line and column") {
    auto doc = parse_yaml("peers:\n- peer-address: 1.2.3.4\n  bad: [unclosed\n");
    REQUIRE_FALSE(doc);
    CHECK(doc.error.rfind("line ", 0) == 0);
    CHECK(doc.error.find("column") != std::string::npos);
    auto tab = parse_yaml("a:\n\t- b\n");
    REQUIRE_FALSE(tab);
}

TEST_CASE("YAML tree: anchors and aliases, keys, nulls, positions, limits") {
    auto doc = parse_yaml(
        "base: &b\n  protocol: bgp\n  addresses: [10.0.0.0/24]\n"
        "copy: *b\n"
        "k: &key name\n*key : 1\n"
        "nothing:\nquoted: 'null'\n");
    REQUIRE(doc);
    const Node& root = *doc.value;
    REQUIRE(root.get("copy"));
    CHECK(root.get("copy")->get("protocol")->scalar == "bgp");
    CHECK(root.get("copy")->get("addresses")->items.begin()->scalar == "10.0.0.0/24");
    CHECK(root.get("copy")->line() == 4);  // the alias's own position
    REQUIRE(root.get("name"));             // an alias to a scalar works as a key
    CHECK(root.get("name")->scalar == "1");
    CHECK(root.get("nothing")->is_null());
    CHECK(root.get("quoted")->is_scalar());
    CHECK(root.get("quoted")->quoted());
    CHECK(root.get("base")->get("addresses")->line() == 3);
    CHECK(root.get("base")->get("addresses")->column() == 14);

    auto undefined = parse_yaml("a: *nope\n");
    REQUIRE_FALSE(undefined);
    CHECK(undefined.error.find("line 1") != std::string::npos);

    auto seq_key = parse_yaml("? [a, b]\n: c\n");
    REQUIRE_FALSE(seq_key);
    CHECK(seq_key.error.find("mapping keys must be scalars") != std::string::npos);

    std::string deep;
    for (int i = 0; i < 100; ++i) deep += "[";
    for (int i = 0; i < 100; ++i) deep += "]";
    auto too_deep = parse_yaml(deep);
    REQUIRE_FALSE(too_deep);
    CHECK(too_deep.error.find("nesting too deep") != std::string::npos);

    // "Billion laughs": ten levels of ten aliases each would be 10^10 nodes.
    std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (char c = 'b'; c <= 'k'; ++c) {
        const char p = static_cast<char>(c - 1);
        bomb += std::string(1, c) + ": &" + c + " [";
        for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + p;
        bomb += "]\n";
    }
    auto boom = parse_yaml(bomb);
    REQUIRE_FALSE(boom);
    CHECK(boom.error.find("document too large") != std::string::npos);

    // Only the first document is read.
    auto two = parse_yaml("a: 1\n---\nb: 2\n");
    REQUIRE(two);
    CHECK(two.value->get("a"));
    CHECK_FALSE(two.value->get("b"));
}
