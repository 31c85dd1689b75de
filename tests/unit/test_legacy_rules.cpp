// MetalLB v0.12's rules for the ConfigMap (LegacyRules::Speaker) and the
// static file's (LegacyRules::File): each rule refuses the whole document.
#include <catch2/catch.hpp>

#include <string>

#include "nra/core/legacy.hpp"
#include "nra/doc/yaml.hpp"

using namespace nra;

namespace {

LegacyParse parse(const std::string& text, LegacyRules rules) {
    auto doc = parse_yaml(text);
    INFO(doc.error);
    REQUIRE(doc);
    return parse_legacy(*doc.value, rules);
}

const std::string kPeer = "peers:\n- peer-address: 10.0.0.1\n  peer-asn: 64500\n  my-asn: 64501\n";
const std::string kPool = "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.1.0.0/24]\n";

// The one problem `text` has under the speaker rules (its text contains `what`).
void refused(const std::string& text, const std::string& what, const std::string& where = "") {
    INFO(text);
    auto r = parse(text, LegacyRules::Speaker);
    CHECK(r.rejected());
    CHECK_FALSE(r.fatal);
    CHECK(r.model.peers.empty());
    CHECK(r.model.addresses.empty());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].what.find(what) != std::string::npos);
    if (!where.empty()) CHECK(r.diagnostics[0].where == where);
}

}  // namespace

TEST_CASE("speaker rules: a complete v0.12 configuration is accepted") {
    auto r = parse(R"(peers:
- peer-address: 10.0.0.1
  peer-asn: 64500
  my-asn: 64501
  peer-port: 1179
  hold-time: 1m30s
  keepalive-time: 30s
  router-id: 10.9.9.9
  source-address: 10.0.0.2
  password: secret
  ebgp-multihop: true
  bfd-profile: fast
  node-selectors:
  - match-labels: {rack: a}
    match-expressions:
    - {key: zone, operator: In, values: [z1]}
- peer-address: fd00::1
  peer-asn: 64500
  my-asn: 64500
bgp-communities:
  nope: 65535:1
bfd-profiles:
- name: fast
  receive-interval: 100
  detect-multiplier: 3
  echo-mode: yes
address-pools:
- name: a
  protocol: bgp
  avoid-buggy-ips: true
  auto-assign: false
  addresses: [10.1.0.0/24, 10.2.0.0-10.2.0.255, 'fd00:1::/64']
  bgp-advertisements:
  - aggregation-length: 24
    aggregation-length-v6: 64
    localpref: 100
    communities: [nope, '1:2']
- name: l2
  protocol: layer2
  addresses: [10.3.0.0/24]
)",
                   LegacyRules::Speaker);
    INFO((r.diagnostics.empty() ? "" : r.diagnostics[0].where + ": " + r.diagnostics[0].what));
    CHECK_FALSE(r.rejected());
    CHECK(r.model.peers.size() == 2);
    CHECK(r.model.addresses.size() == 3);  // bgp pools only
}

TEST_CASE("speaker rules: each v0.12 rejection refuses the whole document") {
    // Unknown keys (yaml.UnmarshalStrict), at every level.
    refused(kPeer + kPool + "extra: 1\n", "unknown key 'extra'", "line 9 column 1 (extra)");
    refused(kPeer + "  peer-adress: 10.0.0.2\n" + kPool, "unknown key 'peer-adress'");
    refused(kPeer + kPool + "  protocl: bgp\n", "unknown key 'protocl'");
    refused(kPeer + kPool + "  bgp-advertisements:\n  - aggregation: 24\n", "unknown key 'aggregation'");
    // Peers.
    refused("peers:\n- peer-address: 10.0.0.1\n  peer-asn: 1\n" + kPool, "no my-asn");
    refused("peers:\n- peer-address: 10.0.0.1\n  my-asn: 1\n" + kPool, "no peer-asn");
    refused("peers:\n- {peer-address: 10.0.0.1, my-asn: 1, peer-asn: 4294967296}\n" + kPool, "peer-asn must be");
    refused("peers:\n- {peer-address: 10.0.0.1, my-asn: 1, peer-asn: '2'}\n" + kPool, "peer-asn must be");
    refused("peers:\n- {peer-address: 10.0.0.300, my-asn: 1, peer-asn: 2}\n" + kPool, "invalid peer-address",
            "line 2 column 18 (peers[0].peer-address)");
    refused("peers:\n- {my-asn: 1, peer-asn: 2}\n" + kPool, "no peer-address");
    refused(kPeer + "  peer-port: 65536\n" + kPool, "peer-port must be");
    refused(kPeer + "  hold-time: 2s\n" + kPool, "must be 0 or >=3s");
    refused(kPeer + "  hold-time: 90\n" + kPool, "invalid hold-time");
    refused(kPeer + "  hold-time: 9s\n  keepalive-time: 10s\n" + kPool, "longer than the hold time");
    refused(kPeer + "  router-id: not-an-ip\n" + kPool, "invalid router-id");
    refused(kPeer + "  source-address: 10.0.0\n" + kPool, "invalid source-address");
    refused(kPeer + "  ebgp-multihop: maybe\n" + kPool, "ebgp-multihop must be true or false");
    refused("peers:\n- {peer-address: 10.0.0.1, my-asn: 1, peer-asn: 1, ebgp-multihop: true}\n" + kPool, "iBGP peer");
    refused(kPeer + "  bfd-profile: nope\n" + kPool, "bfd profile 'nope'");
    refused(kPeer + "- peer-address: 10.0.0.1\n  peer-asn: 64500\n  my-asn: 64501\n" + kPool, "already exists");
    refused(kPeer + "  node-selectors:\n  - match-expressions:\n    - {key: a, operator: in, values: [b]}\n" + kPool,
            "unknown operator 'in'");
    refused(
        kPeer + "  node-selectors:\n  - match-expressions:\n    - {key: a, operator: Exists, values: [b]}\n" + kPool,
        "");
    // Pools.
    refused(kPeer + "address-pools:\n- name: a\n  addresses: [10.1.0.0/24]\n", "no protocol");
    refused(kPeer + "address-pools:\n- name: a\n  protocol: bgpp\n  addresses: [10.1.0.0/24]\n",
            "unknown protocol 'bgpp'");
    refused(kPeer + "address-pools:\n- protocol: bgp\n  addresses: [10.1.0.0/24]\n", "no name");
    refused(kPeer + kPool + "- name: a\n  protocol: bgp\n  addresses: [10.2.0.0/24]\n", "duplicate definition of pool");
    refused(kPeer + "address-pools:\n- name: a\n  protocol: bgp\n  addresses: []\n", "no addresses");
    refused(kPeer + "address-pools:\n- name: a\n  protocol: bgp\n", "no addresses");
    refused(kPeer + "address-pools:\n- name: a\n  protocol: bgp\n  addresses: 10.1.0.0/24\n", "must be a list");
    refused(kPeer + "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.1.0.0/33]\n", "invalid address");
    refused(kPeer + "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.1.0.9-10.1.0.1]\n",
            "invalid address");
    refused(kPeer + "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.1.0.1]\n", "needs a prefix length");
    // Overlaps: between pools (layer2 ones included) and inside one pool.
    refused(kPeer + kPool + "- name: b\n  protocol: layer2\n  addresses: [10.1.0.128/25]\n",
            "overlaps address-pools[0].addresses[0] of pool 'a'", "line 11 column 15 (address-pools[1].addresses[0])");
    refused(kPeer + "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.1.0.0/24, 10.1.0.200-10.1.1.3]\n",
            "of the same pool");
    refused(kPeer + "address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.1.0.0/24, 10.1.0.0/24]\n",
            "of the same pool");
    // bgp-advertisements.
    refused(kPeer + kPool + "  bgp-advertisements:\n  - aggregation-length: 33\n", "aggregation-length must be");
    refused(kPeer + kPool + "  bgp-advertisements:\n  - aggregation-length: 16\n", "is shorter than the /24");
    refused(kPeer + kPool + "  bgp-advertisements:\n  - aggregation-length-v6: 129\n", "aggregation-length-v6 must be");
    refused(kPeer + kPool + "  bgp-advertisements:\n  - localpref: -1\n", "localpref must be");
    refused(kPeer + kPool + "  bgp-advertisements:\n  - communities: [nope]\n", "invalid community 'nope'");
    refused(kPeer + kPool + "  bgp-advertisements:\n  - communities: ['1:65536']\n", "invalid community");
    refused(kPeer +
                "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [10.1.0.0/24]\n"
                "  bgp-advertisements:\n  - {}\n",
            "layer2");
    refused(kPeer + kPool + "  auto-assign: 'no'\n", "auto-assign must be true or false");
    refused(kPeer + kPool + "bgp-communities:\n  x: 1-2\n", "invalid community '1-2'");
    // bfd-profiles.
    refused(kPeer + kPool + "bfd-profiles:\n- receive-interval: 100\n", "bfd profile has no name");
    refused(kPeer + kPool + "bfd-profiles:\n- name: x\n- name: x\n", "duplicate bfd profile name");
    refused(kPeer + kPool + "bfd-profiles:\n- name: x\n  detect-multiplier: 1\n", "detect-multiplier must be");
    refused(kPeer + kPool + "bfd-profiles:\n- name: x\n  minimum-ttl: 255\n", "minimum-ttl must be");
}

TEST_CASE("speaker rules: every problem is listed, not only the first") {
    auto r = parse("peers:\n- peer-address: x\n- {}\naddress-pools:\n- {}\n", LegacyRules::Speaker);
    CHECK(r.rejected());
    // peers[0]: address, my-asn, peer-asn; peers[1]: address, my-asn, peer-asn; pool: name, protocol, addresses
    CHECK(r.diagnostics.size() == 9);
}

TEST_CASE("speaker rules: overlap checks stay n log n on a large document") {
    std::string text = kPeer + "address-pools:\n- name: a\n  protocol: bgp\n  addresses:\n";
    for (int i = 0; i < 20000; ++i)
        text += "  - 10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\n";
    text += "  - 10.0.0.0/8\n";
    auto r = parse(text, LegacyRules::Speaker);
    CHECK(r.rejected());
    CHECK(r.diagnostics.size() == kMaxLegacyDiagnostics + 1);  // capped, the rest counted
}

TEST_CASE("file rules: speaker-only fields are neither required nor checked") {
    // A file written for the Node.js agent: no ASNs, no names.
    auto minimal = parse(
        "peers:\n- peer-address: 10.0.0.1\n- peer-address: 10.0.0.2\naddress-pools:\n- protocol: bgp\n"
        "  addresses: [10.1.0.0/24, 10.1.1.5]\n",
        LegacyRules::File);
    CHECK_FALSE(minimal.rejected());
    CHECK(minimal.model.peers.size() == 2);
    CHECK(minimal.model.addresses.size() == 2);  // a bare address is a /32 here
    auto speaker_only = parse(
        kPeer + "  hold-time: 1s\n  peer-port: 99999\n" + kPool + "  bgp-advertisements:\n  - aggregation-length: 8\n",
        LegacyRules::File);
    CHECK_FALSE(speaker_only.rejected());
    // Layer2 pools' addresses are not the agent's: not checked by the file rules.
    auto l2 = parse(kPeer + kPool + "- protocol: layer2\n  addresses: [nonsense]\n", LegacyRules::File);
    CHECK_FALSE(l2.rejected());
    CHECK(l2.model.addresses.size() == 1);
}

TEST_CASE("file rules: what the agent reads refuses the whole file") {
    for (const std::string& bad : {
             std::string("peers:\n- peer-address: 10.0.0.300\n") + kPool,                    // invalid peer address
             std::string("peers:\n- peer-asn: 1\n") + kPool,                                 // no peer-address
             kPeer + "address-pools:\n- addresses: [10.1.0.0/24]\n",                         // pool without protocol
             kPeer + "address-pools:\n- protocol: bgp\n  addresses: [10.1.0.9-10.1.0.1]\n",  // invalid range
             kPeer + kPool + "  typo: 1\n",                                                  // unknown key
             kPeer + "  node-selectors:\n  - match-expressions:\n    - {key: a, operator: In}\n" + kPool,
         }) {
        INFO(bad);
        auto r = parse(bad, LegacyRules::File);
        CHECK(r.rejected());
        CHECK(r.model.peers.empty());
        CHECK(r.model.addresses.empty());
    }
    // Explicitly empty lists are a valid (empty) configuration.
    auto empty = parse("peers: []\naddress-pools: []\n", LegacyRules::File);
    CHECK_FALSE(empty.rejected());
    CHECK(empty.has_lists);
}
