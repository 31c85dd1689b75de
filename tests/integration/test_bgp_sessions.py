"""frr-k8s BGPSessionState objects of this node (NEXTHOP_OBJECTS=auto, NODE_NAME
set): a session that is not established takes its peer out of the nexthop
group although the peer's neighbour entry is REACHABLE, Established puts it
back, the last peer is never removed; sessions of other nodes, or in another
namespace, are not read. The API not serving the resource, or RBAC refusing
it: the feature is off (logged once) and the neighbour entries decide as
before."""

from __future__ import annotations

import json
import time

from kube_harness import MNS, KubeTestCase, configmap, legacy_config, node, wait_until

P4 = ["10.0.0.1", "10.0.0.3", "10.0.0.4"]
P6 = ["fd00::1", "fd00::3"]
CIDRS = ["192.168.57.0/24", "fd20::/64"]
FRRNS = "frr-k8s-system"
NODE = "node1"
SERVED = {"served_versions": {"bgpsessionstates": ["v1beta1"]}}


def label_peer(p: str) -> str:
    """frr-k8s's form: IPv4 as is, IPv6 expanded with '-' for ':'."""
    if ":" not in p:
        return p
    import ipaddress
    return ipaddress.IPv6Address(p).exploded.replace(":", "-")


def session_state(peer: str, status: str, node_name: str = NODE, namespace: str = FRRNS, vrf: str = "") -> dict:
    lp = label_peer(peer)
    return {"apiVersion": "frrk8s.metallb.io/v1beta1", "kind": "BGPSessionState",
            "metadata": {"name": f"{node_name}-{lp.replace('.', '-')}", "namespace": namespace,
                         "labels": {"frrk8s.metallb.io/node": node_name, "frrk8s.metallb.io/peer": lp,
                                    "frrk8s.metallb.io/vrf": vrf}},
            "spec": {},
            "status": {"bgpStatus": status, "bfdStatus": "N/A", "node": node_name, "peer": lp, "vrf": vrf}}


class TestBgpSessions(KubeTestCase):
    TABLE = 20

    def nexthops(self) -> dict[int, dict]:
        out = self.ns.run(["ip", "-d", "-j", "nexthop", "show"]).stdout or "[]"
        return {o["id"]: o for o in json.loads(out)}

    def gateways(self, family: int) -> set[str]:
        rs = self.ns.routes(self.TABLE, family)
        if len(rs) != 1 or "nhid" not in rs[0]:
            return set()
        nhs = self.nexthops()
        g = nhs.get(rs[0]["nhid"], {})
        return {nhs[m["id"]]["gateway"] for m in g.get("group", []) if m["id"] in nhs}

    def reachable(self, *peers: str) -> None:
        for i, p in enumerate(peers):
            v6 = ["-6"] if ":" in p else []
            self.ns.ip(*v6, "neigh", "replace", p, "lladdr", "02:00:00:00:01:%02x" % i, "dev", "v0", "nud",
                       "reachable")

    def neigh_state(self, p: str) -> list[str]:
        out = json.loads(self.ns.ip("-j", "neigh", "show", p, "dev", "v0").stdout or "[]")
        return out[0].get("state", []) if out else []

    def start(self, api, **extra):
        api.put_object(node(NODE), configmap(legacy_config(P4 + P6, [("p", "bgp", CIDRS)])))
        self.reachable(*P4, *P6)
        a = self.start_kube_agent(api, node=NODE, NEXTHOP_OBJECTS="auto", **extra)
        wait_until(lambda: self.gateways(4) == set(P4) and self.gateways(6) == set(P6), 15,
                   what="routes on nexthop groups with every peer")
        return a

    def peer_log(self, a, peer: str, dead: bool, *words: str):
        return a.wait_log(lambda l: l.get("msg", "").startswith("peer dead" if dead else "peer alive")
                          and l.get("peer") == peer and all(w in l.get("reason", "") for w in words), 10,
                          what=f"peer {'dead' if dead else 'alive'} {peer} {words}")

    def test_session_state_decides_over_reachable_neighbour(self):
        api = self.start_api(config=SERVED)
        api.put_object(*[session_state(p, "Established") for p in P4 + P6])
        # Another node's session and one in another namespace: never read.
        api.put_object(session_state("10.0.0.1", "Active", node_name="node2"),
                       session_state("10.0.0.1", "Idle", namespace=MNS))
        a = self.start(api, FRRK8S_NAMESPACE=FRRNS)
        self.wait_agent_log(a, "following frr-k8s BGP session states", level="info")
        req = self.first_request(api, path="/bgpsessionstates", type="watch")
        self.assertIn(f"/namespaces/{FRRNS}/", req["path"])
        self.assertIn("frrk8s.metallb.io/node=node1", req["params"].get("labelSelector", ""), req)
        time.sleep(0.5)
        self.assertEqual(self.gateways(4), set(P4))

        # Not established: out, although the neighbour entry is REACHABLE.
        api.put_object(session_state("10.0.0.3", "Active"))
        wait_until(lambda: self.gateways(4) == {"10.0.0.1", "10.0.0.4"}, 5, what="10.0.0.3 out")
        self.peer_log(a, "10.0.0.3", True, "BGP session not established",
                      f"frr-k8s BGPSessionState {FRRNS}/node1-10-0-0-3: Active")
        self.assertIn("REACHABLE", self.neigh_state("10.0.0.3"))
        # IPv6 sessions come with frr-k8s's dashed peer form.
        api.put_object(session_state("fd00::3", "Connect"))
        wait_until(lambda: self.gateways(6) == {"fd00::1"}, 5, what="fd00::3 out")

        # Established again: back in.
        api.put_object(session_state("10.0.0.3", "Established"))
        wait_until(lambda: self.gateways(4) == set(P4), 5, what="10.0.0.3 back")
        self.peer_log(a, "10.0.0.3", False, "BGP session established")

        # Every session down, one after the other: the last live peer stays.
        api.put_object(session_state("10.0.0.1", "Idle"))
        wait_until(lambda: self.gateways(4) == {"10.0.0.3", "10.0.0.4"}, 5, what="10.0.0.1 out")
        api.put_object(session_state("10.0.0.3", "Idle"))
        wait_until(lambda: self.gateways(4) == {"10.0.0.4"}, 5, what="10.0.0.3 out")
        api.put_object(session_state("10.0.0.4", "Idle"))
        self.peer_log(a, "10.0.0.4", True, "BGP session not established")
        time.sleep(0.5)
        self.assertEqual(self.gateways(4), {"10.0.0.4"}, self.ns.routes(self.TABLE, 4))

        # The session objects gone (frr-k8s removed): the neighbour entries decide again.
        for p in P4:
            api.delete_object("BGPSessionState", "node1-" + p.replace(".", "-"), namespace=FRRNS)
        wait_until(lambda: self.gateways(4) == set(P4), 5, what="every IPv4 peer back (neighbours REACHABLE)")
        self.assert_alive(a)
        a.stop()

    def test_not_served_neighbours_decide(self):
        api = self.start_api()  # no frrk8s.metallb.io group
        a = self.start(api)
        self.wait_agent_log(a, "BGP session states not served", level="info")
        # Neighbour-based behaviour unchanged: FAILED takes the peer out.
        self.ns.ip("neigh", "replace", "10.0.0.3", "dev", "v0", "nud", "failed")
        wait_until(lambda: self.gateways(4) == {"10.0.0.1", "10.0.0.4"}, 5, what="10.0.0.3 out")
        self.reachable("10.0.0.3")
        wait_until(lambda: self.gateways(4) == set(P4), 5, what="10.0.0.3 back")
        self.assertEqual(len(self.logs_matching(a.json_logs(), "session states not served")), 1)
        self.assertFalse(api.requests_log("/bgpsessionstates"))
        self.assert_alive(a)
        a.stop()

    def test_forbidden_logged_once_neighbours_decide(self):
        api = self.start_api(config=SERVED)
        api.add_fault(path="/bgpsessionstates", status=403, message="bgpsessionstates is forbidden")
        api.put_object(session_state("10.0.0.3", "Active", namespace=MNS))
        a = self.start(api)  # the configuration is applied: never blocked by the sessions
        self.wait_agent_log(a, "BGP session states forbidden", level="warn")
        time.sleep(1.0)
        self.assertEqual(len(self.logs_matching(a.json_logs(), "session states forbidden")), 1)
        self.assertEqual(len(api.requests_log("/bgpsessionstates")), 1)  # no retry loop
        self.assertEqual(self.gateways(4), set(P4))  # the (unread) Active session says nothing
        self.ns.ip("neigh", "replace", "10.0.0.3", "dev", "v0", "nud", "failed")
        wait_until(lambda: self.gateways(4) == {"10.0.0.1", "10.0.0.4"}, 5, what="10.0.0.3 out")
        self.assert_alive(a)
        a.stop()

    def test_off_with_multipath_layout(self):
        api = self.start_api(config=SERVED)
        api.put_object(node(NODE), configmap(legacy_config(P4, [("p", "bgp", CIDRS[:1])])),
                       session_state("10.0.0.3", "Active", namespace=MNS))
        a = self.start_kube_agent(api, node=NODE)  # NEXTHOP_OBJECTS=off
        wait_until(lambda: len(self.ns.routes(self.TABLE, 4)) == 1
                   and len(self.ns.routes(self.TABLE, 4)[0].get("nexthops", [])) == 3, 15, what="multipath route")
        time.sleep(0.5)
        self.assertFalse(api.requests_log("frrk8s.metallb.io"))
        self.assertEqual(len(self.ns.routes(self.TABLE, 4)[0]["nexthops"]), 3)
        a.stop()
