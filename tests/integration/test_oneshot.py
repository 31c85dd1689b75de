"""ONESHOT: both families, address math end-to-end, options, broken files, scale."""

from __future__ import annotations

import ipaddress
import json
import time

from netns import (HERE, REPO, NetnsTestCase, figure, kernel_change_lines, legacy_yaml,
                   parse_json_lines)

P4 = ["10.0.0.1", "10.0.0.3"]
P6 = ["fd00::1", "fd00::3"]
NH = ("nexthop", "via", "10.0.0.1", "weight", "100", "nexthop", "via", "10.0.0.3", "weight", "100")


class TestFamilies(NetnsTestCase):
    def test_ipv4_only(self):
        before = self.seed_foreign()
        cfg = self.write_config(P4, [("bgp", "bgp", ["192.168.57.0/24", "192.168.58.0/24"])])
        self.oneshot(cfg)
        self.assert_state(["192.168.57.0/24", "192.168.58.0/24"], P4)
        self.assert_foreign_unchanged(before)

    def test_ipv6_only(self):
        before = self.seed_foreign()
        cfg = self.write_config(P6, [("bgp6", "bgp", ["fd20::/64", "fd21::/48"])])
        self.oneshot(cfg)
        self.assert_state(["fd20::/64", "fd21::/48"], P6)
        self.assert_foreign_unchanged(before)

    def test_dual_stack(self):
        before = self.seed_foreign()
        cfg = self.write_config(P4 + P6, [("v4", "bgp", ["192.168.57.0/24"]), ("v6", "bgp", ["fd20::/64"])])
        self.oneshot(cfg)
        self.assert_state(["192.168.57.0/24", "fd20::/64"], P4 + P6)
        self.assert_foreign_unchanged(before)

    def test_single_peer_per_family_is_plain_via(self):
        cfg = self.write_config(["10.0.0.1", "fd00::1"], [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg)
        self.assert_state(["192.168.57.0/24", "fd20::/64"], ["10.0.0.1", "fd00::1"])
        r4 = self.ns.routes(20, 4)
        self.assertEqual(len(r4), 1)
        self.assertEqual(r4[0].get("gateway"), "10.0.0.1")
        self.assertNotIn("nexthops", r4[0])

    def test_three_peers_ecmp(self):
        peers = ["10.0.0.1", "10.0.0.3", "10.0.0.4"]
        cfg = self.write_config(peers, [("p", "bgp", ["192.168.57.0/24"])])
        self.oneshot(cfg)
        self.assert_state(["192.168.57.0/24"], peers)

    def test_family_without_peers_gets_nothing_and_is_cleaned(self):
        """IPv6 pool but only IPv4 peers: no IPv6 rules; stale IPv6 rule and route in the table go."""
        before = self.seed_foreign()
        self.ns.ip("-6", "rule", "add", "from", "fd20::/64", "lookup", "20", "priority", "20", "proto", "245")
        self.ns.ip("-6", "route", "add", "default", "via", "fd00::1", "table", "20", "proto", "245")
        cfg = self.write_config(P4, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg)
        self.assert_state(["192.168.57.0/24"], P4)
        self.assertEqual(self.ns.routes(20, 6), [])
        self.assert_foreign_unchanged(before)

    def test_no_peers_removes_everything(self):
        before = self.seed_foreign()
        self.ns.ip("route", "replace", "default", "table", "20", "proto", "245", *NH)
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "lookup", "20", "priority", "20", "proto", "245")
        self.ns.ip("-6", "rule", "add", "from", "fd20::/64", "lookup", "20", "priority", "20", "proto", "245")
        cfg = self.write_config([], [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg)
        self.assertEqual(self.ns.table_rules(20), [])
        self.assertEqual(self.ns.routes(20), [])
        self.assert_foreign_unchanged(before)

    def test_peers_without_pools_route_only(self):
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "lookup", "20", "priority", "20", "proto", "245")
        cfg = self.write_config(P4 + P6, [("l2", "layer2", ["192.168.57.0/24"])])
        self.oneshot(cfg)
        self.assert_state([], P4 + P6)

    def test_legacy_fixture_verbatim(self):
        """The legacy fixture as shipped (peers 172.29.0.1/.3 made on-link)."""
        self.ns.ip("addr", "add", "172.29.0.2/24", "dev", "v0")
        before = self.seed_foreign()
        fixture = REPO / "tests" / "fixtures" / "legacy" / "metallb-config.yaml"  # the upstream example
        cfg = self.ns.write("legacy.yaml", fixture.read_text())
        self.oneshot(cfg)
        cidrs = ["192.168.57.0/24"] + [str(n) for n in ipaddress.summarize_address_range(
            ipaddress.ip_address("192.168.58.10"), ipaddress.ip_address("192.168.58.30"))]
        self.assertEqual(len(cidrs), 7)
        self.assert_state(cidrs, ["172.29.0.1", "172.29.0.3"])
        self.assert_foreign_unchanged(before)

    def test_json_config(self):
        cfg = self.ns.write("config.json", json.dumps({
            "peers": [{"peer-address": p, "peer-asn": 64512, "my-asn": 64512} for p in P4],
            "address-pools": [{"name": "j", "protocol": "bgp", "addresses": ["192.168.57.0/24"]}]}))
        self.oneshot(cfg)
        self.assert_state(["192.168.57.0/24"], P4)


class TestAddressMath(NetnsTestCase):
    def test_ranges_aggregation_invalid_entries(self):
        good = [
            "192.168.58.10-192.168.58.30",       # range -> 6 CIDRs
            "192.168.57.77/24",                  # host bits masked
            "10.1.1.1",                          # bare address -> /32
            "10.2.0.0 - 10.2.0.255",             # spaces around '-'
            "10.3.0.0/24", "10.3.0.128/25",      # overlap
            "10.4.0.0/25", "10.4.0.128/25",      # adjacent
            "10.5.0.0/24", "10.5.0.0/24",        # duplicate
            "10.6.0.0-10.6.1.255",               # range that is one CIDR
            "10.7.0.0/24", "10.7.1.0/24", "10.7.2.0/24", "10.7.3.0/24",  # multi-level aggregation
            "fd20::-fd20::ff",                   # IPv6 range
            "fd30::1/64",                        # IPv6 host bits
            "fd40::/65", "fd40:0:0:0:8000::/65",  # IPv6 adjacent
            "fd50::5",                           # bare IPv6
        ]
        bad = ["foo-bar-baz", "invalid/24", "10.8.0.0/33", "10.9.0.10-10.9.0.1", "10.0.0.1-fd00::1",
               "300.1.1.1", "fd60::/129"]
        # Any invalid entry refuses the whole file: exit 1, nothing touched, every one reported.
        snap = self.ns.full_snapshot()
        bad_cfg = self.write_config(P4 + P6, [
            ("dedicated-bgp", "bgp", good[:10] + bad[:4]),
            ("more", "bgp", good[10:] + bad[4:]),
            ("l2", "layer2", ["172.29.3.0-172.29.3.255", "10.99.0.0/16"]),
        ], name="bad.yaml")
        r = self.oneshot(bad_cfg, expect_rc=1)
        self.assertEqual(self.ns.full_snapshot(), snap, "a refused file must not touch the kernel")
        for b in bad:
            self.assertIn(b, r.stderr, f"invalid entry {b!r} not reported in the log")
        cfg = self.write_config(P4 + P6, [
            ("dedicated-bgp", "bgp", good[:10]),
            ("more", "bgp", good[10:]),
            ("l2", "layer2", ["172.29.3.0-172.29.3.255", "10.99.0.0/16"]),
        ])
        self.oneshot(cfg)
        want = ["192.168.58.10/31", "192.168.58.12/30", "192.168.58.16/29", "192.168.58.24/30",
                "192.168.58.28/31", "192.168.58.30/32", "192.168.57.0/24", "10.1.1.1/32", "10.2.0.0/24",
                "10.3.0.0/24", "10.4.0.0/24", "10.5.0.0/24", "10.6.0.0/23", "10.7.0.0/22",
                "fd20::/120", "fd30::/64", "fd40::/64", "fd50::5/128"]
        # cross-check the hand-written expectation with Python's own math
        nets = []
        for g in good:
            if "-" in g:
                a, b = (x.strip() for x in g.split("-"))
                nets += ipaddress.summarize_address_range(ipaddress.ip_address(a), ipaddress.ip_address(b))
            else:
                nets.append(ipaddress.ip_network(g, strict=False))
        py = sorted(str(n) for fam in (4, 6) for n in ipaddress.collapse_addresses(
            [x for x in nets if x.version == fam]))
        self.assertEqual(sorted(want), py)
        self.assert_state(want, P4 + P6)

    def test_whole_space_and_host_entries(self):
        cfg = self.write_config(P4 + P6, [("p", "bgp", ["10.11.12.13/32", "fd00:1::1/128", "0.0.0.0-0.0.0.255"])])
        self.oneshot(cfg)
        self.assert_state(["10.11.12.13/32", "fd00:1::1/128", "0.0.0.0/24"], P4 + P6)


class TestOptions(NetnsTestCase):
    def test_fwmark_env(self):
        before = self.seed_foreign()
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "lookup", "20", "priority", "20", "proto", "245")
        cfg = self.write_config(P4 + P6, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg, RULE_FWMARK="0x14")
        self.assert_state(["192.168.57.0/24", "fd20::/64"], P4 + P6, fwmark="0x14")
        self.assert_foreign_unchanged(before)

    def test_fwmark_mask_flag(self):
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "fwmark", "0x14", "lookup", "20", "priority", "20",
                   "proto", "245")
        cfg = self.write_config(P4 + P6, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg, args=["--rule-fwmark", "0x14/0xff"])
        self.assert_state(["192.168.57.0/24", "fd20::/64"], P4 + P6, fwmark="0x14/0xff")

    def test_custom_table_ge_256(self):
        t = 1000
        before = self.seed_foreign(table=t)
        # what looks like managed state in table 20 is foreign now and must stay
        self.ns.ip("route", "replace", "default", "table", "20", "proto", "245", *NH)
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "lookup", "20", "priority", "20", "proto", "245")
        before = self.ns.foreign_snapshot(t)
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "1.1.1.1", "lookup", str(t), "priority", "20")
        self.ns.ip("route", "add", "10.50.0.0/16", "via", "10.0.0.1", "table", str(t))
        cfg = self.write_config(P4 + P6, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg, TABLE_WEIGHT=str(t))
        self.assert_state(["192.168.57.0/24", "fd20::/64"], P4 + P6, table=t)
        self.assert_foreign_unchanged(before, table=t)

    def test_custom_table_flag_wins_over_env(self):
        cfg = self.write_config(P4, [("p", "bgp", ["192.168.57.0/24"])])
        self.oneshot(cfg, args=["--table", "40"], TABLE_WEIGHT="30")
        self.assert_state(["192.168.57.0/24"], P4, table=40)
        self.assertEqual(self.ns.table_rules(30), [])
        self.assertEqual(self.ns.routes(30), [])
        self.assertEqual(self.ns.table_rules(20), [])

    def test_priority_and_weight(self):
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "lookup", "20", "priority", "20", "proto", "245")
        self.ns.ip("route", "replace", "default", "table", "20", "proto", "245", *NH)
        cfg = self.write_config(P4 + P6, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg, RULE_PRIORITY="100", PEER_WEIGHT="7")
        self.assert_state(["192.168.57.0/24", "fd20::/64"], P4 + P6, priority=100, weight=7)

    def test_priority_and_weight_limits_flags(self):
        cfg = self.write_config(P4 + P6, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg, args=["--rule-priority", "4294967295", "--peer-weight", "256"])
        self.assert_state(["192.168.57.0/24", "fd20::/64"], P4 + P6, priority=4294967295, weight=256)

    def test_destination_cidr(self):
        self.ns.ip("route", "replace", "default", "table", "20", "proto", "245", *NH)
        cfg = self.write_config(P4 + P6, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg, DESTINATION="10.200.0.0/16")
        self.assert_state(["192.168.57.0/24", "fd20::/64"], P4 + P6, dst4="10.200.0.0/16", dst6="default")

    def test_destination_both_families_flag(self):
        cfg = self.write_config(P4 + P6, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        self.oneshot(cfg, args=["--destination", "fd99::/48,10.200.0.0/16"], DESTINATION="default")
        self.assert_state(["192.168.57.0/24", "fd20::/64"], P4 + P6, dst4="10.200.0.0/16", dst6="fd99::/48")

    def test_destination_default_explicit(self):
        cfg = self.write_config(P4, [("p", "bgp", ["192.168.57.0/24"])])
        self.oneshot(cfg, DESTINATION="default")
        self.assert_state(["192.168.57.0/24"], P4)

    def test_static_file_flag(self):
        cfg = self.write_config(P4, [("p", "bgp", ["192.168.57.0/24"])])
        other = self.write_config(P4, [("p", "bgp", ["192.168.99.0/24"])], name="other.yaml")
        r = self.ns.run_agent({"ONESHOT": "1", "METALLB_STATIC_FILE": str(other)}, ["--static-file", str(cfg)])
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_state(["192.168.57.0/24"], P4)

    def test_oneshot_flag(self):
        cfg = self.write_config(P4, [("p", "bgp", ["192.168.57.0/24"])])
        r = self.ns.run_agent({"METALLB_STATIC_FILE": str(cfg)}, ["--oneshot"], timeout=30)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_state(["192.168.57.0/24"], P4)

    def test_boolean_spellings(self):
        cfg = self.write_config(P4, [("p", "bgp", ["192.168.57.0/24"])])
        for v in ("1", "true", "yes", "on", "TRUE"):
            with self.subTest(ONESHOT=v):
                r = self.ns.run_agent({"ONESHOT": v, "METALLB_STATIC_FILE": str(cfg)}, timeout=30)
                self.assertEqual(r.returncode, 0, r.describe())
        self.assert_state(["192.168.57.0/24"], P4)


class TestIdempotenceAndLogs(NetnsTestCase):
    def test_second_run_changes_nothing(self):
        cfg = self.write_config(P4 + P6, [("p", "bgp", ["192.168.57.0/24", "fd20::/64"])])
        r1 = self.oneshot(cfg, LOG_LEVEL="info")
        snap = self.ns.full_snapshot()
        self.assertTrue(kernel_change_lines(r1.json_logs()), "first run logged no kernel change at info")
        r2 = self.oneshot(cfg, LOG_LEVEL="info")
        self.assertEqual(self.ns.full_snapshot(), snap)
        self.assertEqual(kernel_change_lines(r2.json_logs()), [], "second run logged kernel changes")

    def test_json_log_lines(self):
        cfg = self.write_config(P4, [("p", "bgp", ["192.168.57.0/24"])])
        r = self.oneshot(cfg, LOG_LEVEL="info")
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertTrue(lines)
        for l in lines:
            obj = json.loads(l)  # every line is one JSON object
            for k in ("time", "level", "msg"):
                self.assertIn(k, obj, l)
        levels = {json.loads(l)["level"] for l in lines}
        self.assertIn("info", levels)
        changes = kernel_change_lines(parse_json_lines(r.stderr))
        self.assertTrue(any("192.168.57.0/24" in json.dumps(c) for c in changes),
                        "rule addition not logged with the object text")

    def test_text_log_format(self):
        cfg = self.write_config(P4, [("p", "bgp", ["192.168.57.0/24"])])
        r = self.oneshot(cfg, LOG_FORMAT="text", LOG_LEVEL="info")
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertTrue(lines)
        self.assertFalse(any(l.lstrip().startswith("{") for l in lines), "text format printed JSON")
        self.assertIn("192.168.57.0/24", r.stderr)

    def test_log_level_error_is_quiet(self):
        cfg = self.write_config(P4, [("p", "bgp", ["192.168.57.0/24"])])
        r = self.oneshot(cfg, LOG_LEVEL="error")
        for obj in r.json_logs():
            self.assertEqual(obj.get("level"), "error", obj)
        self.assert_state(["192.168.57.0/24"], P4)


class TestBrokenFiles(NetnsTestCase):
    def prepare(self):
        self.seed_foreign()
        # some state (desired-ish and imposters) that must survive the failed run
        self.ns.ip("route", "replace", "default", "table", "20", "proto", "245", *NH)
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "lookup", "20", "priority", "20", "proto", "245")
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", "20", "priority", "20")
        self.ns.ip("route", "add", "10.50.0.0/16", "via", "10.0.0.1", "table", "20")
        return self.ns.full_snapshot()

    def test_invalid_yaml_exit_1_nothing_touched(self):
        snap = self.prepare()
        cfg = self.ns.write("bad.yaml", "peers:\n- peer-address: 10.0.0.1\n  peer-asn: [64512\naddress-pools: {\n")
        r = self.oneshot(cfg, expect_rc=1)
        self.assertEqual(self.ns.full_snapshot(), snap)
        self.assertRegex(r.stderr, r"(?i)line", "YAML error without a line number")

    def test_missing_file_exit_1_nothing_touched(self):
        snap = self.prepare()
        r = self.oneshot(self.ns.dir / "does-not-exist.yaml", expect_rc=1)
        self.assertEqual(self.ns.full_snapshot(), snap)
        self.assertIn("does-not-exist.yaml", r.stderr)

    def test_unreadable_directory_exit_1_nothing_touched(self):
        snap = self.prepare()
        r = self.oneshot(self.ns.dir, expect_rc=1)  # a directory is not a readable file
        self.assertEqual(self.ns.full_snapshot(), snap)
        self.assertTrue(r.stderr)

    def test_wrong_shape_yaml_is_refused(self):
        """`peers: 12` is valid YAML of the wrong shape: read as "no peers" it would wipe routing, so the
        file is refused like invalid YAML (exit 1, nothing touched) and the error names line and column."""
        snap = self.prepare()
        cfg = self.ns.write("shape.yaml", "peers: 12\naddress-pools: hello\n")
        r = self.oneshot(cfg, expect_rc=1)
        self.assertRegex(r.stderr, r"(?i)line 1\b.*col.*peers must be a list", "wrong-shape peers not reported")
        cfg2 = self.ns.write("shape2.yaml", "peers: []\naddress-pools: hello\n")
        r = self.oneshot(cfg2, expect_rc=1)
        self.assertRegex(r.stderr, r"(?i)line 2\b.*col.*address-pools must be a list", "wrong-shape pools not reported")
        self.assertEqual(self.ns.full_snapshot(), snap, "a refused file must not touch the kernel")


class TestScale(NetnsTestCase):
    def test_oneshot_1000_cidrs(self):
        # 1,000 non-adjacent /24s (every other one), so nothing aggregates
        cidrs = [f"10.{i // 128}.{(i % 128) * 2}.0/24" for i in range(1000)]
        cfg = self.write_config(P4 + P6, [("big", "bgp", cidrs)])
        before = self.seed_foreign()
        r = self.oneshot(cfg, LOG_LEVEL="warn")
        self.assert_state(cidrs, P4 + P6)
        self.assert_foreign_unchanged(before)
        r2 = self.oneshot(cfg, LOG_LEVEL="warn")
        # change a tenth of the config
        cidrs2 = cidrs[100:] + [f"172.16.{i * 2}.0/24" for i in range(100)]
        cfg2 = self.write_config(P4 + P6, [("big", "bgp", cidrs2)], name="big2.yaml")
        r3 = self.oneshot(cfg2, LOG_LEVEL="warn")
        self.assert_state(cidrs2, P4 + P6)
        r4 = self.ns.run_agent({"CLEANANDEXIT": "1", "LOG_LEVEL": "warn"})
        self.assertEqual(r4.returncode, 0, r4.describe())
        self.assertEqual(self.ns.table_rules(20), [])
        self.assert_foreign_unchanged(before)
        figure(f"ONESHOT 1,000 CIDRs: from empty {r.elapsed * 1000:.0f} ms, no-op rerun {r2.elapsed * 1000:.0f} ms, "
               f"100 replaced {r3.elapsed * 1000:.0f} ms, CLEANANDEXIT {r4.elapsed * 1000:.0f} ms "
               f"(wall clock incl. `ip netns exec`)")
        print(f"\n  ONESHOT 1,000 CIDRs: {r.elapsed * 1000:.0f} ms (no-op rerun {r2.elapsed * 1000:.0f} ms)",
              end=" ", flush=True)
