"""nra-monitor (build/nra-monitor): the live trace of rule and route events.

In a namespace: who caused an event (an `ip` process, the running agent's
imposter correction, the kernel), table selection (--table, TABLE_WEIGHT,
--all), IPv6, the text and JSON forms, stopping (--count, --duration,
SIGINT/SIGTERM: exit 0), lost events (ENOBUFS: a warning, tracing goes on),
--dump, and invalid arguments (exit 2). Behaviour only: every wait is a poll
with a generous limit, never a timing assertion.

An `ip` that exits right after its ack may be gone before the monitor looks it
up, so exact attribution is checked with `ip -batch -` whose stdin stays open
until the event was printed; a plain short-lived `ip` only has to be reported.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from netns import MONITOR, OUR_PROTO, SANITIZED, SANITIZER_PATTERNS, NetnsTestCase, agent_env, \
    parse_json_lines, sh, wait_until

P = ["10.0.0.1", "fd00::1"]
C = ["192.168.57.0/24", "fd20::/64"]
WAIT = 30.0  # upper bound of every wait (sanitized builds on a loaded machine); never a figure


class Monitor:
    """nra-monitor running inside the test's namespace; stdout and stderr go to files in the
    namespace's out/ directory (printed with a failing test's diagnostics)."""

    def __init__(self, ns, args, env: dict[str, str] | None = None):
        n = len(ns.extra)
        self.out_path = ns.out / f"monitor{n}.out"
        self.err_path = ns.out / f"monitor{n}.stderr.out"
        self.argv = ["ip", "netns", "exec", ns.name, MONITOR, *args]
        self.env = dict(env or {})
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(self.argv, env=agent_env(self.env), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True)
        ns.extra.append(self.proc)  # killed by Netns.close() if still running

    @property
    def pid(self) -> int:
        return self.proc.pid  # `ip netns exec` execs the monitor

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def lines(self) -> list[dict]:
        return parse_json_lines(self.stdout())

    def events(self) -> list[dict]:
        return [l for l in self.lines() if l.get("event") in ("add", "del")]

    def describe(self) -> str:
        rc = self.proc.poll()
        return (f"$ {' '.join(self.argv)}  (env {self.env})\n-> {'running' if rc is None else f'rc={rc}'}\n"
                f"--- stdout (tail) ---\n{self.stdout()[-3000:]}--- stderr ---\n{self.stderr()[-3000:]}")

    def _alive_or_fail(self, what: str) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"monitor exited while waiting for {what}\n{self.describe()}")

    def wait_ready(self) -> None:
        """Subscribed: it says so on stderr once its event socket has joined the groups."""
        def ready():
            if "nra-monitor: tracing" in self.stderr():
                return True
            self._alive_or_fail("its start")
            return False
        wait_until(ready, WAIT, interval=0.01, what="monitor subscribed")

    def wait_event(self, pred, what: str) -> dict:
        def find():
            for e in self.events():
                if pred(e):
                    return e
            self._alive_or_fail(what)
            return None
        try:
            return wait_until(find, WAIT, interval=0.01, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.describe()}") from None

    def wait_exit(self, timeout: float = WAIT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"monitor did not exit by itself within {timeout}s\n{self.describe()}") from None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
        return self.wait_exit()


class IpBatch:
    """`ip -n NS [-6] -batch -`: one process and one netlink socket, alive until close()."""

    def __init__(self, ns, family: int = 4):
        self.err_path = ns.out / f"ipbatch{len(ns.extra)}.err"
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(["ip", f"-{family}", "-n", ns.name, "-batch", "-"],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err,
                                         text=True, start_new_session=True)
        ns.extra.append(self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, *lines: str) -> None:
        for l in lines:
            self.proc.stdin.write(l + "\n")
        self.proc.stdin.flush()

    def close(self) -> int:
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        rc = self.proc.wait(WAIT)
        assert rc == 0, f"ip -batch failed (rc={rc}): {self.err_path.read_text()}"
        return rc


def is_rule(e: dict, src: str, event: str = "add") -> bool:
    return e.get("kind") == "rule" and e.get("event") == event and e.get("src") == src


def is_route(e: dict, dst: str, table: int | None = None, event: str = "add") -> bool:
    return (e.get("kind") == "route" and e.get("event") == event and e.get("dst") == dst
            and (table is None or e.get("table") == table))


class MonitorBase(NetnsTestCase):
    def setUp(self):
        super().setUp()
        if not MONITOR or not os.access(MONITOR, os.X_OK):
            self.skipTest("no monitor binary (run.py --monitor)")
        self.monitors: list[Monitor] = []
        self.addCleanup(self._stop_monitors)  # runs before the namespace goes

    def monitor(self, *args: str, env: dict[str, str] | None = None, ready: bool = True) -> Monitor:
        m = Monitor(self.ns, args, env)
        self.monitors.append(m)
        if ready:
            m.wait_ready()
        return m

    def _stop_monitors(self) -> None:
        """Stop every monitor still running with SIGTERM (a clean exit, so LeakSanitizer runs), then
        fail on sanitizer reports in any monitor's stderr."""
        bad = []
        for m in self.monitors:
            if m.proc.poll() is None:
                os.kill(m.pid, signal.SIGTERM)
                try:
                    rc = m.proc.wait(WAIT)
                except subprocess.TimeoutExpired:
                    bad.append(f"did not stop on SIGTERM: {' '.join(m.argv)}")
                    continue
                if rc != 0:
                    bad.append(f"exit {rc} on SIGTERM: {' '.join(m.argv)}\n{m.stderr()[-3000:]}")
            if SANITIZED:
                for line in m.stderr().splitlines():
                    if any(p.search(line) for p in SANITIZER_PATTERNS):
                        bad.append(f"{' '.join(m.argv)}: {line}")
        if bad:
            self.fail("monitor problems:\n" + "\n".join(bad))

    def run_monitor(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """A monitor that must finish by itself (bad arguments, --help, --dump)."""
        return subprocess.run(["ip", "netns", "exec", self.ns.name, MONITOR, *args], env=agent_env(env or {}),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=WAIT)


class TestAttribution(MonitorBase):
    def test_ip_batch_rule_is_attributed_to_ip(self):
        mon = self.monitor("--json", "--count", "3")
        b = IpBatch(self.ns)
        b.send("rule add from 192.168.99.0/24 lookup 20 priority 30 proto static")
        ev = mon.wait_event(lambda e: is_rule(e, "192.168.99.0/24"), "the ip -batch rule")
        b.close()  # only now: the sender had to stay alive until the event was printed
        self.assertEqual(ev["sender"], {"port": ev["sender"]["port"], "pid": b.pid, "comm": "ip"}, ev)
        self.assertGreater(ev["sender"]["port"], 0)
        self.assertEqual((ev["family"], ev["table"], ev["priority"], ev["action"]), ("inet", 20, 30, "lookup"))
        self.assertEqual((ev["protocol"], ev["proto"], ev["ours"]), (4, "static", False))
        self.assertEqual(ev["text"], "priority 30 from 192.168.99.0/24 lookup 20 proto static")
        self.assertRegex(ev["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

        # A plain, short-lived `ip`: reported; who it was is best effort (it may be gone already).
        self.ns.ip("rule", "add", "from", "192.168.98.0/24", "lookup", "20", "priority", "31")
        ev = mon.wait_event(lambda e: is_rule(e, "192.168.98.0/24"), "the short-lived ip's rule")
        sender = ev["sender"]
        self.assertIsInstance(sender, dict, f"a request from a process is not the kernel's: {ev}")
        self.assertGreater(sender["port"], 0)
        if sender["comm"] is not None and not sender.get("guess"):
            self.assertEqual(sender["comm"], "ip", ev)

        self.ns.ip("rule", "del", "from", "192.168.98.0/24", "lookup", "20", "priority", "31")
        self.assertEqual(mon.wait_exit(), 0, mon.describe())  # --count 3 reached
        evs = mon.events()
        self.assertEqual([(e["event"], e["src"]) for e in evs],
                         [("add", "192.168.99.0/24"), ("add", "192.168.98.0/24"), ("del", "192.168.98.0/24")])

    def test_text_line(self):
        mon = self.monitor("--count", "2")
        b = IpBatch(self.ns)
        b.send("rule add from 192.168.99.0/24 lookup 20 priority 30 proto static",
               "route add 10.99.0.0/16 via 10.0.0.1 table 20")
        wait_until(lambda: len(mon.stdout().splitlines()) >= 2, WAIT, what="two text lines")
        b.close()
        self.assertEqual(mon.wait_exit(), 0, mon.describe())
        lines = mon.stdout().splitlines()
        ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
        self.assertRegex(lines[0], rf"^{ts} add rule priority 30 from 192\.168\.99\.0/24 lookup 20 proto static"
                                   rf"  by ip\[{b.pid}\]$")
        self.assertRegex(lines[1], rf"^{ts} add route 10\.99\.0\.0/16 table 20 proto boot via 10\.0\.0\.1"
                                   rf"  by ip\[{b.pid}\]$")
        self.assertEqual(len(lines), 2, mon.describe())

    def test_agent_correction_is_attributed_to_the_agent(self):
        mon = self.monitor("--json")
        text = self.monitor()
        cfg = self.write_config(P, [("p", "bgp", C)])
        agent = self.ns.start_agent(self.base_env(cfg))
        self.wait_state(C, P)
        by_agent = {"pid": agent.proc.pid, "comm": "metallb-nra"}

        def from_agent(e: dict) -> bool:
            s = e.get("sender")
            return isinstance(s, dict) and {k: s.get(k) for k in by_agent} == by_agent and not s.get("guess")

        # The agent's own rules and routes: proto 245, made by the agent.
        for what, pred in (("IPv4 rule", lambda e: is_rule(e, "192.168.57.0/24")),
                           ("IPv6 rule", lambda e: is_rule(e, "fd20::/64")),
                           ("IPv4 route", lambda e: is_route(e, "0.0.0.0/0", 20) and e["family"] == "inet"),
                           ("IPv6 route", lambda e: is_route(e, "::/0", 20) and e["family"] == "inet6")):
            ev = mon.wait_event(pred, f"the agent's {what}")
            self.assertTrue(from_agent(ev), f"{what} not attributed to the agent (pid {agent.proc.pid}): {ev}")
            self.assertEqual((ev["protocol"], ev["proto"], ev["ours"]), (int(OUR_PROTO), OUR_PROTO, True), ev)
            self.assertIn(f"proto {OUR_PROTO}", ev["text"])

        # An imposter from `ip`, removed by the agent: the deletion is the agent's.
        b = IpBatch(self.ns)
        b.send("rule add from 192.168.57.0/24 to 8.8.8.8 lookup 20 priority 20")
        imposter = lambda e: e.get("kind") == "rule" and e.get("dst") == "8.8.8.8/32"  # noqa: E731
        added = mon.wait_event(lambda e: imposter(e) and e["event"] == "add", "the imposter added")
        self.assertEqual((added["sender"]["pid"], added["sender"]["comm"]), (b.pid, "ip"), added)
        removed = mon.wait_event(lambda e: imposter(e) and e["event"] == "del", "the imposter removed")
        b.close()
        self.assertTrue(from_agent(removed), f"deletion not attributed to the agent (pid {agent.proc.pid}): "
                                             f"{removed}")
        line = (f" del rule priority 20 from 192.168.57.0/24 to 8.8.8.8/32 lookup 20 proto unspec"
                f"  by metallb-nra[{agent.proc.pid}]")
        wait_until(lambda: any(l.endswith(line) for l in text.stdout().splitlines()), WAIT,
                   what=f"text line ending {line!r}")
        self.wait_state(C, P)
        self.assertEqual(agent.stop(), 0)

    def test_kernel_is_the_sender_of_its_own_changes(self):
        mon = self.monitor("--json", "--all")
        self.ns.ip("-6", "route", "add", "fd55::/64", "via", "fd00::1", "table", "20")
        mon.wait_event(lambda e: is_route(e, "fd55::/64", 20), "the IPv6 route added")
        self.ns.ip("link", "set", "v0", "down")  # IPv6 removes routes through v0 itself
        ev = mon.wait_event(lambda e: is_route(e, "fd55::/64", 20, event="del"), "the IPv6 route removed")
        self.assertEqual(ev["sender"], "kernel", ev)


class TestSelection(MonitorBase):
    OPS = ["rule add from 192.168.70.0/24 lookup 30 priority 40",
           "route add 10.70.0.0/16 via 10.0.0.1 table 30",
           "rule add from 192.168.71.0/24 lookup 20 priority 41",
           "route add 10.71.0.0/16 via 10.0.0.1 table 20"]

    def run_ops(self, ops) -> None:
        sh(["ip", "-n", self.ns.name, "-batch", "-"], input="\n".join(ops) + "\n")

    def tables_seen(self, mon: Monitor, last) -> set[int]:
        """Events arrive in order on one socket: once the last op is printed, everything
        before it that passes the filter has been printed too."""
        mon.wait_event(last, "the last operation")
        return {e["table"] for e in mon.events()}

    def test_table_filter_excludes_other_tables(self):
        mon = self.monitor("--json", "--table", "20")
        self.run_ops(self.OPS)
        self.assertEqual(self.tables_seen(mon, lambda e: is_route(e, "10.71.0.0/16")), {20}, mon.describe())
        self.assertTrue(any(is_rule(e, "192.168.71.0/24") for e in mon.events()), mon.describe())

    def test_default_table_is_table_weight(self):
        mon = self.monitor("--json", env={"TABLE_WEIGHT": "30"})
        self.run_ops(self.OPS[2:] + self.OPS[:2])  # table 30 last
        self.assertEqual(self.tables_seen(mon, lambda e: is_route(e, "10.70.0.0/16")), {30}, mon.describe())

    def test_table_flag_beats_table_weight(self):
        mon = self.monitor("--json", "--table=20", env={"TABLE_WEIGHT": "30"})
        self.run_ops(self.OPS)
        self.assertEqual(self.tables_seen(mon, lambda e: is_route(e, "10.71.0.0/16")), {20}, mon.describe())

    def test_default_without_table_weight_is_20(self):
        mon = self.monitor("--json")
        self.run_ops(self.OPS)
        self.assertEqual(self.tables_seen(mon, lambda e: is_route(e, "10.71.0.0/16")), {20}, mon.describe())

    def test_all_tables(self):
        mon = self.monitor("--json", "--all")
        self.run_ops(self.OPS)
        self.assertLessEqual({20, 30}, self.tables_seen(mon, lambda e: is_route(e, "10.71.0.0/16")),
                             mon.describe())
        for pred in (lambda e: is_rule(e, "192.168.70.0/24"), lambda e: is_route(e, "10.70.0.0/16", 30),
                     lambda e: is_rule(e, "192.168.71.0/24")):
            self.assertTrue(any(pred(e) for e in mon.events()), mon.describe())

    def test_ipv6_events(self):
        mon = self.monitor("--json")
        b = IpBatch(self.ns, family=6)
        b.send("rule add from fd70::/64 lookup 20 priority 50",
               "route add fd71::/64 via fd00::1 table 20")
        rule = mon.wait_event(lambda e: is_rule(e, "fd70::/64"), "the IPv6 rule")
        route = mon.wait_event(lambda e: is_route(e, "fd71::/64", 20), "the IPv6 route")
        b.send("rule del from fd70::/64 lookup 20 priority 50")
        gone = mon.wait_event(lambda e: is_rule(e, "fd70::/64", event="del"), "the IPv6 rule deleted")
        b.close()
        for ev in (rule, route, gone):
            self.assertEqual(ev["family"], "inet6", ev)
            self.assertEqual((ev["sender"]["pid"], ev["sender"]["comm"]), (b.pid, "ip"), ev)
        self.assertEqual(rule["text"], "-6 priority 50 from fd70::/64 lookup 20 proto unspec")
        self.assertEqual([nh["gateway"] for nh in route["nexthops"]], ["fd00::1"], route)
        self.assertEqual(route["proto"], "boot")


class TestStopping(MonitorBase):
    def test_count(self):
        mon = self.monitor("--json", "--count", "2")
        sh(["ip", "-n", self.ns.name, "-batch", "-"],
           input="".join(f"rule add from 192.168.{90 + i}.0/24 lookup 20 priority {60 + i}\n" for i in range(4)))
        self.assertEqual(mon.wait_exit(), 0, mon.describe())
        self.assertEqual([e["src"] for e in mon.events()], ["192.168.90.0/24", "192.168.91.0/24"], mon.describe())
        self.assertEqual(len(mon.stdout().splitlines()), 2, mon.describe())

    def test_duration(self):
        for args in (["--duration", "0.5"], ["--duration=1", "--all"]):
            with self.subTest(args=args):
                mon = self.monitor("--json", *args, ready=False)
                self.assertEqual(mon.wait_exit(), 0, mon.describe())
                self.assertIn("nra-monitor: tracing", mon.stderr())

    def test_signals(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig.name):
                mon = self.monitor("--json")
                self.assertEqual(mon.stop(sig), 0, mon.describe())

    def test_lost_events_warn_and_tracing_goes_on(self):
        """A stopped monitor's socket overflows (ENOBUFS): a warning, then the trace continues."""
        mon = self.monitor("--json", "--table", "21")  # the flood goes to table 20: decoded, not printed
        os.kill(mon.pid, signal.SIGSTOP)
        try:
            n = 0
            while not self._drops() and n < 16:
                sh(["ip", "-n", self.ns.name, "-batch", "-"], timeout=300,
                   input="".join(f"route add 10.{n}.{i >> 8}.{i & 255}/32 dev lo table 20\n" for i in range(50000)))
                n += 1
            self.assertTrue(self._drops(), "the stopped monitor's socket never overflowed")
        finally:
            os.kill(mon.pid, signal.SIGCONT)
        warn = wait_until(lambda: [l for l in mon.lines() if l.get("event") == "warning"] or mon.proc.poll(),
                          120, what="the overrun warning")
        self.assertIsInstance(warn, list, mon.describe())
        self.assertIn("ENOBUFS", warn[0]["text"])
        self.assertIsNone(mon.proc.poll(), "the monitor stopped after the overrun\n" + mon.describe())
        self.ns.ip("rule", "add", "from", "192.168.21.0/24", "lookup", "21", "priority", "21")
        mon.wait_event(lambda e: is_rule(e, "192.168.21.0/24"), "an event after the overrun")
        self.assertEqual(mon.stop(), 0, mon.describe())

    def _drops(self) -> bool:
        """A NETLINK_ROUTE socket in the namespace (only the monitor's subscribes) dropped messages."""
        text = self.ns.run(["cat", "/proc/net/netlink"]).stdout.splitlines()
        cols = text[0].split()
        rows = [dict(zip(cols, l.split())) for l in text[1:]]
        return any(r.get("Eth") == "0" and int(r.get("Drops", "0")) > 0 for r in rows)


class TestCommandLine(MonitorBase):
    def test_invalid_arguments_exit_2(self):
        cases = [
            (["--table", "abc"], {}, "abc"), (["--table", "0"], {}, "0"), (["--table", "4294967296"], {}, "4294967296"),
            (["--table", "-1"], {}, "-1"), (["--table"], {}, "--table"), (["--table="], {}, "--table"),
            (["--count", "0"], {}, "0"), (["--count", "x"], {}, "x"), (["--count", "-1"], {}, "-1"),
            (["--count"], {}, "--count"), (["--duration", "0"], {}, "0"), (["--duration", "-1"], {}, "-1"),
            (["--duration", "abc"], {}, "abc"), (["--duration", "nan"], {}, "nan"), (["--duration", "1e3"], {}, "1e3"),
            (["--bogus"], {}, "--bogus"), (["extra"], {}, "extra"), (["--all", "--table", "20"], {}, "--all"),
            (["--dump", "--all"], {}, "--all"), (["--dump", "--count", "1"], {}, "--count"),
            ([], {"TABLE_WEIGHT": "abc"}, "TABLE_WEIGHT='abc'"), ([], {"TABLE_WEIGHT": "0"}, "TABLE_WEIGHT='0'"),
            (["--dump"], {"TABLE_WEIGHT": "-5"}, "TABLE_WEIGHT='-5'"),
        ]
        for args, env, shown in cases:
            with self.subTest(args=args, env=env):
                r = self.run_monitor(*args, env=env)
                self.assertEqual(r.returncode, 2, f"{args} {env}: {r}")
                self.assertIn("nra-monitor:", r.stderr)
                self.assertIn(shown, r.stderr, r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertNotIn("tracing", r.stderr)
                if SANITIZED:
                    self.assertFalse(any(p.search(r.stderr) for p in SANITIZER_PATTERNS), r.stderr)

    def test_help_documents_everything(self):
        r = self.run_monitor("--help")
        self.assertEqual(r.returncode, 0, r)
        for word in ("--table", "--all", "--json", "--count", "--duration", "--dump", "--help", "TABLE_WEIGHT",
                     "SIGINT", "SIGTERM", "by kernel", "ENOBUFS", "exit", "sender", "proto"):
            self.assertIn(word, r.stdout)
        self.assertEqual(self.run_monitor("-h").stdout, r.stdout)

    def test_dump(self):
        ip = self.ns.ip
        ip("rule", "add", "from", "192.168.80.0/24", "lookup", "30", "priority", "80")
        ip("route", "add", "10.80.0.0/16", "via", "10.0.0.1", "table", "30")
        ip("-6", "route", "add", "fd80::/64", "via", "fd00::1", "table", "30")
        for args, env in ((["--dump"], {"TABLE_WEIGHT": "30"}), (["--dump", "--table", "30"], {"TABLE_WEIGHT": "20"})):
            with self.subTest(args=args, env=env):
                r = self.run_monitor(*args, env=env)
                self.assertEqual(r.returncode, 0, r)
                self.assertEqual(sorted(r.stdout.splitlines()), [
                    "route -6 fd80::/64 table 30 metric 1024 proto boot via fd00::1",
                    "route 10.80.0.0/16 table 30 proto boot via 10.0.0.1",
                    "rule priority 80 from 192.168.80.0/24 lookup 30 proto unspec"])
        r = self.run_monitor("--dump", "--json", "--table", "30")
        self.assertEqual(r.returncode, 0, r)
        objs = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(sorted((o["kind"], o["family"], o.get("src") or o.get("dst")) for o in objs),
                         [("route", "inet", "10.80.0.0/16"), ("route", "inet6", "fd80::/64"),
                          ("rule", "inet", "192.168.80.0/24")])
        r = self.run_monitor("--dump")  # table 20 (default): nothing there
        self.assertEqual((r.returncode, r.stdout), (0, ""), r)
