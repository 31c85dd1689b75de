#include <catch2/catch.hpp>

#include "nra/core/ip.hpp"

using namespace nra;

namespace {
std::vector<std::string> strs(const std::vector<Prefix>& v) {
    std::vector<std::string> out;
    for (const auto& p : v) out.push_back(p.str());
    return out;
}
std::vector<std::string> entry(const char* text) {
    auto r = parse_pool_entry(text);
    INFO(text << ": " << r.error);
    REQUIRE(r);
    return strs(*r.value);
}
std::string entry_error(const char* text) {
    auto r = parse_pool_entry(text);
    REQUIRE_FALSE(r);
    return r.error;
}
}  // namespace

TEST_CASE("addresses parse and print in both families") {
    CHECK(IpAddr::parse("192.168.1.2")->str() == "192.168.1.2");
    CHECK(IpAddr::parse(" fd00::1 ")->str() == "fd00::1");
    CHECK(IpAddr::parse("::ffff:1.2.3.4")->family == Family::V6);
    CHECK_FALSE(IpAddr::parse("1.2.3"));
    CHECK_FALSE(IpAddr::parse("1.2.3.256"));
    CHECK_FALSE(IpAddr::parse("fd00:::1"));
    CHECK_FALSE(IpAddr::parse(""));
    CHECK_FALSE(IpAddr::parse("foo-bar-baz"));
    CHECK(IpAddr::parse("fe80::1")->is_v6_link_local());
    CHECK_FALSE(IpAddr::parse("fd00::1")->is_v6_link_local());
}

TEST_CASE("prefixes: /0, host prefixes, host bits masked or refused") {
    CHECK(parse_prefix("0.0.0.0/0").value->str() == "0.0.0.0/0");
    CHECK(parse_prefix("::/0").value->str() == "::/0");
    CHECK(parse_prefix("10.1.2.3/32").value->str() == "10.1.2.3/32");
    CHECK(parse_prefix("10.1.2.3").value->str() == "10.1.2.3/32");
    CHECK(parse_prefix("fd00::1/128").value->str() == "fd00::1/128");
    CHECK(parse_prefix("fd00::1").value->str() == "fd00::1/128");
    bool host = false;
    CHECK(parse_prefix("192.168.57.77/24", false, &host).value->str() == "192.168.57.0/24");
    CHECK(host);
    CHECK(parse_prefix("fd00:1:2:3::99/64").value->str() == "fd00:1:2:3::/64");
    CHECK_FALSE(parse_prefix("192.168.57.77/24", true));
    CHECK(parse_prefix("10.0.0.0/33").error.find("exceeds 32") != std::string::npos);
    CHECK(parse_prefix("fd00::/129").error.find("exceeds 128") != std::string::npos);
    CHECK_FALSE(parse_prefix("10.0.0.0/"));
    CHECK_FALSE(parse_prefix("10.0.0.0/x"));
    CHECK_FALSE(parse_prefix("10.0.0.0/-1"));
    CHECK_FALSE(parse_prefix("invalid/24"));
}

TEST_CASE("ranges become the minimal CIDR list") {
    CHECK(entry("192.168.58.10-192.168.58.30") == std::vector<std::string>{"192.168.58.10/31", "192.168.58.12/30",
                                                                           "192.168.58.16/29", "192.168.58.24/30",
                                                                           "192.168.58.28/31", "192.168.58.30/32"});
    CHECK(entry("192.168.58.10 - 192.168.58.10") == std::vector<std::string>{"192.168.58.10/32"});
    CHECK(entry("10.0.0.0-10.0.0.255") == std::vector<std::string>{"10.0.0.0/24"});
    CHECK(entry("0.0.0.0-255.255.255.255") == std::vector<std::string>{"0.0.0.0/0"});
    CHECK(entry("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == std::vector<std::string>{"::/0"});
    CHECK(entry("fd00::1-fd00::2") == std::vector<std::string>{"fd00::1/128", "fd00::2/128"});
    CHECK(entry("fd00::-fd00::ffff") == std::vector<std::string>{"fd00::/112"});
    CHECK(entry("255.255.255.254-255.255.255.255") == std::vector<std::string>{"255.255.255.254/31"});
    CHECK(entry("0.0.0.1-255.255.255.255").size() == 32);
}

TEST_CASE("invalid pool entries say why") {
    CHECK(entry_error("192.168.58.30-192.168.58.10").find("after its end") != std::string::npos);
    CHECK(entry_error("10.0.0.1-fd00::1").find("mixes") != std::string::npos);
    CHECK(entry_error("10.0.0.1-").find("range end") != std::string::npos);
    CHECK(entry_error("-10.0.0.1").find("range start") != std::string::npos);
    CHECK(entry_error("foo-bar-baz").find("range start") != std::string::npos);
    CHECK(entry_error("invalid/24").find("not an IPv4 or IPv6 address") != std::string::npos);
    CHECK(entry_error("   ").find("empty") != std::string::npos);
}

TEST_CASE("aggregation: duplicates, overlaps, adjacency, families kept apart") {
    auto agg = [](std::vector<const char*> in) {
        std::vector<Prefix> ps;
        for (auto s : in) ps.push_back(*parse_prefix(s).value);
        return strs(aggregate(ps));
    };
    CHECK(agg({"10.0.0.0/24", "10.0.0.0/24"}) == std::vector<std::string>{"10.0.0.0/24"});
    CHECK(agg({"10.0.0.0/25", "10.0.0.128/25"}) == std::vector<std::string>{"10.0.0.0/24"});
    CHECK(agg({"10.0.0.0/24", "10.0.0.7/32"}) == std::vector<std::string>{"10.0.0.0/24"});
    CHECK(agg({"10.0.1.0/24", "10.0.0.0/24", "10.0.2.0/24"}) == std::vector<std::string>{"10.0.0.0/23", "10.0.2.0/24"});
    CHECK(agg({"10.0.0.1/32", "10.0.0.3/32"}) == std::vector<std::string>{"10.0.0.1/32", "10.0.0.3/32"});
    CHECK(agg({"fd00::/64", "10.0.0.0/8", "fd00:0:0:1::/64"}) == std::vector<std::string>{"10.0.0.0/8", "fd00::/63"});
    CHECK(agg({"0.0.0.0/0", "10.0.0.0/8"}) == std::vector<std::string>{"0.0.0.0/0"});
    CHECK(agg({"255.255.255.255/32", "255.255.255.254/32"}) == std::vector<std::string>{"255.255.255.254/31"});
    CHECK(agg({"::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"}) == std::vector<std::string>{"::/0"});
    CHECK(agg({}).empty());
}
