"""Peer sets (issue 11) in CRD mode against the fake API: pools announced to some peers only
(BGPAdvertisement spec.peers) get a table of their own from PEER_SET_TABLES, with a route over
exactly those peers; pools announced to every peer stay in TABLE_WEIGHT. Moving a pool between
sets is make-before-break; CLEANANDEXIT empties every owned table; nothing outside them is touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from kube_harness import KubeTestCase, advertisement, bgppeer, node, pool, wait_until
from netns import MONITOR, agent_env, parse_json_lines

A, B = "10.0.0.1", "10.0.0.3"
PA, PB, PALL = "192.168.70.0/24", "192.168.74.0/24", "192.168.72.0/24"  # never adjacent: no aggregation
RANGE = range(30001, 30065)
OWNED = {20, *RANGE}


def objects(pa_peers=("isp-a",), pb_peers=("isp-b",)):
    return [bgppeer("isp-a", A), bgppeer("isp-b", B), pool("pa", [PA]), pool("pb", [PB]), pool("pall", [PALL]),
            advertisement("to-a", pools=["pa"], peers=list(pa_peers)),
            advertisement("to-b", pools=["pb"], peers=list(pb_peers)), advertisement("to-all", pools=["pall"])]


class TestPeerSets(KubeTestCase):
    def start(self, api, **extra):
        return self.start_kube_agent(api, crds=True, **extra)

    def owned_state(self) -> dict[int, tuple[list[str], list[str]]]:
        """table -> (rules, routes) for every owned table that holds something."""
        out: dict[int, tuple[list[str], list[str]]] = {}
        for t in sorted(OWNED):
            rules = self.managed_rules(t)
            routes = self.managed_routes(t) if (rules or t in (20, 30001, 30002, 30003)) else []
            if rules or routes:
                out[t] = (rules, routes)
        return out

    def want(self, tables: dict[int, tuple[list[str], list[str]]]) -> dict[int, tuple[list[str], list[str]]]:
        return {t: (self.want_rules(c, t), self.want_routes(p)) for t, (c, p) in tables.items()}

    def wait_tables(self, tables: dict[int, tuple[list[str], list[str]]], timeout: float = 10) -> None:
        want = self.want(tables)
        try:
            wait_until(lambda: self.owned_state() == want, timeout, what="peer-set tables")
        except AssertionError:
            self.assertEqual(self.owned_state(), want)
            raise

    def outside_snapshot(self) -> dict:
        """Rules and routes of every table the agent does not own."""
        rules = [r for r in self.ns.rules() if not (r.get("table", "").isdigit() and int(r["table"]) in OWNED)]
        routes = []
        for fam in (4, 6):
            for r in self.ns.ipj(f"-{fam}", "route", "show", "table", "all"):
                t = r.get("table", "main")
                if t.isdigit() and int(t) in OWNED:
                    continue
                r["family"] = fam
                routes.append(json.dumps(r, sort_keys=True))
        return {"rules": sorted(json.dumps(r, sort_keys=True) for r in rules), "routes": sorted(routes)}

    def test_two_advertisements_two_tables_and_a_move(self):
        """Two advertisements naming different peers: two tables from the range, each with its own route,
        the rules to the right one; the all-peers pool in table 20 as before. Moving pa to isp-b (then
        to all peers) is replayed event by event from the monitor: pa never lacks a rule whose table
        has a route."""
        self.seed_foreign()
        # Foreign objects right outside the range and in a table of the range's neighbourhood.
        self.ns.ip("rule", "add", "from", "192.168.70.0/24", "lookup", "30065", "priority", "20")
        self.ns.ip("route", "add", "default", "via", A, "table", "30000")
        before = self.outside_snapshot()
        api = self.start_api()
        api.put_object(*objects())
        agent = self.start(api)
        self.wait_tables({20: ([PALL], [A, B]), 30001: ([PA], [A]), 30002: ([PB], [B])})
        self.wait_agent_log(agent, "peer set table")

        # An imposter in an owned range table is removed; the route of ours there is restored.
        self.ns.ip("rule", "add", "from", "10.9.0.0/16", "lookup", "30001", "priority", "20")
        self.ns.ip("route", "replace", "default", "via", B, "table", "30001")
        self.wait_tables({20: ([PALL], [A, B]), 30001: ([PA], [A]), 30002: ([PB], [B])})

        mon = self.ns.out / "peer-set-monitor.out"
        with open(mon, "w") as f:
            proc = subprocess.Popen(["ip", "netns", "exec", self.ns.name, MONITOR, "--json"], env=agent_env({}),
                                    stdout=f, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.ns.extra.append(proc)
        wait_until(lambda: os.path.exists(mon), 5, what="monitor output")
        start = {"rules": {(PA, 30001), (PB, 30002), (PALL, 20)}, "routes": {20, 30001, 30002}}
        # pa to isp-b: it joins pb's set (one table left in the range).
        api.put_object(advertisement("to-a", pools=["pa"], peers=["isp-b"]))
        moved = self.wait_moved({20: ([PALL], [A, B])}, PA, PB, [B])
        # then to all peers: back to table 20.
        api.put_object(advertisement("to-a", pools=["pa"], peers=["isp-a", "isp-b"]))
        self.wait_tables({20: ([PA, PALL], [A, B]), moved: ([PB], [B])})
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        self.assert_never_unrouted(mon, start, PA)
        self.assert_alive(agent)
        self.assertEqual(self.outside_snapshot(), before, "objects outside the owned tables changed")

    def wait_moved(self, fixed, cidr, other, peers) -> int:
        """Waits until `cidr` and `other` share one range table via `peers`; returns that table."""
        def shared():
            st = self.owned_state()
            for t, (rules, routes) in st.items():
                if t != 20 and rules == self.want_rules([cidr, other], t) and routes == self.want_routes(peers):
                    rest = {k: v for k, v in st.items() if k != t}
                    return t if rest == self.want(fixed) else None
            return None
        wait_until(lambda: shared() is not None, 10, what=f"{cidr} in the table of {other}")
        return shared()

    def assert_never_unrouted(self, path, start, cidr) -> None:
        rules = set(start["rules"])
        routes = set(start["routes"])
        events = [e for e in parse_json_lines(path.read_text()) if e.get("event") in ("add", "del")]
        self.assertTrue(events, "the monitor saw the move")
        for i, e in enumerate(events):
            t = int(e["table"])
            if e["kind"] == "rule":
                key = (e.get("src"), t)
                (rules.add if e["event"] == "add" else rules.discard)(key)
            elif e.get("family") == "inet":
                (routes.add if e["event"] == "add" else routes.discard)(t)
            ok = any(src == cidr and table in routes for src, table in rules)
            self.assertTrue(ok, f"{cidr} without a routed rule after event {i}: {e.get('text')}\n"
                                f"rules {sorted(rules)} routes {sorted(routes)}")

    def test_peers_not_on_this_node(self):
        """An advertisement whose only peer does not apply to this node (the peer's nodeSelectors), and
        one whose own nodeSelectors do not match: their pools get no rule; the rest is applied."""
        api = self.start_api()
        api.put_object(node("n1", {"rack": "r1"}))
        objs = objects()
        objs[1] = bgppeer("isp-b", B, node_selectors=[{"matchLabels": {"rack": "r2"}}])
        api.put_object(*objs)
        agent = self.start(api, node="n1")
        # pb's only peer is not here (its advertisement does not count): no rule; "all peers" is now
        # isp-a alone, so pa joins table 20.
        self.wait_tables({20: ([PA, PALL], [A])})
        api.put_object(bgppeer("isp-b", B))
        self.wait_tables({20: ([PALL], [A, B]), 30001: ([PA], [A]), 30002: ([PB], [B])})
        sel = advertisement("to-a", pools=["pa"], peers=["isp-a"])
        sel["spec"]["nodeSelectors"] = [{"matchLabels": {"rack": "r2"}}]
        api.put_object(sel)
        self.wait_tables({20: ([PALL], [A, B]), 30002: ([PB], [B])})
        self.assert_alive(agent)

    def test_clean_and_exit_removes_every_table(self):
        """CLEANANDEXIT deletes every rule referencing an owned table and every route in one, and
        nothing else (also not a foreign table right outside the range)."""
        self.seed_foreign()
        self.ns.ip("rule", "add", "from", "192.168.70.0/24", "lookup", "30065", "priority", "20")
        self.ns.ip("route", "add", "default", "via", A, "table", "30065")
        before = self.outside_snapshot()
        api = self.start_api()
        api.put_object(*objects())
        self.kube_oneshot(api, crds=True)
        want = self.want({20: ([PALL], [A, B]), 30001: ([PA], [A]), 30002: ([PB], [B])})
        self.assertEqual(self.owned_state(), want)
        # A restart keeps pb's table (recovered from the kernel's rules) although pa's set is gone and
        # 30001 is free: without the recovery pb's set would move to the lowest free table.
        api.delete_object("BGPAdvertisement", "to-a")
        self.kube_oneshot(api, crds=True)
        self.assertEqual(self.owned_state(), {20: want[20], 30002: want[30002]})
        r = self.ns.run_agent({"CLEANANDEXIT": "1"})
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.owned_state(), {})
        self.assertEqual(self.outside_snapshot(), before, "objects outside the owned tables changed")

