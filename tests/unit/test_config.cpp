#include <catch2/catch.hpp>

#include <map>

#include "nra/agent/config.hpp"

using namespace nra;

namespace {
ConfigResult load(std::map<std::string, std::string> env, std::vector<std::string> args = {}) {
    return load_config(args, [env](const char* n) -> const char* {
        auto it = env.find(n);
        return it == env.end() ? nullptr : it->second.c_str();
    });
}
std::string error_of(std::map<std::string, std::string> env, std::vector<std::string> args = {}) {
    auto r = load(std::move(env), std::move(args));
    REQUIRE_FALSE(r.config);
    return r.error;
}
}  // namespace

TEST_CASE("defaults are the upstream agent's") {
    auto r = load({});
    REQUIRE(r.config);
    const Config& c = *r.config;
    CHECK(c.settings.table == 20);
    CHECK(c.settings.rule_priority == 20);
    CHECK(c.settings.peer_weight == 100);
    CHECK_FALSE(c.settings.fwmark);
    CHECK(c.max_reconcile_wait.count() == 60000);
    CHECK(c.kube.configmap_name == "config");
    CHECK_FALSE(c.kube.use_crds);
    CHECK(c.log_level == log::Level::Info);
    CHECK(c.settings.destination_v4.str() == "0.0.0.0/0");
    CHECK(c.settings.destination_v6.str() == "::/0");
}

TEST_CASE("environment and flags; flags win") {
    auto r = load({{"TABLE_WEIGHT", "300"},
                   {"RULE_FWMARK", "0x14/0xff"},
                   {"MAX_RECONCILE_WAIT", "10"},
                   {"ONESHOT", "yes"},
                   {"DESTINATION", "10.0.0.0/8,fd00::/8"}},
                  {"--table", "400", "--rule-priority=7", "--use-crds"});
    REQUIRE(r.config);
    CHECK(r.config->settings.table == 400);
    CHECK(r.config->settings.rule_priority == 7);
    CHECK(*r.config->settings.fwmark == 0x14);
    CHECK(r.config->settings.fwmask == 0xff);
    CHECK(r.config->max_reconcile_wait.count() == 1000);
    CHECK(r.config->oneshot);
    CHECK(r.config->kube.use_crds);
    CHECK(r.config->settings.destination_v4.str() == "10.0.0.0/8");
    CHECK(r.config->settings.destination_v6.str() == "fd00::/8");
    CHECK(load({{"MAX_RECONCILE_WAIT", "0"}}).config->max_reconcile_wait.count() == 0);
    CHECK(load({{"ONESHOT", ""}}).config->oneshot == false);
}

TEST_CASE("dangerous and invalid settings are refused with the name and the value") {
    for (const char* t : {"0", "252", "253", "254", "255", "main", "-1", "4294967296", "20x"}) {
        INFO(t);
        CHECK(error_of({{"TABLE_WEIGHT", t}}).find(std::string("TABLE_WEIGHT='") + t + "'") != std::string::npos);
    }
    CHECK(error_of({{"RULE_PRIORITY", "0"}}).find("RULE_PRIORITY='0'") != std::string::npos);
    CHECK(error_of({{"RULE_PRIORITY", "4294967296"}}).find("RULE_PRIORITY") != std::string::npos);
    CHECK(error_of({{"PEER_WEIGHT", "0"}}).find("PEER_WEIGHT") != std::string::npos);
    CHECK(error_of({{"PEER_WEIGHT", "257"}}).find("PEER_WEIGHT") != std::string::npos);
    for (const char* m : {"0x", "zz", "0x14/", "0x14/0x0f", "0x1ffffffff", "14/0"}) {
        INFO(m);
        CHECK(error_of({{"RULE_FWMARK", m}}).find("RULE_FWMARK") != std::string::npos);
    }
    CHECK(error_of({{"MAX_RECONCILE_WAIT", "-5"}}).find("MAX_RECONCILE_WAIT='-5'") != std::string::npos);
    CHECK(error_of({{"DESTINATION", "10.0.0.1/8"}}).find("host bits") != std::string::npos);
    CHECK(error_of({{"DESTINATION", "nowhere"}}).find("DESTINATION") != std::string::npos);
    CHECK(error_of({{"DESTINATION", "10.0.0.0/8,11.0.0.0/8"}}).find("more than one") != std::string::npos);
    CHECK(error_of({{"METALLB_USE_CRDS", "maybe"}}).find("METALLB_USE_CRDS='maybe'") != std::string::npos);
    CHECK(error_of({{"LOG_LEVEL", "loud"}}).find("LOG_LEVEL") != std::string::npos);
    CHECK(error_of({}, {"--table=254"}).find("--table='254'") != std::string::npos);
    CHECK(error_of({}, {"--bogus"}).find("unknown option") != std::string::npos);
    CHECK(error_of({}, {"--table"}).find("needs a value") != std::string::npos);
    CHECK(error_of({{"ONESHOT", "1"}, {"CLEANANDEXIT", "1"}}).find("mutually exclusive") != std::string::npos);
}

TEST_CASE("help lists every variable") {
    const auto u = usage_text();
    for (const char* v :
         {"MAX_RECONCILE_WAIT", "TABLE_WEIGHT", "PEER_WEIGHT", "RULE_PRIORITY", "RULE_FWMARK", "DESTINATION",
          "PRE_RECONCILE_SCRIPT_PATH", "POST_RECONCILE_SCRIPT_PATH", "METALLB_NAMESPACE", "METALLB_CONFIGMAP_NAME",
          "METALLB_STATIC_FILE", "METALLB_USE_CRDS", "NODE_NAME", "LOG_LEVEL", "CLEANANDEXIT", "ONESHOT"})
        CHECK(u.find(v) != std::string::npos);
    CHECK(load({}, {"--help"}).help);
    CHECK(load({}, {"--version"}).version);
}

TEST_CASE("PEER_SET_TABLES: default, environment, flag, and refusals naming the setting") {
    auto r = load({});
    REQUIRE(r.config);
    CHECK(r.config->settings.tables() == TableSet{20, 30001, 30064});
    r = load({{"PEER_SET_TABLES", "100-107"}}, {"--table", "30"});
    REQUIRE(r.config);
    CHECK(r.config->settings.tables() == TableSet{30, 100, 107});
    r = load({{"PEER_SET_TABLES", "100-107"}}, {"--peer-set-tables=200-201"});
    REQUIRE(r.config);
    CHECK(r.config->settings.tables() == TableSet{20, 200, 201});
    CHECK(error_of({{"PEER_SET_TABLES", "107-100"}}).find("PEER_SET_TABLES='107-100': the range is reversed") !=
          std::string::npos);
    CHECK(error_of({{"PEER_SET_TABLES", "250-260"}}).find("PEER_SET_TABLES='250-260'") != std::string::npos);
    CHECK(error_of({{"PEER_SET_TABLES", "1-5000"}}).find("more than 1024") != std::string::npos);
    CHECK(error_of({{"PEER_SET_TABLES", "x"}}).find("invalid PEER_SET_TABLES='x'") != std::string::npos);
    CHECK(error_of({}, {"--peer-set-tables", "10-30"}).find("includes TABLE_WEIGHT 20") != std::string::npos);
    // The default range beside a TABLE_WEIGHT inside it: refused, naming the default.
    CHECK(error_of({{"TABLE_WEIGHT", "30010"}}).find("PEER_SET_TABLES (default)") != std::string::npos);
    CHECK(usage_text().find("PEER_SET_TABLES") != std::string::npos);
}
