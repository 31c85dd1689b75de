// desired_state: peers that are local (loopback, unspecified, the node's own
// addresses) never become gateways; pools covering a whole family are applied
// with a loud warning naming the entry.
#include <catch2/catch.hpp>

#include "nra/core/desired.hpp"

using namespace nra;

namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

Model model(std::vector<const char*> peers, std::vector<const char*> addrs) {
    Model m;
    int i = 0;
    for (auto p : peers) m.peers.push_back(Peer{ip(p), 0, "peers[" + std::to_string(i++) + "]", {}});
    i = 0;
    for (auto a : addrs)
        m.addresses.push_back(AddressEntry{a, "address-pools[0].addresses[" + std::to_string(i++) + "]"});
    return m;
}

std::vector<std::string> gateways(const Desired& d, Family f) {
    std::vector<std::string> out;
    for (const Route& r : d.routes)
        if (r.family == f)
            for (const Nexthop& n : r.nexthops) out.push_back(n.gateway.str());
    return out;
}

}  // namespace

TEST_CASE("local peers: loopback, unspecified and the node's own addresses are skipped with a reason") {
    const std::set<IpAddr> local{ip("10.0.0.2"), ip("fd00::2"), ip("127.0.0.1"), ip("::1")};
    auto m = model({"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::", "10.0.0.2", "fd00::2",
                    "10.0.0.1", "fd00::1"},
                   {"192.168.57.0/24", "fd20::/64"});
    auto d = desired_state(m, Settings{}, local);
    CHECK(gateways(d, Family::V4) == std::vector<std::string>{"10.0.0.1"});
    CHECK(gateways(d, Family::V6) == std::vector<std::string>{"fd00::1"});
    CHECK(d.local_peers.size() == 8);
    REQUIRE(d.diagnostics.size() == 8);
    CHECK(d.diagnostics[0].where == "peers[0]");
    CHECK(d.diagnostics[0].what.find("peer 127.0.0.1 is a loopback address") != std::string::npos);
    CHECK(d.diagnostics[1].what.find("127.1.2.3 is a loopback") != std::string::npos);
    CHECK(d.diagnostics[3].what.find("is a loopback") != std::string::npos);
    CHECK(d.diagnostics[4].what.find("unspecified") != std::string::npos);
    CHECK(d.diagnostics[6].where == "peers[6]");
    CHECK(d.diagnostics[6].what.find("10.0.0.2 is one of this node's own addresses") != std::string::npos);
    CHECK(d.diagnostics[7].what.find("fd00::2 is one of this node's own addresses") != std::string::npos);
}

TEST_CASE("local peers: the same configuration follows the node's addresses") {
    auto m = model({"10.0.0.2", "10.0.0.1"}, {"192.168.57.0/24"});
    auto local = desired_state(m, Settings{}, {ip("10.0.0.2")});
    auto moved = desired_state(m, Settings{}, {ip("10.0.0.5")});
    CHECK(gateways(local, Family::V4) == std::vector<std::string>{"10.0.0.1"});
    CHECK(gateways(moved, Family::V4) == std::vector<std::string>{"10.0.0.1", "10.0.0.2"});
    CHECK(moved.local_peers.empty());
    CHECK(moved.diagnostics.empty());
    // Only local peers in a family: that family has no route, as with no peers.
    auto only = desired_state(model({"10.0.0.2"}, {"192.168.57.0/24"}), Settings{}, {ip("10.0.0.2")});
    CHECK(only.routes.empty());
    CHECK(only.rules.empty());
    CHECK(local_peer_reason(ip("10.0.0.1"), {ip("10.0.0.2")}).empty());
    CHECK(local_peer_reason(ip("fe80::1"), {}).empty());  // link-local: its own diagnostic
}

TEST_CASE("whole-space pools: applied, with a warning naming the entry") {
    auto m =
        model({"10.0.0.1", "fd00::1"}, {"192.168.57.0/24", "0.0.0.0/0", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"});
    auto d = desired_state(m, Settings{});
    REQUIRE(d.warnings.size() == 2);
    CHECK(d.warnings[0].where == "address-pools[0].addresses[1]");
    CHECK(d.warnings[0].what.find("'0.0.0.0/0' covers the whole IPv4 address space") != std::string::npos);
    CHECK(d.warnings[1].where == "address-pools[0].addresses[2]");
    CHECK(d.warnings[1].what.find("whole IPv6 address space") != std::string::npos);
    CHECK(d.diagnostics.empty());
    // Still applied: "from all" rules for both families.
    REQUIRE(d.rules.size() == 2);
    CHECK_FALSE(d.rules[0].src.has_value());
    CHECK_FALSE(d.rules[1].src.has_value());

    // Two halves together: one warning for the pools as a whole.
    auto halves = desired_state(model({"10.0.0.1"}, {"0.0.0.0/1", "128.0.0.0/1"}), Settings{});
    REQUIRE(halves.warnings.size() == 1);
    CHECK(halves.warnings[0].where == "pools");
    CHECK(halves.warnings[0].what.find("together cover the whole IPv4") != std::string::npos);

    // Anything less than the whole space: no warning.
    CHECK(desired_state(model({"10.0.0.1"}, {"0.0.0.0/1", "10.0.0.0/8"}), Settings{}).warnings.empty());
    CHECK(desired_state(model({"10.0.0.1"}, {"0.0.0.1-255.255.255.255"}), Settings{}).warnings.empty());
}
