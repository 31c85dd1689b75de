#include <catch2/catch.hpp>

#include <functional>

#include "nra/core/crd.hpp"

using namespace nra;
using Op = LabelRequirement::Op;

namespace {

CrdPeer peer(std::string name, std::string addr, Labels labels = {}, std::vector<LabelSelector> sels = {}) {
    CrdPeer p;
    p.ns = "metallb-system";
    p.name = std::move(name);
    p.peer_address = std::move(addr);
    p.labels = std::move(labels);
    p.node_selectors = std::move(sels);
    return p;
}

CrdPool pool(std::string name, std::vector<std::string> addrs, Labels labels = {}) {
    return CrdPool{"metallb-system", std::move(name), std::move(labels), std::move(addrs), {}};
}

CrdAdvertisement ad(std::string name, std::vector<std::string> pools = {}, std::vector<LabelSelector> sels = {},
                    std::vector<std::string> peers = {}) {
    CrdAdvertisement a;
    a.ns = "metallb-system";
    a.name = std::move(name);
    a.pools = std::move(pools);
    a.pool_selectors = std::move(sels);
    a.peers = std::move(peers);
    return a;
}

LabelSelector labels_sel(Labels l) {
    LabelSelector s;
    s.match_labels = std::move(l);
    return s;
}

std::vector<std::string> addrs(const CrdSelection& s) {
    std::vector<std::string> out;
    for (const auto& a : s.model.addresses) out.push_back(a.text);
    return out;
}

std::vector<std::string> peers(const CrdSelection& s) {
    std::vector<std::string> out;
    for (const auto& p : s.model.peers) out.push_back(p.address.str());
    return out;
}

bool mentions(const CrdSelection& s, const std::string& text) {
    for (const auto& d : s.diagnostics)
        if ((d.where + " " + d.what).find(text) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("the samples: simple peer, pool with IPv6, empty advertisement selects all pools") {
    CrdInput in;
    in.peers = {peer("peer", "172.30.0.3")};
    in.pools = {pool("example", {"192.168.10.0/24", "192.168.9.1-192.168.9.5", "fc00:f853:0ccd:e799::/124"})};
    in.advertisements = {ad("empty")};
    auto s = select_crd(in);
    CHECK_FALSE(s.rejected);
    CHECK(peers(s) == std::vector<std::string>{"172.30.0.3"});
    CHECK(addrs(s) ==
          std::vector<std::string>{"192.168.10.0/24", "192.168.9.1-192.168.9.5", "fc00:f853:0ccd:e799::/124"});
    CHECK(s.model.peers[0].name == "metallb-system/peer");
    CHECK(s.model.addresses[0].where.find("metallb-system/example") != std::string::npos);
}

TEST_CASE("pools not selected by any advertisement are left out; by name OR by selector") {
    CrdInput in;
    in.peers = {peer("p", "10.0.0.1")};
    in.pools = {pool("a", {"10.1.0.0/24"}), pool("b", {"10.2.0.0/24"}, {{"test", "bgp"}}), pool("c", {"10.3.0.0/24"})};
    CHECK(addrs(select_crd(in)).empty());  // no advertisement at all
    in.advertisements = {ad("by-name", {"a", "unknown"}), ad("by-label", {}, {labels_sel({{"test", "bgp"}})})};
    CHECK(addrs(select_crd(in)) == std::vector<std::string>{"10.1.0.0/24", "10.2.0.0/24"});
    // [{}] selects every pool; ipAddressPools: [] with a selector is not "all".
    in.advertisements = {ad("all-by-empty-selector", {}, {LabelSelector{}})};
    CHECK(addrs(select_crd(in)).size() == 3);
    // The same pool selected twice appears once.
    in.advertisements = {ad("x", {"a"}), ad("y", {"a"})};
    CHECK(addrs(select_crd(in)) == std::vector<std::string>{"10.1.0.0/24"});
}

TEST_CASE("peer node selectors OR-ed against this node's labels; no node = not evaluated") {
    CrdInput in;
    in.peers = {peer("a", "10.0.0.1", {}, {labels_sel({{"zone", "a"}}), labels_sel({{"zone", "b"}})}),
                peer("all", "10.0.0.2"), peer("c", "10.0.0.3", {}, {labels_sel({{"zone", "c"}})})};
    in.node_labels = Labels{{"zone", "b"}};
    CHECK(peers(select_crd(in)) == std::vector<std::string>{"10.0.0.1", "10.0.0.2"});
    in.node_labels = Labels{};
    CHECK(peers(select_crd(in)) == std::vector<std::string>{"10.0.0.2"});
    in.node_labels.reset();
    CHECK(peers(select_crd(in)).size() == 3);
    for (const auto& p : select_crd(in).model.peers) CHECK(p.node_selectors.empty());
}

TEST_CASE("metallb-nra labels: enabled, address, weight") {
    CrdInput in;
    in.peers = {peer("off1", "10.0.0.1", {{"metallb-nra/enabled", "false"}}),
                peer("off2", "10.0.0.2", {{"metallb-nra/enabled", "0"}}),
                peer("off3", "10.0.0.3", {{"metallb-nra/enabled", "no"}}),
                peer("on", "10.0.0.4", {{"metallb-nra/enabled", "true"}}),
                peer("moved", "10.0.0.5", {{"metallb-nra/address", "fd00::5"}}),
                peer("heavy", "10.0.0.6", {{"metallb-nra/weight", "256"}}),
                peer("badweight", "10.0.0.7", {{"metallb-nra/weight", "0"}}),
                peer("badaddr", "10.0.0.8", {{"metallb-nra/address", "nope"}})};
    auto s = select_crd(in);
    CHECK_FALSE(s.rejected);
    CHECK(peers(s) == std::vector<std::string>{"10.0.0.7", "10.0.0.6", "fd00::5", "10.0.0.4"});
    CHECK(s.model.peers[1].weight == 256);
    CHECK(s.model.peers[0].weight == 0);
    CHECK(mentions(s, "metallb-system/badweight"));
    CHECK(mentions(s, "metallb-system/badaddr"));
}

TEST_CASE("interface-only peers are skipped with a diagnostic, the rest applies") {
    CrdInput in;
    CrdPeer unnumbered = peer("unnumbered", "");
    unnumbered.interface_name = "eth0";
    in.peers = {unnumbered, peer("good", "2001:db8::1")};
    in.pools = {pool("p", {"10.9.0.0/24"})};
    in.advertisements = {ad("a", {"p", "does-not-exist"})};  // a missing pool is ignored, as MetalLB does
    auto s = select_crd(in);
    CHECK_FALSE(s.rejected);
    CHECK(peers(s) == std::vector<std::string>{"2001:db8::1"});
    CHECK(addrs(s) == std::vector<std::string>{"10.9.0.0/24"});
    CHECK(mentions(s, "interface-only"));
}

TEST_CASE("MetalLB's config controller rules: one invalid object refuses the whole set") {
    const auto base = [] {
        CrdInput in;
        in.peers = {peer("good", "10.0.0.1")};
        in.pools = {pool("p", {"10.9.0.0/24"})};
        in.advertisements = {ad("a", {"p"})};
        return in;
    };
    CHECK_FALSE(select_crd(base()).rejected);
    struct Case {
        const char* what;
        std::function<void(CrdInput&)> change;
        const char* mention;
    };
    const Case cases[] = {
        {"invalid peer address", [](CrdInput& in) { in.peers.push_back(peer("bad", "10.0.0.300")); },
         "metallb-system/bad"},
        {"peer without address or interface", [](CrdInput& in) { in.peers.push_back(peer("none", "")); },
         "metallb-system/none"},
        {"invalid pool address, even in a pool no advertisement selects",
         [](CrdInput& in) { in.pools.push_back(pool("q", {"not-an-address"})); }, "not-an-address"},
        {"pool without addresses", [](CrdInput& in) { in.pools.push_back(pool("q", {})); }, "no spec.addresses"},
        {"overlapping pools", [](CrdInput& in) { in.pools.push_back(pool("q", {"10.9.0.128-10.9.1.3"})); },
         "overlaps '10.9.0.0/24' of IPAddressPool metallb-system/p"},
        {"overlap inside one pool", [](CrdInput& in) { in.pools[0].addresses.push_back("10.9.0.7/32"); }, "overlaps"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        CrdInput in = base();
        c.change(in);
        auto s = select_crd(in);
        CHECK(s.rejected);
        CHECK(s.model.peers.empty());
        CHECK(s.model.addresses.empty());
        CHECK(mentions(s, c.mention));
    }
}

TEST_CASE("invalid selectors reject the whole configuration") {
    CrdInput in;
    in.peers = {peer("p", "10.0.0.1")};
    LabelSelector in_without_values;
    in_without_values.match_expressions.push_back({"k", Op::In, {}});
    in.advertisements = {ad("bad", {}, {in_without_values})};
    auto s = select_crd(in);
    CHECK(s.rejected);
    CHECK(mentions(s, "metallb-system/bad"));

    in.advertisements = {ad("ok")};
    in.peers[0].invalid = "unknown selector operator 'Foo'";
    CHECK(select_crd(in).rejected);

    LabelSelector exists_with_values;
    exists_with_values.match_expressions.push_back({"k", Op::Exists, {"v"}});
    in.peers[0] = peer("p", "10.0.0.1", {}, {exists_with_values});
    CHECK(select_crd(in).rejected);
}

TEST_CASE("advertisement peers: counts only when it names an applicable peer") {
    CrdInput in;
    in.peers = {peer("here", "10.0.0.1"), peer("elsewhere", "10.0.0.2", {}, {labels_sel({{"zone", "x"}})})};
    in.node_labels = Labels{{"zone", "a"}};
    in.pools = {pool("p1", {"10.1.0.0/24"}), pool("p2", {"10.2.0.0/24"})};
    in.advertisements = {ad("to-here", {"p1"}, {}, {"here"}), ad("to-elsewhere", {"p2"}, {}, {"elsewhere"})};
    auto s = select_crd(in);
    CHECK(peers(s) == std::vector<std::string>{"10.0.0.1"});
    CHECK(addrs(s) == std::vector<std::string>{"10.1.0.0/24"});
}

TEST_CASE("selector_error") {
    CHECK(selector_error(LabelSelector{}).empty());
    LabelSelector s;
    s.match_expressions.push_back({"k", Op::NotIn, {"a"}});
    s.match_expressions.push_back({"k", Op::DoesNotExist, {}});
    CHECK(selector_error(s).empty());
    s.match_expressions.push_back({"", Op::Exists, {}});
    CHECK_FALSE(selector_error(s).empty());
}
