"""How peers become nexthops (docs/behaviour.md): a peer on a connected subnet is its own nexthop; a
multihop peer is reached through the gateways of the main table's route to it, followed as that route
changes; a peer that cannot be reached (no route, a VRF that does not exist) never affects the others,
is warned about once per change of state, and is added as soon as a route to it appears. CRD mode
against the fake API server, and the static file."""

from __future__ import annotations

import time

from kube_harness import KubeTestCase, advertisement, bgppeer, pool
from netns import NetnsTestCase, figure_value, wait_until
from test_metrics import GET

METRICS_PORT = 7475

C_ALL = ["192.168.57.0/24", "fd20::/64"]
C4 = ["192.168.57.0/24"]
FOLLOW = 5.0  # a gateway change in main is followed within this (the agent reacts to the route event)


def unusable_warnings(agent, peer: str) -> list[dict]:
    return [l for l in agent.json_logs()
            if l.get("level") == "warn" and l.get("msg", "").startswith("peer cannot be a nexthop")
            and l.get("peer") == peer]


class PeerPathChecks:
    """The scenarios, over whichever source start() uses."""

    def multihop_beside_on_link(self):
        before = self.seed_foreign()["rules"]
        self.ns.ip("route", "add", "10.9.0.0/16", "via", "10.0.0.3")
        self.ns.ip("-6", "route", "add", "fd09::/32", "via", "fd00::3")
        agent = self.start({"onlink": "10.0.0.1", "multihop": "10.9.9.9", "onlink6": "fd00::1",
                            "multihop6": "fd09::9"}, C_ALL)
        # The multihop peers through their gateways, beside the on-link ones.
        self.wait_state(C_ALL, ["10.0.0.1", "10.0.0.3", "fd00::1", "fd00::3"])
        # The gateway route changes in main: followed.
        self.ns.ip("route", "replace", "10.9.0.0/16", "via", "10.0.0.4")
        self.ns.ip("-6", "route", "replace", "fd09::/32", "via", "fd00::4")
        t0 = time.monotonic()
        wait_until(lambda: self.state_is(C_ALL, ["10.0.0.1", "10.0.0.4", "fd00::1", "fd00::4"]), FOLLOW,
                   interval=0.01, what="the new gateways followed")
        figure_value("gateway change in main followed (ms, incl. polling)", (time.monotonic() - t0) * 1000)
        # The multihop peer's route goes: it is left out, the on-link peers keep routing.
        self.ns.ip("route", "del", "10.9.0.0/16")
        self.wait_state(C_ALL, ["10.0.0.1", "fd00::1", "fd00::4"], timeout=FOLLOW)
        self.assertEqual(len(unusable_warnings(agent, "10.9.9.9")), 1, agent.stderr())
        self.assertNotIn("kernel refused a change", agent.stderr())
        self.assertEqual(self.ns.foreign_snapshot(self.TABLE)["rules"], before)
        self.assertTrue(agent.alive())
        self.assertEqual(agent.stop(), 0)

    def metric_lines(self, name: str) -> list[str]:
        r = self.ns.run(["python3", "-c", GET, str(METRICS_PORT), "/metrics"], check=False)
        return [l for l in r.stdout.splitlines() if l.startswith("metallb_nra_" + name + "{")]

    def unreachable_beside_good(self, extra_peers: dict | None = None):
        before = self.seed_foreign()["rules"]
        peers = {"good": "10.0.0.1", "lost": "10.99.9.9"}
        peers.update(extra_peers or {})
        # Periodic ticks every second: the warning must still come once, not every tick.
        agent = self.start(peers, C4, MAX_RECONCILE_WAIT="1000", METRICS_ADDRESS=f":{METRICS_PORT}")
        self.wait_state(C4, ["10.0.0.1"])
        w = agent.wait_log(lambda l: l.get("msg", "").startswith("peer cannot be a nexthop")
                           and l.get("peer") == "10.99.9.9", what="the unreachable peer named at warn")
        self.assertEqual(w["level"], "warn")
        self.assertEqual(w["reason"], "no route to 10.99.9.9 in table main")
        time.sleep(3)
        self.assert_state(C4, ["10.0.0.1"])
        self.assertEqual(len(unusable_warnings(agent, "10.99.9.9")), 1, "warned once per change of state")
        self.assertNotIn("kernel refused a change", agent.stderr())
        self.assertNotIn("reconcile failed", agent.stderr())
        unusable = self.metric_lines("peer_unusable")
        self.assertIn('metallb_nra_peer_unusable{peer="10.99.9.9",vrf="",reason="no_route"} 1', unusable)
        self.assertIn('metallb_nra_peers_skipped{reason="unusable"} ' + str(len(peers) - 1),
                      self.metric_lines("peers_skipped"))
        # A route to it appears: added through that route's gateway.
        self.ns.ip("route", "add", "10.99.0.0/16", "via", "10.0.0.4")
        self.wait_state(C4, ["10.0.0.1", "10.0.0.4"], timeout=FOLLOW)
        agent.wait_log(lambda l: l.get("msg") == "peer can be a nexthop again" and l.get("peer") == "10.99.9.9",
                       what="the peer logged as usable again")
        self.assertFalse([l for l in self.metric_lines("peer_unusable") if "10.99.9.9" in l])
        # An unreachable route to it: left out again, warned again (a new state).
        self.ns.ip("route", "replace", "unreachable", "10.99.0.0/16")
        self.wait_state(C4, ["10.0.0.1"], timeout=FOLLOW)
        ws = unusable_warnings(agent, "10.99.9.9")
        self.assertEqual(len(ws), 2)
        self.assertIn("unreachable route", ws[-1]["reason"])
        self.assertEqual(self.ns.foreign_snapshot(self.TABLE)["rules"], before)
        self.assertTrue(agent.alive())
        return agent


class TestPeerPathsCrd(KubeTestCase, PeerPathChecks):
    def start(self, peers: dict, cidrs, **extra):
        self.api = self.start_api()
        objs = []
        for name, addr in peers.items():
            spec = {}
            if isinstance(addr, tuple):
                addr, spec = addr
            objs.append(bgppeer(name, addr, **spec))
        self.api.put_object(*objs, pool("p", cidrs), advertisement("all"))
        return self.start_kube_agent(self.api, crds=True, **extra)

    def test_multihop_peer_beside_on_link_peer(self):
        self.multihop_beside_on_link()

    def test_unreachable_peer_beside_good_one(self):
        # A peer in a VRF that does not exist is unusable too, with its reason.
        agent = self.unreachable_beside_good({"red": ("10.0.0.3", {"vrf": "red"})})
        ws = unusable_warnings(agent, "10.0.0.3")
        self.assertEqual(len(ws), 1)
        self.assertEqual(ws[0]["vrf"], "red")
        self.assertEqual(ws[0]["reason"], "VRF 'red' does not exist on this node")
        self.assertEqual(agent.stop(), 0)


class TestPeerPathsStaticFile(NetnsTestCase, PeerPathChecks):
    def start(self, peers: dict, cidrs, **extra):
        cfg = self.write_config(list(peers.values()), [("p", "bgp", cidrs)])
        return self.ns.start_agent(self.base_env(cfg, **extra))

    def test_multihop_peer_beside_on_link_peer(self):
        self.multihop_beside_on_link()

    def test_unreachable_peer_beside_good_one(self):
        agent = self.unreachable_beside_good()
        self.assertEqual(agent.stop(), 0)
