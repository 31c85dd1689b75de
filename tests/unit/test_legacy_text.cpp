#include <catch2/catch.hpp>

#include "nra/sources/legacy_text.hpp"

using namespace nra;

TEST_CASE("legacy text: one path for the static file and the ConfigMap") {
    const std::string cm = "ConfigMap metallb-system/config data.config";
    auto ok = load_legacy_text(
        "peers:\n- peer-address: 10.0.0.1\naddress-pools:\n- protocol: bgp\n"
        "  addresses: [10.1.0.0/24, nonsense]\n",
        cm);
    REQUIRE(ok);
    CHECK_FALSE(ok.value->empty);
    CHECK(ok.value->model.peers.size() == 1);
    REQUIRE(ok.value->model.addresses.size() == 1);
    REQUIRE(ok.value->model.addresses[0].prefixes);  // parsed once, here
    CHECK(ok.value->model.addresses[0].prefixes->at(0).str() == "10.1.0.0/24");
    REQUIRE(ok.value->diagnostics.size() == 1);
    CHECK(ok.value->diagnostics[0].what.find("nonsense") != std::string::npos);

    auto bad_yaml = load_legacy_text("address-pools: {{{\n", cm);
    REQUIRE_FALSE(bad_yaml);
    CHECK(bad_yaml.error.rfind(cm + ": invalid YAML: line ", 0) == 0);

    auto not_config = load_legacy_text("- a\n- b\n", cm);
    REQUIRE_FALSE(not_config);
    CHECK(not_config.error.rfind(cm + ": ", 0) == 0);

    for (const char* empty : {"", "# nothing\n", "unrelated: 1\n"}) {
        auto e = load_legacy_text(empty, cm);
        INFO(empty);
        REQUIRE(e);  // the ConfigMap applies it as an empty configuration; the static file refuses it
        CHECK(e.value->empty);
        CHECK(e.value->model.peers.empty());
        CHECK(e.value->empty_reason.rfind(cm, 0) == 0);
    }
}
