// The YAML tree: duplicate keys refused with both positions, encoding errors
// at their real position, anchors shared (not copied), views that are empty
// for another kind, root ownership; the legacy document's "is it a
// configuration" flag and the diagnostics cap; the static file's refusal of
// empty text.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "nra/core/legacy.hpp"
#include "nra/sources/static_file.hpp"
#include "nra/doc/yaml.hpp"

using namespace nra;

TEST_CASE("YAML: duplicate keys are refused, naming the key and both positions") {
    auto d = parse_yaml("peers: []\naddress-pools: []\npeers:\n- peer-address: 1.2.3.4\n");
    REQUIRE_FALSE(d);
    CHECK(d.error == "line 3 column 1: duplicate key 'peers' in a mapping (first at line 1 column 1)");

    // nested, flow style
    auto n = parse_yaml("address-pools:\n- {protocol: bgp, addresses: [10.0.0.0/24], protocol: layer2}\n");
    REQUIRE_FALSE(n);
    CHECK(n.error == "line 2 column 45: duplicate key 'protocol' in a mapping (first at line 2 column 4)");

    // a large mapping (the sorted path) reports the earliest repetition
    std::string big;
    for (int i = 0; i < 1000; ++i) big += "k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
    big += "k500: again\nk7: again\n";
    auto b = parse_yaml(big);
    REQUIRE_FALSE(b);
    CHECK(b.error == "line 1001 column 1: duplicate key 'k500' in a mapping (first at line 501 column 1)");

    // a key through an alias counts too; distinct keys are fine
    auto a = parse_yaml("x: &n name\nname: 1\n*n : 2\n");
    REQUIRE_FALSE(a);
    CHECK(a.error.find("duplicate key 'name'") != std::string::npos);
    CHECK(parse_yaml("a: 1\nb: 2\nA: 3\n"));
    // the key is quoted bounded and without control bytes
    auto q = parse_yaml("\"a\\tb\": 1\n\"a\\tb\": 2\n");
    REQUIRE_FALSE(q);
    CHECK(q.error.find("'a?b'") != std::string::npos);
}

TEST_CASE("YAML: encoding errors carry the position of the bad byte") {
    auto e = parse_yaml("peers: []\naddress-pools:\n- protocol: bg\xff\n");
    REQUIRE_FALSE(e);
    CHECK(e.error.rfind("line 3 column 15: ", 0) == 0);
    CHECK(e.error.find("0xff") != std::string::npos);
    // far into a long file: the reader decodes ahead, the position is the byte's
    std::string long_text;
    for (int i = 0; i < 5000; ++i) long_text += "- 10.0.0." + std::to_string(i % 250) + "\n";
    long_text += "- \x01\n";
    auto c = parse_yaml(long_text);
    REQUIRE_FALSE(c);
    CHECK(c.error.rfind("line 5001 column 3: ", 0) == 0);
    // characters before it on the line count once each, not per byte
    auto u = parse_yaml("k: \xc3\xa9\xc3\xa9\xfe\n");
    REQUIRE_FALSE(u);
    CHECK(u.error.rfind("line 1 column 6: ", 0) == 0);
}

TEST_CASE("YAML tree: anchors are shared, not copied; the alias budget still holds") {
    // 60 nested anchors around a long list, no alias: one tree, parsed quickly.
    std::string text = "a: ";
    for (int i = 0; i < 60; ++i) text += "&a" + std::to_string(i) + " [";
    for (int i = 0; i < 50000; ++i) text += i ? ",1" : "1";
    for (int i = 0; i < 60; ++i) text += "]";
    auto d = parse_yaml(text);
    REQUIRE(d);
    const Node* n = d.value->get("a");
    for (int i = 0; i < 59; ++i) {
        REQUIRE(n->is_seq());
        REQUIRE(n->items.size() == 1);
        n = &*n->items.begin();
    }
    REQUIRE(n->items.size() == 50000);
    std::size_t ones = 0;
    for (const Node& x : n->items) ones += x.scalar == "1";
    CHECK(ones == 50000);

    // an alias refers to the same children (same addresses), at its own position
    auto s = parse_yaml("base: &b\n  addresses: [10.0.0.0/24, 10.0.1.0/24]\ncopy: *b\n");
    REQUIRE(s);
    const Node* base = s.value->get("base");
    const Node* copy = s.value->get("copy");
    REQUIRE(copy->is_map());
    CHECK(copy->line() == 3);
    CHECK(&*copy->get("addresses")->items.begin() == &*base->get("addresses")->items.begin());

    // the expansion budget counts the shared subtree once per alias
    std::string many = "a: &a [";
    for (int i = 0; i < 1000; ++i) many += i ? ",x" : "x";
    many += "]\nb: [";
    for (int i = 0; i < 101; ++i) many += i ? ",*a" : "*a";
    many += "]\n";
    auto m = parse_yaml(many);
    REQUIRE_FALSE(m);
    CHECK(m.error.find("aliases expand to more than 100000 nodes") != std::string::npos);
}

TEST_CASE("YAML tree: views of another kind are empty; roots own the tree") {
    auto d = parse_yaml("m: {a: 1}\ns: [x, y]\nt: text\nn: ~\n");
    REQUIRE(d);
    const Node& root = *d.value;
    const Node* m = root.get("m");
    const Node* s = root.get("s");
    const Node* t = root.get("t");
    CHECK(m->scalar.str().empty());
    CHECK(m->items.size() == 0);
    CHECK(m->items.begin() == m->items.end());
    CHECK(s->map.begin() == s->map.end());
    CHECK(s->get("x") == nullptr);
    CHECK(t->items.empty());
    CHECK(t->scalar == "text");
    CHECK(root.get("n")->is_null());
    CHECK(root.get("n")->scalar.empty());
    std::vector<std::string> keys;
    for (const auto& [k, v] : root.map) keys.emplace_back(k), (void)v;
    CHECK(keys == std::vector<std::string>{"m", "s", "t", "n"});
    // std::string conversions as kube/config.cpp uses them
    std::vector<std::string> args;
    for (const Node& v : s->items) args.push_back(v.scalar);
    CHECK(args == std::vector<std::string>{"x", "y"});
    const std::string viaq = m->is_scalar() ? m->scalar : std::string("none");
    CHECK(viaq == "none");

    // moving or copying the root keeps every child where it is
    const Node* child = root.get("t");
    Node moved = std::move(*d.value);
    d.value.reset();
    CHECK(moved.get("t") == child);
    Node copy = moved;
    { Node gone = std::move(moved); }
    CHECK(copy.get("t")->scalar == "text");
    Node assigned;
    assigned = copy;
    copy = Node();
    CHECK(assigned.get("s")->items.size() == 2);
    // an empty text is a Null root owning nothing
    auto e = parse_yaml("");
    REQUIRE(e);
    CHECK(e.value->is_null());
}

TEST_CASE("legacy: has_lists tells an explicit empty list from an absent or null key") {
    auto parse = [](const char* text) {
        auto doc = parse_yaml(text);
        REQUIRE(doc);
        return parse_legacy(*doc.value);
    };
    CHECK(parse("peers: []\n").has_lists);
    CHECK(parse("address-pools: []\n").has_lists);
    CHECK(parse("peers:\n- peer-address: 10.0.0.1\n").has_lists);
    CHECK_FALSE(parse("peers:\n").has_lists);
    CHECK_FALSE(parse("peers:\naddress-pools:\n").has_lists);
    CHECK_FALSE(parse("other: 1\n").has_lists);
    CHECK_FALSE(parse("").has_lists);
}

TEST_CASE("legacy: diagnostics are capped and the rest counted") {
    std::string text = "peers: []\naddress-pools:\n- protocol: bgp\n  addresses: [";
    for (int i = 0; i < 5000; ++i) text += i ? ",[x]" : "[x]";
    text += ", 10.0.0.0/24]\n";
    auto doc = parse_yaml(text);
    REQUIRE(doc);
    auto r = parse_legacy(*doc.value);
    CHECK_FALSE(r.fatal);
    REQUIRE(r.diagnostics.size() == kMaxLegacyDiagnostics + 1);
    CHECK(r.diagnostics.back().what == "4900 more problems (not listed)");
    CHECK(r.rejected());
    CHECK(r.model.addresses.empty());  // refused whole
}

TEST_CASE("static file text: empty, comments only, no lists are not a configuration") {
    for (const char* t : {"", "   \n\n", "# nothing yet\n", "---\n", "~\n"}) {
        FileLoad f = parse_static_text("/etc/c.yaml", t);
        INFO(t);
        CHECK_FALSE(f.model);
        CHECK(f.empty);
        CHECK(f.error.find("is empty") != std::string::npos);
        CHECK(f.error.find("peers: []") != std::string::npos);
    }
    FileLoad no_lists = parse_static_text("/etc/c.yaml", "peers:\n");
    CHECK_FALSE(no_lists.model);
    CHECK(no_lists.empty);
    CHECK(no_lists.error.find("no peers or address-pools list") != std::string::npos);
    FileLoad wipe = parse_static_text("/etc/c.yaml", "peers: []\naddress-pools: []\n");
    REQUIRE(wipe.model);
    CHECK(wipe.model->peers.empty());
    FileLoad bad = parse_static_text("/etc/c.yaml", "peers: 12\n");
    CHECK_FALSE(bad.model);
    CHECK_FALSE(bad.empty);
}

TEST_CASE("legacy: invalid and repeated addresses never reach the model") {
    auto doc = parse_yaml(
        "peers: []\naddress-pools:\n- protocol: bgp\n  addresses: [10.0.0.0/24, bogus, 10.0.0.0/24]\n"
        "- protocol: bgp\n  addresses: [10.0.0.0/24, 10.1.0.0/24]\n");
    REQUIRE(doc);
    auto r = parse_legacy(*doc.value);
    CHECK(r.rejected());
    CHECK(r.model.addresses.empty());
    REQUIRE(r.diagnostics.size() == 1);  // the file rules: repeats add nothing, only 'bogus' is a problem
    CHECK(r.diagnostics[0].where == "line 4 column 28 (address-pools[0].addresses[1])");
    CHECK(r.diagnostics[0].what.rfind("invalid address 'bogus': ", 0) == 0);

    auto good = parse_yaml(
        "peers: []\naddress-pools:\n- protocol: bgp\n  addresses: [10.0.0.0/24, 10.0.0.0/24]\n"
        "- protocol: bgp\n  addresses: [10.0.0.0/24, 10.1.0.0/24]\n");
    REQUIRE(good);
    auto g = parse_legacy(*good.value);
    CHECK_FALSE(g.rejected());
    REQUIRE(g.model.addresses.size() == 2);
    CHECK(g.model.addresses[0].text == "10.0.0.0/24");
    CHECK(g.model.addresses[1].text == "10.1.0.0/24");
}
