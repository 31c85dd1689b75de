#include <catch2/catch.hpp>

#include "nra/sources/legacy_text.hpp"

using namespace nra;

TEST_CASE("legacy text: one path for the static file and the ConfigMap") {
    const std::string cm = "ConfigMap metallb-system/config data.config";
    auto ok = load_legacy_text(
        "peers:\n- peer-address: 10.0.0.1\naddress-pools:\n- protocol: bgp\n"
        "  addresses: [10.1.0.0/24]\n",
        cm, LegacyRules::File);
    REQUIRE(ok);
    CHECK_FALSE(ok.value->empty);
    CHECK_FALSE(ok.value->rejected());
    CHECK(ok.value->model.peers.size() == 1);
    REQUIRE(ok.value->model.addresses.size() == 1);
    REQUIRE(ok.value->model.addresses[0].prefixes);  // parsed once, here
    CHECK(ok.value->model.addresses[0].prefixes->at(0).str() == "10.1.0.0/24");

    auto bad_yaml = load_legacy_text("address-pools: {{{\n", cm, LegacyRules::Speaker);
    REQUIRE_FALSE(bad_yaml);
    CHECK(bad_yaml.error.rfind(cm + ": invalid YAML: line ", 0) == 0);

    auto not_config = load_legacy_text("- a\n- b\n", cm, LegacyRules::Speaker);
    REQUIRE_FALSE(not_config);
    CHECK(not_config.error.rfind(cm + ": ", 0) == 0);

    for (const char* empty : {"", "# nothing\n", "peers:\n"}) {
        auto e = load_legacy_text(empty, cm, LegacyRules::Speaker);
        INFO(empty);
        REQUIRE(e);  // the ConfigMap applies it as an empty configuration; the static file refuses it
        CHECK(e.value->empty);
        CHECK(e.value->model.peers.empty());
        CHECK(e.value->empty_reason.rfind(cm, 0) == 0);
    }
}

TEST_CASE("legacy text: one bad entry refuses the whole document, every problem named") {
    const std::string origin = "/etc/metallb/config.yaml";
    auto r = load_legacy_text(
        "peers:\n- peer-address: 10.0.0.1\naddress-pools:\n- protocol: bgp\n"
        "  addresses: [10.1.0.0/24, nonsense]\n- addresses: [10.2.0.0/24]\n",
        origin, LegacyRules::File);
    REQUIRE(r);
    CHECK(r.value->rejected());
    CHECK_FALSE(r.value->empty);
    CHECK(r.value->model.peers.empty());  // nothing of a refused document is applied
    CHECK(r.value->model.addresses.empty());
    REQUIRE(r.value->problems.size() == 2);
    CHECK(r.value->problems[0].where == "line 5 column 28 (address-pools[0].addresses[1])");
    CHECK(r.value->problems[0].what.find("nonsense") != std::string::npos);
    CHECK(r.value->problems[1].what.find("no protocol") != std::string::npos);
    const std::string summary = rejection_summary(origin, r.value->problems);
    CHECK(summary.rfind(origin + ": configuration refused (2 problems; the first: line 5 column 28", 0) == 0);

    auto unknown = load_legacy_text("unrelated: 1\n", origin, LegacyRules::File);
    REQUIRE(unknown);
    REQUIRE(unknown.value->problems.size() == 1);
    CHECK(unknown.value->problems[0].what == "unknown key 'unrelated'");
}
