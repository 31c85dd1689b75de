"""CLEANANDEXIT: every rule referencing the table and every route in it go, both
families; nothing else changes; exit 0."""

from __future__ import annotations

from netns import HERE, NetnsTestCase

P = ["10.0.0.1", "10.0.0.3", "fd00::1", "fd00::3"]
CIDRS = ["192.168.57.0/24", "fd20::/64"]


class TestCleanAndExit(NetnsTestCase):
    def populate(self, table: int = 20) -> None:
        t = str(table)
        ip = self.ns.ip
        ip("route", "replace", "default", "table", t, "proto", "245", "nexthop", "via", "10.0.0.1", "weight", "100",
           "nexthop", "via", "10.0.0.3", "weight", "100")
        ip("route", "add", "10.50.0.0/16", "via", "10.0.0.4", "table", t)
        ip("route", "add", "unreachable", "10.60.0.0/16", "table", t)
        ip("-6", "route", "add", "default", "via", "fd00::1", "table", t, "proto", "245")
        ip("-6", "route", "add", "fd50::/64", "via", "fd00::3", "table", t, "metric", "5")
        ip("rule", "add", "from", "192.168.57.0/24", "lookup", t, "priority", "20", "proto", "245")
        ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", t, "priority", "20")
        ip("rule", "add", "from", "10.9.0.0/16", "fwmark", "0x14/0xff", "lookup", t, "priority", "77")
        ip("rule", "add", "from", "10.9.0.0/16", "table", t, "prohibit", "priority", "78")
        ip("-6", "rule", "add", "from", "fd20::/64", "lookup", t, "priority", "20", "proto", "245")
        ip("-6", "rule", "add", "from", "fd21::/64", "iif", "v1", "lookup", t, "priority", "21")
        self.ns.run(["python3", str(HERE / "nlrule.py"), "192.168.57.0/24", t, "20"])  # exact duplicate
        self.ns.run(["python3", str(HERE / "nlrule.py"), "10.8.0.0/16", t, "20", "not"])

    def assert_clean(self, table: int = 20) -> None:
        self.assertEqual(self.ns.table_rules(table), [])
        self.assertEqual(self.ns.routes(table), [])

    def test_clean_env_without_config(self):
        before = self.seed_foreign()
        self.populate()
        r = self.ns.run_agent({"CLEANANDEXIT": "1"}, timeout=30)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_clean()
        self.assert_foreign_unchanged(before)

    def test_clean_flag_with_config(self):
        """The config is not needed and not applied: clean wins."""
        before = self.seed_foreign()
        self.populate()
        cfg = self.write_config(P, [("p", "bgp", CIDRS)])
        r = self.ns.run_agent({"METALLB_STATIC_FILE": str(cfg)}, ["--clean-and-exit"], timeout=30)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_clean()
        self.assert_foreign_unchanged(before)

    def test_clean_after_oneshot(self):
        before = self.seed_foreign()
        cfg = self.write_config(P, [("p", "bgp", CIDRS)])
        self.oneshot(cfg)
        self.assert_state(CIDRS, P)
        r = self.ns.run_agent({"CLEANANDEXIT": "true"}, timeout=30)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_clean()
        self.assert_foreign_unchanged(before)

    def test_clean_custom_table_leaves_table_20(self):
        self.populate(20)
        self.populate(1000)
        before = self.seed_foreign(table=1000)
        r = self.ns.run_agent({"CLEANANDEXIT": "1", "TABLE_WEIGHT": "1000"}, timeout=30)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_clean(1000)
        self.assertNotEqual(self.ns.table_rules(20), [])
        self.assert_foreign_unchanged(before, table=1000)

    def test_clean_when_already_clean(self):
        before = self.seed_foreign()
        r = self.ns.run_agent({"CLEANANDEXIT": "1"}, timeout=30)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_clean()
        self.assert_foreign_unchanged(before)
