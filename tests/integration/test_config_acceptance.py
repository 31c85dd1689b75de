"""Whole-configuration acceptance, as MetalLB's speaker does it: a legacy ConfigMap with any of
MetalLB v0.12's rejection cases, a deleted ConfigMap (or one without data.config) and an invalid
static file all keep the previous routing, with every problem logged at error with where it is and
counted in config_loads_total{result="error"}; a minimal file written for the Node.js agent (no
ASNs, no pool names) still loads."""

from __future__ import annotations

import signal

from kube_harness import MNS, KubeTestCase, advertisement, bgppeer, configmap, legacy_config, pool
from netns import NetnsTestCase, wait_until
from test_metrics import GET, metric

P = ["10.0.0.1", "fd00::1"]
C1 = ["192.168.57.0/24", "fd20::/64"]
PORT = 7475

PEER = "peers:\n- peer-address: 10.0.0.3\n  peer-asn: 64512\n  my-asn: 64512\n"
POOL = "address-pools:\n- name: p\n  protocol: bgp\n  addresses: [192.168.60.0/24]\n"

# (what, data.config, a word the problem's text holds, where the problem is)
V012_REJECTIONS = [
    ("unknown key", PEER + POOL + "  protocl: bgp\n", "unknown key 'protocl'", "line 9 column 3"),
    ("pool without protocol", PEER + "address-pools:\n- name: p\n  addresses: [192.168.60.0/24]\n",
     "no protocol", "address-pools[0]"),
    ("peer without peer-asn", "peers:\n- peer-address: 10.0.0.3\n  my-asn: 64512\n" + POOL, "no peer-asn",
     "peers[0]"),
    ("peer without my-asn", "peers:\n- peer-address: 10.0.0.3\n  peer-asn: 64512\n" + POOL, "no my-asn",
     "peers[0]"),
    ("invalid peer address", PEER.replace("10.0.0.3", "10.0.0.300") + POOL, "invalid peer-address",
     "line 2 column 17 (peers[0].peer-address)"),
    ("duplicate pool names", PEER + POOL + "- name: p\n  protocol: bgp\n  addresses: [192.168.62.0/24]\n",
     "duplicate definition of pool 'p'", "address-pools[1]"),
    ("overlapping pools", PEER + POOL + "- name: q\n  protocol: layer2\n  addresses: [192.168.60.128/25]\n",
     "overlaps address-pools[0].addresses[0]", "address-pools[1].addresses[0]"),
    ("invalid CIDR", PEER + POOL.replace("192.168.60.0/24", "192.168.60.0/33"), "invalid address",
     "address-pools[0].addresses[0]"),
    ("aggregation length longer than the prefix",
     PEER + POOL + "  bgp-advertisements:\n  - aggregation-length: 16\n", "shorter than the /24",
     "address-pools[0].bgp-advertisements[0]"),
    ("invalid node-selectors",
     PEER + "  node-selectors:\n  - match-expressions:\n    - {key: zone, operator: in, values: [a]}\n" + POOL,
     "unknown operator 'in'", "peers[0].node-selectors[0].match-expressions[0].operator"),
    ("bgp-advertisements on a layer2 pool",
     PEER + POOL.replace("bgp", "layer2") + "  bgp-advertisements:\n  - aggregation-length: 32\n",
     "layer2", "address-pools[0].bgp-advertisements"),
    ("hold time under 3 s", PEER + "  hold-time: 1s\n" + POOL, "must be 0 or >=3s", "peers[0].hold-time"),
]


def get_metrics(ns) -> str:
    r = ns.run(["python3", "-c", GET, str(PORT), "/metrics"], check=False)
    return r.stdout.partition("\n")[2] if r.returncode == 0 else ""


def errors_counted(ns) -> float:
    return metric(get_metrics(ns), "config_loads_total", result="error") or 0


class TestConfigMapAcceptance(KubeTestCase):
    def test_each_v012_rejection_keeps_the_previous_routing(self):
        """Each case refuses the whole ConfigMap: the previous routing stays (not a partial apply),
        the problem is logged at error with its line/column and path, and counted."""
        api = self.start_api()
        api.put_object(configmap(legacy_config(P, [("p", "bgp", C1)])))
        agent = self.start_kube_agent(api, METRICS_ADDRESS=f":{PORT}")
        self.wait_state(C1, P)
        wait_until(lambda: get_metrics(self.ns), 10, what="/metrics answering")
        for what, text, word, where in V012_REJECTIONS:
            with self.subTest(what):
                counted = errors_counted(self.ns)
                n = len(agent.json_logs())
                api.put_object(configmap(text))
                line = self.wait_agent_log(agent, "configuration problem", word, level="error", since=n)
                self.assertIn(where, line.get("where", ""), line)
                self.assertIn(f"{MNS}/config", line.get("source", ""), line)
                summary = self.wait_agent_log(agent, "invalid configuration", level="error", since=n)
                self.assertIn("keeping the last good one", summary.get("msg", ""), summary)
                wait_until(lambda: errors_counted(self.ns) >= counted + 1, 10, what=f"{what}: error counted")
                self.assert_state(C1, P)
                # back to a good configuration between cases (each case starts from a known one)
                api.put_object(configmap(legacy_config(P, [("p", "bgp", C1 + ["192.168.64.0/24"])])))
                self.wait_state(C1 + ["192.168.64.0/24"], P)
                api.put_object(configmap(legacy_config(P, [("p", "bgp", C1)])))
                self.wait_state(C1, P)
        self.assert_alive(agent)

    def test_every_problem_of_one_configmap_is_logged(self):
        api = self.start_api()
        api.put_object(configmap(legacy_config(P, [("p", "bgp", C1)])))
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        n = len(agent.json_logs())
        api.put_object(configmap("peers:\n- peer-address: 10.0.0.3\naddress-pools:\n- addresses: [x]\n"))
        self.wait_agent_log(agent, "configuration problem", "address-pools[0]", "no name", level="error", since=n)
        logs = self.logs_matching(agent.json_logs()[n:], "configuration problem")
        # no my-asn, no peer-asn; no name, no protocol, invalid address 'x'
        self.assertEqual(len(logs), 5, "\n".join(str(l) for l in logs))
        self.assert_state(C1, P)

    def test_deleted_configmap_keeps_routing(self):
        """Deleted, or without data.config: the last good configuration stays (as the speaker keeps
        announcing it), with a warning saying how to remove routing; an empty configuration removes it."""
        before = self.seed_foreign()
        api = self.start_api()
        api.put_object(configmap(legacy_config(P, [("p", "bgp", C1)])))
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        n = len(agent.json_logs())
        api.delete_object("ConfigMap", "config")
        warn = self.wait_agent_log(agent, "was deleted", "keeping the last good configuration", level="warn", since=n)
        self.assertIn("CLEANANDEXIT", warn["msg"])
        self.assertIn("peers: []", warn["msg"])
        self.assert_state(C1, P)
        # a restart-free imposter check: routing is still enforced, not merely left alone
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", "20", "priority", "20")
        self.wait_state(C1, P)
        api.put_object(configmap(legacy_config(["10.0.0.3"], [("p", "bgp", ["192.168.60.0/24"])])))
        self.wait_state(["192.168.60.0/24"], ["10.0.0.3"])
        n = len(agent.json_logs())
        api.put_object(configmap(None))  # data.config removed
        self.wait_agent_log(agent, "has no 'config' key", "keeping the last good configuration", level="warn",
                            since=n)
        self.assert_state(["192.168.60.0/24"], ["10.0.0.3"])
        # removing routing on purpose: an empty configuration
        api.put_object(configmap("peers: []\naddress-pools: []\n"))
        self.wait_state([], [])
        self.assert_foreign_unchanged(before)
        self.assert_alive(agent)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)

    def test_invalid_configmap_at_start_touches_nothing(self):
        """At start there is no last good configuration: an invalid ConfigMap changes nothing (the
        agent waits for a fix), ONESHOT exits 1 at once."""
        self.ns.ip("route", "add", "default", "via", "10.0.0.1", "table", "20", "proto", "245")
        snap = self.ns.full_snapshot()
        api = self.start_api()
        api.put_object(configmap(PEER + POOL + "  protocl: bgp\n"))
        r = self.kube_oneshot(api, expect_rc=1)
        self.assertIn("unknown key 'protocl'", r.stderr)
        self.assertEqual(self.ns.full_snapshot(), snap)
        agent = self.start_kube_agent(api)
        self.wait_agent_log(agent, "invalid configuration", "nothing is changed until it is fixed", level="error")
        self.assertEqual(self.ns.full_snapshot(), snap)
        api.put_object(configmap(legacy_config(P, [("p", "bgp", C1)])))
        self.wait_state(C1, P)


class TestCrdAcceptance(KubeTestCase):
    def test_invalid_object_set_keeps_the_previous_routing(self):
        """As MetalLB's config controller: overlapping pools (one of them selected by no advertisement),
        a peer with an invalid address, a pool without addresses each refuse the whole set; the previous
        routing stays, the problem is logged at error and counted; the fix applies. An advertisement
        naming a pool that does not exist is ignored, not a rejection."""
        api = self.start_api()
        api.put_object(bgppeer("a", "10.0.0.1"), pool("p", ["192.168.57.0/24"]), advertisement("ad", pools=["p"]))
        agent = self.start_kube_agent(api, crds=True, METRICS_ADDRESS=f":{PORT}")
        self.wait_state(["192.168.57.0/24"], ["10.0.0.1"])
        wait_until(lambda: get_metrics(self.ns), 10, what="/metrics answering")
        cases = [
            ("overlapping pools", lambda: api.put_object(pool("q", ["192.168.57.128/25"])),
             lambda: api.delete_object("IPAddressPool", "q"), "overlaps"),
            ("invalid peer address", lambda: api.put_object(bgppeer("b", "10.0.0.300")),
             lambda: api.delete_object("BGPPeer", "b"), "invalid spec.peerAddress"),
            ("pool without addresses", lambda: api.put_object(pool("q", [])),
             lambda: api.delete_object("IPAddressPool", "q"), "no spec.addresses"),
        ]
        for what, breaks, fixes, word in cases:
            with self.subTest(what):
                counted = errors_counted(self.ns)
                n = len(agent.json_logs())
                breaks()
                self.wait_agent_log(agent, word, level="error", since=n)
                wait_until(lambda: errors_counted(self.ns) >= counted + 1, 10, what=f"{what}: error counted")
                self.assert_state(["192.168.57.0/24"], ["10.0.0.1"])
                fixes()
        api.put_object(advertisement("ad", pools=["p", "no-such-pool"]), pool("r", ["192.168.60.0/24"]),
                       advertisement("ad2", pools=["r"]))
        self.wait_state(["192.168.57.0/24", "192.168.60.0/24"], ["10.0.0.1"])
        self.assert_alive(agent)


class TestStaticFileAcceptance(NetnsTestCase):
    def test_bad_static_file_keeps_routing(self):
        """An invalid address or range, a pool without protocol, an unknown or duplicate key: the
        whole file is refused, the last good configuration stays, each problem logged and counted."""
        cfg = self.write_config(P, [("p", "bgp", C1)])
        agent = self.ns.start_agent(self.base_env(cfg, METRICS_ADDRESS=f":{PORT}"))
        self.wait_state(C1, P)
        wait_until(lambda: get_metrics(self.ns), 10, what="/metrics answering")
        good = cfg.read_text()
        bad_files = [
            ("invalid address", good.replace('"192.168.57.0/24"', '"192.168.57.0/33"'), "192.168.57.0/33"),
            ("invalid range", good.replace('"192.168.57.0/24"', '"192.168.57.9-192.168.57.1"'), "is after its end"),
            ("pool without protocol", good.replace("  protocol: bgp\n", ""), "no protocol"),
            ("unknown key", good + "extra: 1\n", "unknown key 'extra'"),
            ("duplicate key", good + "peers: []\n", "duplicate"),
            ("a valid entry beside an invalid one", good.replace('"fd20::/64"', '"fd20::/64"\n  - "nonsense"'),
             "nonsense"),
        ]
        for what, text, word in bad_files:
            with self.subTest(what):
                counted = errors_counted(self.ns)
                n = len(agent.json_logs())
                cfg.write_text(text)
                wait_until(lambda n0=n, w=word: [l for l in agent.json_logs()[n0:]
                                                 if w in str(l) and l.get("level") == "error"],
                           10, what=f"{what}: error naming {word!r}")
                wait_until(lambda: errors_counted(self.ns) >= counted + 1, 10, what=f"{what}: error counted")
                self.assert_state(C1, P)
        cfg.write_text(good.replace("192.168.57.0/24", "192.168.58.0/24"))
        self.wait_state(["192.168.58.0/24", "fd20::/64"], P)
        self.assertEqual(agent.stop(), 0)

    def test_minimal_nodejs_era_file_still_loads(self):
        """Written for the Node.js agent: peer-address and addresses only (no ASNs, no names), plus the
        repository's legacy fixture."""
        cfg = self.ns.write("minimal.yaml",
                            "peers:\n- peer-address: 10.0.0.1\n- peer-address: fd00::1\n"
                            "address-pools:\n- protocol: bgp\n  addresses:\n  - 192.168.57.0/24\n  - fd20::/64\n")
        self.oneshot(cfg)
        self.assert_state(C1, P)
        # the same in the daemon: loaded, and a later minimal change applied
        agent = self.ns.start_agent(self.base_env(cfg))
        self.wait_state(C1, P)
        cfg.write_text("peers:\n- peer-address: 10.0.0.1\naddress-pools:\n- protocol: bgp\n"
                       "  addresses: [192.168.58.0/24]\n")
        self.wait_state(["192.168.58.0/24"], ["10.0.0.1"])
        self.assertEqual(agent.stop(), 0)
