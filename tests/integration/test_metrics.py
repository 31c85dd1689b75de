"""Metrics, probes and the dry run: METRICS_ADDRESS serves /metrics, /healthz and /readyz
from the agent's own loop (slow, malformed, huge and idle clients cannot disturb it), and
DRY_RUN prints what would change without touching anything."""

from __future__ import annotations

import json
import re

from netns import NetnsTestCase, wait_until

P = ["10.0.0.1", "fd00::1"]
C = ["192.168.57.0/24", "fd20::/64"]
PORT = 7474

# Runs inside the namespace: one GET, prints "STATUS\nBODY".
GET = r'''
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(f"GET {sys.argv[2]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
head, _, body = data.partition(b"\r\n\r\n")
print(head.split(b" ")[1].decode())
sys.stdout.write(body.decode())
'''

# Runs inside the namespace: opens N idle connections, some slow and malformed senders and a
# huge header, then checks that /healthz still answers; prints a JSON summary.
HOSTILE = r'''
import json, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
idle = []
for _ in range(n):
    c = socket.socket(); c.settimeout(5); c.connect(("127.0.0.1", port)); idle.append(c)
slow = socket.create_connection(("127.0.0.1", port)); slow.sendall(b"GET /metr")
bad = socket.create_connection(("127.0.0.1", port)); bad.sendall(b"\x00\x01garbage\r\n\r\n")
huge = socket.create_connection(("127.0.0.1", port)); huge.settimeout(5)
try:
    huge.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 200000 + b"\r\n\r\n")
except OSError:
    pass
def get(path):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\n\r\n".encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b: break
        data += b
    return data.split(b" ")[1].decode(), time.monotonic() - t0
bad_answer = bad.recv(4096).split(b" ")[1].decode()
try:
    huge_answer = huge.recv(4096).split(b" ")[1].decode()
except OSError:
    huge_answer = "closed"
status, took = get("/healthz")
print(json.dumps({"healthz": status, "seconds": took, "bad": bad_answer, "huge": huge_answer}))
'''


def metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = re.compile(rf"^metallb_nra_{name}(\{{[^}}]*\}})? (\S+)$", re.M)
    for m in pat.finditer(text):
        got = (m.group(1) or "{}")[1:-1]
        if all(f'{k}="{v}"' in got for k, v in labels.items()) or (not want and not m.group(1)):
            return float(m.group(2))
    return None


class TestMetrics(NetnsTestCase):
    def get(self, path: str) -> tuple[int, str]:
        r = self.ns.run(["python3", "-c", GET, str(PORT), path], check=False)
        if r.returncode != 0:
            return 0, r.stderr
        status, _, body = r.stdout.partition("\n")
        return int(status), body

    def start(self, cfg, **env):
        agent = self.ns.start_agent(self.base_env(cfg, METRICS_ADDRESS=f":{PORT}", **env))
        wait_until(lambda: self.get("/healthz")[0] == 200, 10, what="/healthz answering")
        return agent

    def test_probes_and_metrics_follow_the_agent(self):
        empty = self.ns.write("empty.yaml", "")
        agent = self.start(empty)
        self.assertEqual(self.get("/healthz"), (200, "ok\n"))
        status, body = self.get("/readyz")
        self.assertEqual(status, 503, "not ready before a configuration")
        self.assertIn("no configuration", body)
        cfg = self.write_config(P, [("p", "bgp", C)])
        agent_env = self.base_env(cfg, METRICS_ADDRESS=f":{PORT}")
        self.assertEqual(agent.stop(), 0)
        agent = self.ns.start_agent(agent_env)
        self.wait_state(C, P)
        wait_until(lambda: self.get("/readyz")[0] == 200, 10, what="/readyz after the first reconcile")
        status, text = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(metric(text, "build_info"), 1.0)
        self.assertGreaterEqual(metric(text, "reconciles_total", result="ok") or 0, 1)
        self.assertEqual(metric(text, "installed_rules", family="inet", table="20"), 1)
        self.assertEqual(metric(text, "installed_rules", family="inet6", table="20"), 1)
        self.assertEqual(metric(text, "desired_nexthops", family="inet", table="20"), 1)
        self.assertEqual(metric(text, "config_synced"), 1)
        self.assertIsNotNone(metric(text, "last_successful_reconcile_timestamp_seconds"))
        self.assertIn("# TYPE metallb_nra_reconciles_total counter", text)
        before = metric(text, "imposters_removed_total", kind="rule") or 0
        # An imposter: the counter moves.
        self.ns.ip("rule", "add", "from", "10.99.0.0/16", "lookup", "20", "priority", "20")
        self.wait_state(C, P)
        wait_until(lambda: (metric(self.get("/metrics")[1], "imposters_removed_total", kind="rule") or 0) >= before + 1,
                   10, what="imposters_removed_total moved")
        text = self.get("/metrics")[1]
        self.assertGreaterEqual(metric(text, "changes_total", kind="rule", reason="imposter") or 0, 1)
        self.assertEqual(self.get("/nope")[0], 404)
        self.assertEqual(agent.stop(), 0)

    def test_hostile_clients_do_not_disturb_the_loop(self):
        cfg = self.write_config(P, [("p", "bgp", C)])
        agent = self.start(cfg)
        self.wait_state(C, P)
        r = self.ns.run(["sh", "-c", f"ulimit -n 4096; exec python3 -c '{HOSTILE}' {PORT} 1000"], check=False, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(out["healthz"], "200", out)
        self.assertEqual(out["bad"], "400", out)
        self.assertIn(out["huge"], ("431", "closed"), out)
        # Imposters are still removed at once while all of that is open.
        self.ns.ip("rule", "add", "from", "10.98.0.0/16", "lookup", "20", "priority", "20")
        self.wait_state(C, P)
        self.assertTrue(agent.alive())
        self.assertEqual(agent.stop(), 0)

    def test_invalid_metrics_address_refused(self):
        for bad in ("7474", "localhost:7474", "1.2.3.4:99999", "[::1:7474"):
            r = self.ns.run_agent(self.base_env(None, METRICS_ADDRESS=bad))
            self.assertEqual(r.returncode, 2, r.describe())
            self.assertIn("METRICS_ADDRESS", r.stderr)

    def test_port_in_use_is_a_clear_failure(self):
        cfg = self.write_config(P, [("p", "bgp", C)])
        first = self.start(cfg)
        r = self.ns.run_agent(self.base_env(cfg, METRICS_ADDRESS=f":{PORT}"), timeout=20)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertIn("cannot serve metrics", r.stderr)
        self.assertEqual(first.stop(), 0)


class TestDryRun(NetnsTestCase):
    def dry(self, cfg, expect_rc: int, **env):
        r = self.ns.run_agent(self.base_env(cfg, DRY_RUN="1", **env))
        self.assertEqual(r.returncode, expect_rc, r.describe())
        return r

    def test_prints_pending_changes_and_touches_nothing(self):
        before = self.seed_foreign()
        cfg = self.write_config(P, [("p", "bgp", C)])
        snap = self.ns.full_snapshot()
        r = self.dry(cfg, 3)
        self.assertEqual(self.ns.full_snapshot(), snap, "a dry run touches nothing")
        lines = r.stdout.splitlines()
        self.assertIn("ip rule add priority 20 from 192.168.57.0/24 lookup 20 proto 245  # missing", lines)
        self.assertIn("ip -6 rule add priority 20 from fd20::/64 lookup 20 proto 245  # missing", lines)
        self.assertTrue(any(l.startswith("ip route replace default table 20 proto 245 via 10.0.0.1") for l in lines), lines)
        # The printed commands are what `ip` takes: running them gives the agent's state.
        for l in lines:
            self.ns.run(l.split("  #")[0], check=True)
        self.assert_state(C, P)
        self.assert_foreign_unchanged(before)
        r = self.dry(cfg, 0)
        self.assertEqual(r.stdout, "")
        # An imposter shows up as a delete with its reason, in JSON too.
        self.ns.ip("rule", "add", "from", "10.99.0.0/16", "lookup", "20", "priority", "20")
        r = self.dry(cfg, 3, LOG_FORMAT="json")
        objs = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([(o["op"], o["reason"]) for o in objs], [("delete rule", "imposter")])
        self.assertEqual(objs[0]["command"], "ip rule del priority 20 from 10.99.0.0/16 lookup 20 proto 0")
        self.ns.run(objs[0]["command"], check=True)
        self.dry(cfg, 0)

    def test_dry_run_clean(self):
        cfg = self.write_config(P, [("p", "bgp", C)])
        self.oneshot(cfg)
        snap = self.ns.full_snapshot()
        r = self.ns.run_agent(self.base_env(None, DRY_RUN="1", CLEANANDEXIT="1"))
        self.assertEqual(r.returncode, 3, r.describe())
        self.assertEqual(self.ns.full_snapshot(), snap)
        self.assertEqual(len(r.stdout.splitlines()), 4)  # two rules, two routes
        self.assertTrue(all(l.endswith("# clean and exit") for l in r.stdout.splitlines()))

    def test_invalid_config_is_a_failure(self):
        bad = self.ns.write("bad.yaml", "peers: [\n")
        r = self.dry(bad, 1)
        self.assertEqual(r.stdout, "")
