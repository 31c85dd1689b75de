"""CRD mode (METALLB_USE_CRDS) end to end: BGPPeers, IPAddressPools and BGPAdvertisements
(MetalLB's own samples from tests/fixtures/metallb/samples/ among them) served by the fake
API server in the test's namespace, plus this node for peers' nodeSelectors."""

from __future__ import annotations

import json
import signal
import time

from kube_harness import (MNS, KubeTestCase, advertisement, bgppeer, cidrs_of, node, only_family, pool, sample,
                          wait_until)
from netns import canon_route, figure

# tests/fixtures/metallb/samples/ipaddresspool_simple.yaml (and simple_pool_adv_bgp.yaml)
SAMPLE_POOL = ["192.168.10.0/24", "192.168.9.1-192.168.9.5", "fc00:f853:0ccd:e799::/124"]
SAMPLE_CIDRS = cidrs_of(SAMPLE_POOL)
SAMPLE_PEER = "172.30.0.3"  # bgppeer_simple.yaml
SAMPLE_PEER_NET = "172.30.0.2/24"  # on v0, so the sample peer is on-link
C_ALL = ["192.168.57.0/24", "fd20::/64"]


class CrdBase(KubeTestCase):
    def start_crd_agent(self, api, node_name=None, **extra):
        return self.start_kube_agent(api, crds=True, node=node_name, **extra)


class TestKubeCrdSamples(CrdBase):
    def test_samples_end_to_end(self):
        """bgppeer_simple + simple_pool_adv_bgp (a pool and an advertisement without spec, which selects
        every pool): the IPv4 CIDRs via the sample peer; an IPv6 peer brings the IPv6 CIDR; deleting the
        advertisement leaves the pool unannounced; deleting the peers removes everything."""
        self.add_address(SAMPLE_PEER_NET)
        before = self.seed_foreign()
        api = self.start_api(fixtures=[sample("bgppeer_simple.yaml")])
        api.put_yaml(sample("simple_pool_adv_bgp.yaml"))
        self.ns.start_monitor()
        agent = self.start_crd_agent(api)
        self.wait_state(only_family(SAMPLE_CIDRS, 4), [SAMPLE_PEER])
        peer_lists = api.requests_log(path="/bgppeers", type="list")
        self.assertTrue(peer_lists and all("/metallb.io/v1beta2/" in r["path"] for r in peer_lists),
                        f"bgppeers must be read as v1beta2: {[r['path'] for r in peer_lists]}")
        api.put_object(bgppeer("v6", "fd00::1"))
        self.wait_state(SAMPLE_CIDRS, [SAMPLE_PEER, "fd00::1"])
        api.delete_object("BGPAdvertisement", "empty")
        self.wait_state([], [SAMPLE_PEER, "fd00::1"])
        api.put_yaml(sample("simple_pool_adv_bgp.yaml"))
        self.wait_state(SAMPLE_CIDRS, [SAMPLE_PEER, "fd00::1"])
        api.delete_object("BGPPeer", "peer")
        api.delete_object("BGPPeer", "v6")
        self.wait_state([], [])
        self.assert_foreign_unchanged(before)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)

    def test_samples_oneshot(self):
        """ONESHOT in CRD mode with the samples: list once, reconcile, exit 0, no watches."""
        self.add_address(SAMPLE_PEER_NET)
        api = self.start_api(fixtures=[sample("bgppeer_with_bfdprofile.yaml"), sample("ipaddresspool_simple.yaml"),
                                       sample("bgpadvertisement_communities_localpref.yaml")])
        # the communities sample selects the pool "bgp-with-advertisement" by name
        api.put_object(pool("bgp-with-advertisement", ["192.168.20.0/24", "fd30::/64"]))
        api.put_object(bgppeer("v6", "fd00::3"))
        self.kube_oneshot(api, crds=True)
        self.assert_state(["192.168.20.0/24", "fd30::/64"], [SAMPLE_PEER, "fd00::3"])
        self.assert_oneshot_did_not_watch(api)

    def test_l2_only_pool_not_routed(self):
        """simple_pool_adv_l2: the pool has only an L2Advertisement, so it is not BGP-announced."""
        self.add_address(SAMPLE_PEER_NET)
        api = self.start_api(fixtures=[sample("bgppeer_simple.yaml"), sample("simple_pool_adv_l2.yaml")])
        self.kube_oneshot(api, crds=True)
        self.assert_state([], [SAMPLE_PEER])


class TestKubeCrdSelection(CrdBase):
    def test_pool_selection_by_name_and_label(self):
        """bgpadv_selectspool_by_label / _by_list: pools selected by label selector or by name (OR over
        advertisements); unselected pools are not routed; label and list changes converge."""
        api = self.start_api()
        api.put_object(bgppeer("ebgp-single-hop0", "10.0.0.1"), bgppeer("other", "10.0.0.3"),
                       pool("labelled", ["192.168.51.0/24"], labels={"test": "bgp-with-advertisement"}),
                       pool("test-addresspool", ["192.168.50.0/24", "fd50::/64"]),
                       pool("unselected", ["192.168.52.0/24"], labels={"test": "other"}))
        api.put_yaml(sample("bgpadv_selectspool_by_label.yaml"))
        agent = self.start_crd_agent(api)
        self.wait_state(["192.168.51.0/24"], ["10.0.0.1", "10.0.0.3"])
        # the label moves to another pool
        api.put_object(pool("unselected", ["192.168.52.0/24"], labels={"test": "bgp-with-advertisement"}))
        self.wait_state(["192.168.51.0/24", "192.168.52.0/24"], ["10.0.0.1", "10.0.0.3"])
        api.put_object(pool("labelled", ["192.168.51.0/24"], labels={"test": "x"}))
        self.wait_state(["192.168.52.0/24"], ["10.0.0.1", "10.0.0.3"])
        # by list (same advertisement name: the sample replaces the label one)
        # (the sample names spec.peers [ebgp-single-hop0]: the pool is announced to that peer only, so
        # it looks up a peer-set table with a route via that peer alone; issue 11)
        api.put_yaml(sample("bgpadv_selectspool_by_list.yaml"))
        self.wait_state([], ["10.0.0.1", "10.0.0.3"])
        self.wait_state(["192.168.50.0/24"], ["10.0.0.1"], table=30001)
        # both at once (a second advertisement): union
        api.put_object(advertisement("by-label", selectors=[{"matchLabels": {"test": "bgp-with-advertisement"}}]))
        self.wait_state(["192.168.52.0/24"], ["10.0.0.1", "10.0.0.3"])
        self.wait_state(["192.168.50.0/24"], ["10.0.0.1"], table=30001)
        # names and selectors in one advertisement are OR-ed; unknown names are ignored
        api.delete_object("BGPAdvertisement", "by-label")
        api.put_object(advertisement("advertisement", pools=["labelled", "no-such-pool"],
                                     selectors=[{"matchExpressions": [{"key": "test", "operator": "In",
                                                                       "values": ["other", "x"]}]}]))
        self.wait_state(["192.168.51.0/24"], ["10.0.0.1", "10.0.0.3"])
        self.assert_alive(agent)

    def test_advertisement_without_pools_or_selectors_selects_all(self):
        """MetalLB's rule (upstream selected nothing): no ipAddressPools and no selectors -> every pool,
        including pools created later; an empty list is the same as absent."""
        api = self.start_api()
        api.put_object(bgppeer("a", "10.0.0.1"), pool("p1", ["192.168.57.0/24"]),
                       pool("p2", ["192.168.60.0/24", "fd60::/64"]), advertisement("all"))
        agent = self.start_crd_agent(api)
        self.wait_state(["192.168.57.0/24", "192.168.60.0/24"], ["10.0.0.1"])
        api.put_object(pool("p3", ["192.168.62.10-192.168.62.13"]))
        self.wait_state(["192.168.57.0/24", "192.168.60.0/24", "192.168.62.10/31", "192.168.62.12/31"],
                        ["10.0.0.1"])
        api.put_object(advertisement("all", pools=[], selectors=[]))
        api.put_object(bgppeer("b", "fd00::1"))
        self.wait_state(["192.168.57.0/24", "192.168.60.0/24", "192.168.62.10/31", "192.168.62.12/31",
                         "fd60::/64"], ["10.0.0.1", "fd00::1"])
        self.assert_alive(agent)

    def test_peer_labels_enabled_address_weight(self):
        """metallb-nra/enabled=false excludes a peer, metallb-nra/address replaces its nexthop,
        metallb-nra/weight sets its nexthop weight; label edits converge both ways."""
        api = self.start_api()
        api.put_object(advertisement("all"), pool("p", ["192.168.57.0/24"]),
                       bgppeer("a", "10.0.0.1"),
                       bgppeer("off", "10.0.0.3", labels={"metallb-nra/enabled": "false"}),
                       # the spec address is not even on-link: only the label's address may be used
                       bgppeer("moved", "172.31.0.9", labels={"metallb-nra/address": "10.0.0.4"}))
        agent = self.start_crd_agent(api)
        self.wait_state(["192.168.57.0/24"], ["10.0.0.1", "10.0.0.4"])
        api.put_object(bgppeer("off", "10.0.0.3", labels={"metallb-nra/enabled": "true"}))
        self.wait_state(["192.168.57.0/24"], ["10.0.0.1", "10.0.0.3", "10.0.0.4"])
        for spelling in ("0", "no"):
            api.put_object(bgppeer("off", "10.0.0.3", labels={"metallb-nra/enabled": spelling}))
            self.wait_state(["192.168.57.0/24"], ["10.0.0.1", "10.0.0.4"])
            api.put_object(bgppeer("off", "10.0.0.3"))
            self.wait_state(["192.168.57.0/24"], ["10.0.0.1", "10.0.0.3", "10.0.0.4"])
        # weights: one peer at 7, one at 256, the third keeps PEER_WEIGHT (100)
        api.put_object(bgppeer("a", "10.0.0.1", labels={"metallb-nra/weight": "7"}),
                       bgppeer("moved", "172.31.0.9", labels={"metallb-nra/address": "10.0.0.4",
                                                              "metallb-nra/weight": "256"}))
        want = canon_route({"dst": "default", "protocol": "245", "family": 4,
                            "nexthops": [{"gateway": "10.0.0.1", "weight": 7}, {"gateway": "10.0.0.3", "weight": 100},
                                         {"gateway": "10.0.0.4", "weight": 256}]})
        wait_until(lambda: self.managed_routes() == [want], 10, what="weighted nexthops")
        self.assertEqual(self.managed_rules(), self.want_rules(["192.168.57.0/24"]))
        # an IPv6 peer whose address label points elsewhere; weights back to the default
        api.put_object(bgppeer("moved", "fd00::9", labels={"metallb-nra/address": "fd00::3"}))
        api.put_object(bgppeer("a", "10.0.0.1"))
        self.wait_state(["192.168.57.0/24"], ["10.0.0.1", "10.0.0.3", "fd00::3"])
        self.assert_alive(agent)

    def test_peer_node_selectors_follow_node_labels(self):
        """Peers' nodeSelectors (OR-ed) against this node's labels; label changes flip peers in and
        out; another node's labels do not matter; this node deleted -> no labels."""
        api = self.start_api()
        api.put_object(node("n1", {"rack": "a"}), node("n2", {"rack": "b", "zone": "z1"}))
        api.put_object(advertisement("all"), pool("p", ["192.168.57.0/24", "fd20::/64"]),
                       bgppeer("everywhere", "10.0.0.1"),
                       bgppeer("rack-b", "10.0.0.3", node_selectors=[{"matchLabels": {"rack": "b"}}]),
                       bgppeer("b-or-z1", "fd00::1", node_selectors=[
                           {"matchLabels": {"rack": "b"}},
                           {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1", "z2"]}]}]),
                       bgppeer("not-a", "10.0.0.4", node_selectors=[
                           {"matchExpressions": [{"key": "rack", "operator": "NotIn", "values": ["a"]}]}]))
        agent = self.start_crd_agent(api, node_name="n1")
        self.wait_state(["192.168.57.0/24"], ["10.0.0.1"])
        w = api.wait_for_request(path="/nodes", type="watch")
        self.assertEqual(w["params"].get("fieldSelector"), "metadata.name=n1")
        api.put_object(node("n1", {"rack": "a", "zone": "z2"}))
        self.wait_state(C_ALL, ["10.0.0.1", "fd00::1"])
        api.put_object(node("n1", {"rack": "b"}))
        self.wait_state(C_ALL, ["10.0.0.1", "10.0.0.3", "fd00::1", "10.0.0.4"])
        api.put_object(node("n2", {"rack": "a"}))  # not this node
        api.put_object(node("n1", {}))  # NotIn matches an absent label
        self.wait_state(["192.168.57.0/24"], ["10.0.0.1", "10.0.0.4"])
        api.put_object(node("n1", {"rack": "a"}))
        self.wait_state(["192.168.57.0/24"], ["10.0.0.1"])
        # a selector added to a peer takes it out; a selector change brings it back
        api.put_object(bgppeer("everywhere", "10.0.0.1", node_selectors=[{"matchLabels": {"rack": "c"}}]))
        api.put_object(bgppeer("rack-b", "10.0.0.3", node_selectors=[{"matchLabels": {"rack": "a"}}]))
        self.wait_state(["192.168.57.0/24"], ["10.0.0.3"])
        api.put_object(node("n1", {"rack": "b"}))
        self.wait_state(C_ALL, ["10.0.0.4", "fd00::1"])
        api.delete_object("Node", "n1")  # absent labels: only NotIn still matches
        self.wait_state(["192.168.57.0/24"], ["10.0.0.4"])
        api.put_object(node("n1", {"rack": "c"}))
        self.wait_state(["192.168.57.0/24"], ["10.0.0.1", "10.0.0.4"])
        self.assert_alive(agent)

    def test_ipv6_peers_and_pool(self):
        """IPv6 only: ECMP over two IPv6 peers, an IPv6 CIDR and an IPv6 range; IPv4 untouched."""
        api = self.start_api()
        api.put_object(advertisement("all"), bgppeer("p1", "fd00::1"), bgppeer("p3", "fd00::3"),
                       pool("v6", ["fd40::/64", "fd41::10 - fd41::1f", "fd42::1:0/112"]))
        agent = self.start_crd_agent(api)
        want = ["fd40::/64", "fd41::10/124", "fd42::1:0/112"]
        self.wait_state(want, ["fd00::1", "fd00::3"])
        self.assertEqual(self.ns.routes(20, 4), [])
        api.delete_object("BGPPeer", "p3")
        self.wait_state(want, ["fd00::1"])
        api.put_object(pool("v6", ["fd40::/64"]))
        self.wait_state(["fd40::/64"], ["fd00::1"])
        self.assert_alive(agent)

    def test_bgppeers_served_only_as_v1beta1(self):
        """Discovery: with bgppeers served only as v1beta1 (no v1beta2) the agent uses that version."""
        api = self.start_api()
        api.set_config(served_versions={"bgppeers": ["v1beta1"]})
        api.put_yaml(sample("bgppeer_simple.yaml"))
        self.add_address(SAMPLE_PEER_NET)
        api.put_object(advertisement("all"), pool("p", ["192.168.57.0/24"]))
        agent = self.start_crd_agent(api)
        self.wait_state(["192.168.57.0/24"], [SAMPLE_PEER])
        watches = api.requests_log(path="/bgppeers", type="watch")
        self.assertTrue(watches and all("/metallb.io/v1beta1/" in r["path"] for r in watches),
                        [r["path"] for r in watches])
        self.assert_alive(agent)



class TestKubeCrdUnnumbered(CrdBase):
    def test_interface_only_peer_skipped_with_log(self):
        api = self.start_api()
        api.put_object(advertisement("all"), pool("p", ["192.168.57.0/24", "fd20::/64"]),
                       bgppeer("unnumbered", None, interface="v0"), bgppeer("numbered", "fd00::1"))
        agent = self.start_crd_agent(api)
        self.wait_state(["fd20::/64"], ["fd00::1"])
        line = self.wait_agent_log(agent, "unnumbered")
        self.assertIn(line.get("level"), ("info", "warn", "verbose"), json.dumps(line))
        self.assert_alive(agent)


class TestKubeCrdCoalescing(CrdBase):
    def test_watch_events_of_one_round_derive_once(self):
        """100 pools created at once arrive as two chunks of 50 watch events: the caches take every
        event and the model is derived once per dispatch round (issue 10), not once per event."""
        api = self.start_api()
        api.add_fault(path="/ipaddresspools", type="watch", events_per_chunk=50)
        api.put_object(bgppeer("p", "10.0.0.1"), advertisement("all"), pool("p0", ["10.77.200.0/24"]))
        agent = self.start_crd_agent(api)
        self.wait_state(["10.77.200.0/24"], ["10.0.0.1"])
        n0 = len(agent.json_logs())
        pools = [pool(f"q{i}", [f"10.77.{i}.0/24"]) for i in range(100)]
        api.put_object(*pools)
        want = cidrs_of(["10.77.200.0/24"] + [f"10.77.{i}.0/24" for i in range(100)])

        def derived():
            lines = self.logs_matching(agent.json_logs()[n0:], "deriving the configuration")
            return lines if sum(int(l.get("changes", 0)) for l in lines) >= 100 else None

        lines = wait_until(derived, 20, what="100 changes derived")
        self.wait_state(want, ["10.0.0.1"])
        counts = [int(l.get("changes", 0)) for l in lines]
        self.assertEqual(sum(counts), 100, counts)
        self.assertLessEqual(len(lines), 4, f"one derivation per dispatch round expected, got {counts}")
        self.assert_alive(agent)

    def test_burst_is_held_but_a_change_after_a_quiet_spell_is_not(self):
        """Derivations under a sustained burst are spaced by the throttle (a multiple of the last one's
        cost, at most 50 ms; docs/performance.md); a single change after a quiet spell is derived in
        the round that brought it (held_us 0) and applied at once."""
        api = self.start_api()
        base = [pool(f"b{i}", [f"10.{80 + (i >> 8)}.{i & 255}.0/31"]) for i in range(2000)]
        api.put_object(bgppeer("p", "10.0.0.1"), advertisement("all"), *base)
        agent = self.start_crd_agent(api)
        wait_until(lambda: self.logs_matching(agent.json_logs(), "configuration changed", '"addresses": 2000'), 30,
                   what="first load")
        # A burst: 200 pools created one by one.
        n0 = len(agent.json_logs())
        for i in range(200):
            api.put_object(pool(f"r{i}", [f"10.99.{i}.0/31"]))

        def burst_derived():
            lines = self.logs_matching(agent.json_logs()[n0:], "deriving the configuration")
            return lines if sum(int(l.get("changes", 0)) for l in lines) >= 200 else None

        lines = wait_until(burst_derived, 30, what="200 changes derived")
        held = [int(l.get("held_us", 0)) for l in lines]
        self.assertEqual(sum(int(l.get("changes", 0)) for l in lines), 200)
        self.assertTrue(all(0 <= h <= 60_000 for h in held), f"a hold beyond the cap: {held}")
        figure(f"burst of 200 events against 2,000 pools: {len(lines)} derivations, "
               f"{sum(1 for h in held if h)} held (max {max(held) / 1e3:.1f} ms)")
        wait_until(lambda: any(r.get("src") == "10.99.199.0" for r in self.ns.table_rules(20)), 30,
                   what="the burst applied")
        # Quiet, then one change: derived in its own round, not held.
        time.sleep(0.5)
        n1 = len(agent.json_logs())
        t0 = time.monotonic()
        api.put_object(pool("single", ["10.98.0.0/31"]))
        wait_until(lambda: any(r.get("src") == "10.98.0.0" for r in self.ns.table_rules(20)), 10,
                   what="the single change applied")
        figure(f"a single change after a quiet spell: rule in the kernel after {(time.monotonic() - t0) * 1e3:.0f} ms "
               "(test client included)")
        line = self.logs_matching(agent.json_logs()[n1:], "deriving the configuration")
        self.assertEqual([int(l.get("changes", 0)) for l in line], [1], line)
        self.assertEqual(int(line[0].get("held_us", -1)), 0, line)
        self.assert_alive(agent)
