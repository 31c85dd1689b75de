"""NEXTHOP_OBJECTS=auto: each route on a resilient group of one nexthop object
per peer; imposters in the agent's id range removed, objects outside it left
alone; today's multipath layout adopted make-before-break; a peer whose
neighbour entry turns FAILED taken out and put back, the last peer never;
CLEANANDEXIT removes the objects; NEXTHOP_OBJECTS=off touches none."""

from __future__ import annotations

import json
import time

from netns import NetnsTestCase, wait_until

P4 = ["10.0.0.1", "10.0.0.3", "10.0.0.4"]
P6 = ["fd00::1", "fd00::3"]
CIDRS = ["192.168.57.0/24", "fd20::/64"]
ON = {"NEXTHOP_OBJECTS": "auto"}


class TestNexthopObjects(NetnsTestCase):
    def nexthops(self) -> dict[int, dict]:
        out = self.ns.run(["ip", "-d", "-j", "nexthop", "show"]).stdout or "[]"
        return {o["id"]: o for o in json.loads(out)}

    def ours(self) -> dict[int, dict]:
        return {i: o for i, o in self.nexthops().items() if 4200 <= i <= 4999}

    def route(self, family: int) -> dict | None:
        rs = self.ns.routes(self.TABLE, family)
        return rs[0] if len(rs) == 1 else None

    def group_of(self, family: int) -> dict:
        r = self.route(family)
        self.assertIsNotNone(r, self.ns.routes(self.TABLE))
        self.assertIn("nhid", r, r)
        g = self.nexthops()[r["nhid"]]
        self.assertEqual(g.get("type"), "resilient", g)
        return g

    def gateways(self, g: dict) -> set[str]:
        nhs = self.nexthops()
        return {nhs[m["id"]]["gateway"] for m in g["group"]}

    def start(self, peers=P4 + P6, **extra):
        cfg = self.write_config(peers, [("p", "bgp", CIDRS)])
        a = self.ns.start_agent(self.base_env(cfg, **ON, **extra))
        wait_until(lambda: self.route(4) and "nhid" in self.route(4) and self.route(6) and "nhid" in self.route(6),
                   10, what="routes on nexthop groups")
        return a

    def test_group_made_with_weights_and_timers(self):
        self.oneshot(self.write_config(P4 + P6, [("p", "bgp", CIDRS)]), **ON)
        g4, g6 = self.group_of(4), self.group_of(6)
        self.assertEqual(self.gateways(g4), set(P4))
        self.assertEqual(self.gateways(g6), set(P6))
        res = g4.get("resilient_args") or g4
        self.assertEqual(res.get("buckets"), 128, g4)
        self.assertEqual(res.get("idle_timer"), 120, g4)
        for o in self.ours().values():
            self.assertEqual(str(o.get("protocol")), "245", o)
        # The rules are today's.
        self.assertEqual(len(self.ns.table_rules(self.TABLE)), 2)
        # Again: nothing to change (the same ids).
        before = self.ours()
        r = self.oneshot(self.write_config(P4 + P6, [("p", "bgp", CIDRS)]), **ON)
        self.assertEqual(self.ours(), before)
        self.assertNotIn("adding nexthop object", r.stderr)

    def test_adopts_multipath_make_before_break(self):
        self.oneshot(self.write_config(P4 + P6, [("p", "bgp", CIDRS)]))  # today's layout
        self.assertIn("nexthops", self.route(4))
        mon = self.ns.start_monitor(("--table", "20"))
        self.oneshot(self.write_config(P4 + P6, [("p", "bgp", CIDRS)]), **ON)
        self.group_of(4)
        time.sleep(0.3)
        if mon is not None:
            text = mon.read_text()
            # The route was replaced, never deleted.
            self.assertNotIn("del route default", text)
            self.assertIn("nexthop id", text)

    def test_imposters_removed_foreign_outside_range_untouched(self):
        ip = self.ns.ip
        ip("nexthop", "add", "id", "100", "via", "10.0.0.9", "dev", "v0")
        ip("nexthop", "add", "id", "4500", "via", "10.0.0.8", "dev", "v0")  # in our range, not ours
        ip("nexthop", "add", "id", "4501", "group", "4500")
        a = self.start()
        wait_until(lambda: 4500 not in self.nexthops() and 4501 not in self.nexthops(), 10,
                   what="imposters removed")
        self.assertIn(100, self.nexthops())
        # Planted while running: removed at once.
        ip("nexthop", "add", "id", "4600", "blackhole")
        wait_until(lambda: 4600 not in self.nexthops(), 5, what="imposter removed while running")
        # One of ours changed by hand: restored.
        g = self.group_of(4)
        ip("nexthop", "replace", "id", str(g["id"]), "group", str(g["group"][0]["id"]), "type", "resilient",
           "buckets", "128", "idle_timer", "120", "unbalanced_timer", "0", "proto", "245")
        wait_until(lambda: len(self.group_of(4)["group"]) == 3, 5, what="group restored")
        self.assertIn(100, self.nexthops())
        a.stop()

    def fail_peer(self, p: str) -> None:
        # The kernel announces FAILED only for an entry that was valid (a
        # fresh entry created FAILED is silent): reachable first, as a live
        # peer's entry is before it dies.
        mac = "02:00:00:00:00:%02x" % (int(p.split(".")[-1]) % 256)
        self.ns.ip("neigh", "replace", p, "lladdr", mac, "dev", "v0", "nud", "reachable")
        self.ns.ip("neigh", "replace", p, "dev", "v0", "nud", "failed")

    def test_failed_neighbour_taken_out_and_back_last_peer_kept(self):
        a = self.start()
        ip = self.ns.ip
        self.fail_peer("10.0.0.3")
        wait_until(lambda: self.gateways(self.group_of(4)) == {"10.0.0.1", "10.0.0.4"}, 5, what="peer out")
        a.wait_log(lambda l: l.get("msg", "").startswith("peer dead") and l.get("peer") == "10.0.0.3", 5)
        ip("neigh", "replace", "10.0.0.3", "lladdr", "02:00:00:00:00:03", "dev", "v0", "nud", "reachable")
        wait_until(lambda: self.gateways(self.group_of(4)) == set(P4), 5, what="peer back")
        # All dead: the last live peer stays, then all stay.
        for p in P4:
            self.fail_peer(p)
        time.sleep(0.5)
        self.assertEqual(len(self.gateways(self.group_of(4))), 1)
        self.assertTrue(self.route(4))
        # IPv6 is untouched by IPv4 neighbours.
        self.assertEqual(self.gateways(self.group_of(6)), set(P6))
        a.stop()

    def test_clean_and_exit_removes_objects(self):
        self.ns.ip("nexthop", "add", "id", "100", "via", "10.0.0.9", "dev", "v0")
        self.oneshot(self.write_config(P4 + P6, [("p", "bgp", CIDRS)]), **ON)
        self.assertTrue(self.ours())
        r = self.ns.run_agent({"CLEANANDEXIT": "1", **ON}, timeout=30)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.ours(), {})
        self.assertEqual(self.ns.routes(self.TABLE), [])
        self.assertIn(100, self.nexthops())

    def test_off_touches_no_nexthop_object(self):
        self.ns.ip("nexthop", "add", "id", "4500", "via", "10.0.0.8", "dev", "v0")
        self.oneshot(self.write_config(P4 + P6, [("p", "bgp", CIDRS)]), NEXTHOP_OBJECTS="off")
        self.assertIn("nexthops", self.route(4))
        self.assertIn(4500, self.nexthops())

    def test_settings_refused(self):
        for k, v in (("NEXTHOP_OBJECTS", "maybe"), ("NEXTHOP_IDS", "5-1"), ("NEXTHOP_BUCKETS", "1"),
                     ("NEXTHOP_IDLE_TIMER", "0")):
            r = self.oneshot(self.write_config(P4, [("p", "bgp", CIDRS)]), expect_rc=2, **{k: v})
            self.assertIn(k, r.stderr)
