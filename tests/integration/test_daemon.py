"""The daemon: converges, follows static-file edits, survives a broken file, stops
cleanly on signals. Scripts around the reconcile (ONESHOT and daemon)."""

from __future__ import annotations

import json
import os
import re
import signal
import time

from netns import AGENT, MONITOR, NetnsTestCase, figure, kernel_change_lines, legacy_yaml, wait_until

P = ["10.0.0.1", "10.0.0.3", "fd00::1", "fd00::3"]
C1 = ["192.168.57.0/24", "fd20::/64"]
C2 = ["192.168.60.0/24", "192.168.62.0/24", "fd22::/64"]  # not adjacent: no aggregation


class DaemonBase(NetnsTestCase):
    def start(self, cidrs=C1, peers=P, **extra):
        self.cfg = self.write_config(peers, [("p", "bgp", cidrs)])
        self.ns.start_monitor()
        self.agent = self.ns.start_agent(self.base_env(self.cfg, **extra))
        self.wait_state(cidrs, peers)
        return self.agent

    def write_atomic(self, text: str) -> None:
        tmp = self.cfg.with_name(self.cfg.name + ".tmp")
        tmp.write_text(text)
        os.rename(tmp, self.cfg)  # what `mv tmp file` and Kubernetes-style updates do

    def write_in_place(self, text: str) -> None:
        with open(self.cfg, "r+") as f:  # same inode: truncate and rewrite
            f.seek(0)
            f.truncate()
            f.write(text)


class TestDaemon(DaemonBase):
    def test_converges_and_logs_json(self):
        before = self.seed_foreign()
        agent = self.start()
        self.assert_foreign_unchanged(before)
        logs = agent.json_logs()
        self.assertTrue(logs, "no JSON log lines on stderr")
        for l in logs:
            for k in ("time", "level", "msg"):
                self.assertIn(k, l)
        wait_until(lambda: kernel_change_lines(agent.json_logs()), 5, what="kernel changes logged")
        self.assertEqual(agent.stop(), 0)

    def test_converges_in_quiet_namespace(self):
        """The first reconcile must not wait for an unrelated wake-up (a netlink event, the file re-check
        timer). The namespace is left idle first, the re-check and periodic timers are pushed out to 60 s
        and disabled, so only the agent's own start can make it converge within 10 s."""
        time.sleep(1.5)  # let IPv6 link-local/multicast route events of the fresh links die down
        cfg = self.write_config(P, [("p", "bgp", C1)])
        agent = self.ns.start_agent(self.base_env(cfg, METALLB_STATIC_FILE_WAIT="60000", MAX_RECONCILE_WAIT="0"))
        self.wait_state(C1, P, timeout=10)
        self.assertEqual(agent.stop(), 0)

    def test_converges_from_dirty_table(self):
        before = self.seed_foreign()
        self.ns.ip("route", "replace", "default", "table", "20", "via", "10.0.0.4")
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", "20", "priority", "20")
        self.ns.ip("-6", "rule", "add", "from", "fd21::/64", "lookup", "20", "priority", "20")
        agent = self.start()
        self.assert_foreign_unchanged(before)
        self.assertEqual(agent.stop(), 0)

    def test_own_echoes_settle(self):
        """After convergence the agent does not keep changing the kernel (no loop on its own events)."""
        agent = self.start(LOG_LEVEL="info")
        time.sleep(0.5)
        n = len(kernel_change_lines(agent.json_logs()))
        snap = self.ns.full_snapshot()
        time.sleep(1.5)
        self.assertEqual(len(kernel_change_lines(agent.json_logs())), n,
                         "kernel changes keep being logged after convergence")
        self.assertEqual(self.ns.full_snapshot(), snap)
        self.assertTrue(agent.alive())
        self.assertEqual(agent.stop(), 0)

    def test_sigterm_exit_0_state_left(self):
        before = self.seed_foreign()
        agent = self.start()
        snap = self.ns.full_snapshot()
        self.assertEqual(agent.stop(signal.SIGTERM), 0)
        self.assertEqual(self.ns.full_snapshot(), snap, "routing changed on SIGTERM")
        self.assert_state(C1, P)
        self.assert_foreign_unchanged(before)

    def test_sigint_exit_0_state_left(self):
        agent = self.start()
        snap = self.ns.full_snapshot()
        self.assertEqual(agent.stop(signal.SIGINT), 0)
        self.assertEqual(self.ns.full_snapshot(), snap, "routing changed on SIGINT")

    def test_sigterm_right_after_start(self):
        cfg = self.write_config(P, [("p", "bgp", C1)])
        agent = self.ns.start_agent(self.base_env(cfg))
        # wait until the agent itself runs (not `ip netns exec`), then stop it mid-startup
        wait_until(lambda: agent.stderr().strip(), 5, interval=0.001, what="first log line")
        self.assertEqual(agent.stop(signal.SIGTERM), 0)

    def test_imposter_burst(self):
        """Many imposters at once (rules and routes, both families) all go; the agent stays up."""
        before = self.seed_foreign()
        agent = self.start()
        batch4 = "\n".join(
            [f"rule add from 192.168.57.0/24 to 10.{i}.0.0/16 lookup 20 priority 20" for i in range(50)]
            + [f"route add 10.{100 + i}.0.0/16 via 10.0.0.1 table 20" for i in range(50)]) + "\n"
        batch6 = "\n".join(
            [f"rule add from fd20::/64 to fd90:{i}::/64 lookup 20 priority 20" for i in range(30)]
            + [f"route add fd91:{i}::/64 via fd00::1 table 20" for i in range(30)]) + "\n"
        self.ns.run(["ip", "-batch", "-"], input=batch4)
        self.ns.run(["ip", "-6", "-batch", "-"], input=batch6)
        self.wait_state(C1, P)
        self.assertTrue(agent.alive())
        self.assert_foreign_unchanged(before)
        self.assertEqual(agent.stop(), 0)

    def test_fight_with_another_writer_is_rate_limited(self):
        """Another program re-adding an imposter as fast as it can: the agent keeps correcting at a
        bounded rate, says so in the log, stays up, and the table is exact once the fight stops."""
        before = self.seed_foreign()
        agent = self.start()
        self.wait_state(C1, P)
        # ~2,000 re-adds in one ip process: each add lands right after the agent's last delete.
        fight = "\n".join("rule add from 192.168.57.0/24 to 8.8.8.8 lookup 20 priority 20" for _ in range(2000)) + "\n"
        deadline = time.monotonic() + 30
        while "rate-limiting corrections" not in agent.stderr() and time.monotonic() < deadline:
            self.ns.run(["ip", "-force", "-batch", "-"], input=fight, check=False)
        self.assertIn("rate-limiting corrections", agent.stderr(), "the fight was not reported as rate limited")
        self.wait_state(C1, P)
        self.assertTrue(agent.alive())
        self.assert_foreign_unchanged(before)
        self.assertEqual(agent.stop(), 0)

    def test_distinct_imposters_are_not_a_fight(self):
        """Hundreds of distinct imposters, each injected only after the previous one was removed
        (more corrective reconciles than the fight burst): every one is deleted and none of it is
        mistaken for a fight, so nothing is rate limited."""
        probe = os.path.join(os.path.dirname(AGENT), "nra-bench-probe")
        self.assertTrue(os.access(probe, os.X_OK), f"{probe} missing (built by make with the agent)")
        before = self.seed_foreign()
        agent = self.start()
        for family, gw in (("4", "10.0.0.1"), ("6", "fd00::1")):
            out = self.ns.run([probe, "imposters", "--family", family, "--gateway", gw, "--rules", "160",
                               "--routes", "20", "--timeout-ms", "10000"], check=False, timeout=120)
            self.assertEqual(out.returncode, 0, f"imposters left in place: {out.stdout[-300:]} {out.stderr}")
            res = json.loads(out.stdout)
            self.assertEqual((len(res["rules_us"]), len(res["routes_us"]), res["missed"]), (160, 20, 0))
        self.assertFalse("rate-limiting corrections" in agent.stderr(), "distinct imposters were treated as a fight")
        self.wait_state(C1, P)
        self.assert_foreign_unchanged(before)
        self.assertEqual(agent.stop(), 0)

    def test_table_flushed_externally_is_restored(self):
        agent = self.start()
        self.ns.ip("route", "flush", "table", "20")
        self.ns.ip("-6", "route", "flush", "table", "20")
        self.ns.ip("rule", "del", "from", "192.168.57.0/24", "lookup", "20", "priority", "20")
        self.wait_state(C1, P)
        self.assertEqual(agent.stop(), 0)


class TestStaticFile(DaemonBase):
    def test_edit_atomic_rename(self):
        before = self.seed_foreign()
        agent = self.start()
        self.write_atomic(legacy_yaml(P, [("p", "bgp", C2)]))
        self.wait_state(C2, P)
        # and again (the watch survives the first rename)
        self.write_atomic(legacy_yaml(P[:1] + P[2:3], [("p", "bgp", C1)]))
        self.wait_state(C1, P[:1] + P[2:3])
        self.assert_foreign_unchanged(before)
        self.assertEqual(agent.stop(), 0)

    def test_edit_in_place_rewrite(self):
        agent = self.start()
        self.write_in_place(legacy_yaml(P, [("p", "bgp", C2)]))
        self.wait_state(C2, P)
        self.write_in_place(legacy_yaml(["10.0.0.4", "fd00::3"], [("p", "bgp", C2)]))
        self.wait_state(C2, ["10.0.0.4", "fd00::3"])
        self.assertEqual(agent.stop(), 0)

    def test_edit_shell_redirect(self):
        """`cat > file` as a shell does it (O_TRUNC then write)."""
        agent = self.start()
        self.ns.run(["sh", "-c", f"cat > '{self.cfg}'"], input=legacy_yaml(P, [("p", "bgp", C2)]))
        self.wait_state(C2, P)
        self.assertEqual(agent.stop(), 0)

    def test_invalid_yaml_keeps_state_then_fix_converges(self):
        before = self.seed_foreign()
        agent = self.start()
        snap = self.ns.full_snapshot()
        n0 = len(agent.json_logs())
        self.write_atomic("peers:\n- peer-address: 10.0.0.1\n  peer-asn: [64512\naddress-pools: {\n")
        err = wait_until(lambda: [l for l in agent.json_logs()[n0:] if l.get("level") == "error"], 15,
                         what="an error log line about the broken file")
        text = json.dumps(err)
        self.assertRegex(text, r"(?i)line", f"error without a line number: {text}")
        self.assertRegex(text, r"(?i)col", f"error without a column: {text}")
        # an imposter is still corrected while the file is broken (last good state is kept)
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", "20", "priority", "20")
        self.wait_state(C1, P)
        self.assertEqual(self.ns.full_snapshot(), snap, "state changed while the file was broken")
        self.assertTrue(agent.alive())
        # fixed -> converges to the new content
        self.write_atomic(legacy_yaml(P, [("p", "bgp", C2)]))
        self.wait_state(C2, P)
        self.assert_foreign_unchanged(before)
        self.assertEqual(agent.stop(), 0)

    def test_invalid_yaml_in_place_then_fix(self):
        agent = self.start()
        n0 = len(agent.json_logs())
        self.write_in_place("address-pools:\n  - name: [unterminated\n")
        wait_until(lambda: [l for l in agent.json_logs()[n0:] if l.get("level") == "error"], 15,
                   what="an error log line about the broken file")
        self.assert_state(C1, P)
        self.write_in_place(legacy_yaml(P, [("p", "bgp", C2)]))
        self.wait_state(C2, P)
        self.assertEqual(agent.stop(), 0)

    def test_edit_to_empty_config_removes_everything(self):
        agent = self.start()
        self.write_atomic(legacy_yaml([], []))
        wait_until(lambda: self.ns.table_rules(20) == [] and self.ns.routes(20) == [], 10,
                   what="table emptied")
        self.assertEqual(agent.stop(), 0)

    def test_file_created_later(self):
        """The daemon starts before the file exists; never wipes on a cold start; applies it when it appears."""
        ns = self.ns
        self.seed_foreign()
        ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", "20", "priority", "20")
        snap = ns.full_snapshot()
        cfg = ns.dir / "later.yaml"
        agent = ns.start_agent(self.base_env(cfg, METALLB_STATIC_FILE_WAIT="1000"))
        time.sleep(1.0)
        self.assertTrue(agent.alive(), "agent exited while the file was missing\n" + agent.describe())
        self.assertEqual(ns.full_snapshot(), snap, "state touched before a config was loaded")
        tmp = ns.write("later.tmp", legacy_yaml(P, [("p", "bgp", C1)]))
        os.rename(tmp, cfg)
        self.wait_state(C1, P, timeout=15)
        self.assertEqual(agent.stop(), 0)


class TestScripts(DaemonBase):
    def script(self, name: str, body: str):
        return self.ns.write(name, "#!/bin/sh\n" + body, mode=0o755)

    def test_pre_script_timeout_is_killed(self):
        """A pre script sleeping 60 s is killed after ~10 s (with its children); the reconcile still happens.
        This test legitimately takes 10-12 s."""
        pidfile = self.ns.out / "child.pid"
        pre = self.script("pre.sh", f"sleep 61 &\necho $! > {pidfile}\necho $$ >> {pidfile}\nsleep 60\n")
        cfg = self.write_config(P, [("p", "bgp", C1)])
        r = self.oneshot(cfg, PRE_RECONCILE_SCRIPT_PATH=str(pre))
        self.assert_state(C1, P)
        self.assertRegex(r.stderr, r"(?i)time.?out|timed out|kill", "no timeout/kill logged")
        self.assertLess(r.elapsed, 50, "the 60 s script was not cut short")
        pids = [int(x) for x in pidfile.read_text().split()]
        for pid in pids:
            wait_until(lambda: not _alive(pid), 5, what=f"script process {pid} killed")
        figure(f"ONESHOT with a 60 s pre script: exited after {r.elapsed:.1f} s")

    def test_failing_scripts_logged_reconcile_proceeds(self):
        pre = self.script("pre.sh", "echo pre-stdout-marker\necho pre-stderr-marker >&2\nexit 3\n")
        post = self.script("post.sh", "echo post-marker\nexit 4\n")
        cfg = self.write_config(P, [("p", "bgp", C1)])
        r = self.oneshot(cfg, PRE_RECONCILE_SCRIPT_PATH=str(pre), POST_RECONCILE_SCRIPT_PATH=str(post))
        self.assert_state(C1, P)
        warns = [l for l in r.json_logs() if l.get("level") == "warn"]
        self.assertTrue(any("3" in json.dumps(w) for w in warns), "pre script exit 3 not logged as a warning")
        self.assertTrue(any("4" in json.dumps(w) for w in warns), "post script exit 4 not logged as a warning")
        self.assertIn("pre-stdout-marker", r.stderr, "script stdout not logged")
        self.assertIn("pre-stderr-marker", r.stderr, "script stderr not logged")

    def test_scripts_run_around_the_reconcile(self):
        out = self.ns.out
        pre = self.script("pre.sh", f"ip -N -j rule show > {out}/pre-rules.json\n")
        post = self.script("post.sh", f"ip -N -j rule show > {out}/post-rules.json\n")
        cfg = self.write_config(P, [("p", "bgp", C1)])
        self.oneshot(cfg, PRE_RECONCILE_SCRIPT_PATH=str(pre), POST_RECONCILE_SCRIPT_PATH=str(post))
        pre_rules = json.loads((out / "pre-rules.json").read_text())
        post_rules = json.loads((out / "post-rules.json").read_text())
        self.assertFalse([r for r in pre_rules if r.get("table") == "20"], "pre script ran after the reconcile")
        self.assertTrue([r for r in post_rules if r.get("table") == "20"], "post script ran before the reconcile")

    def test_missing_script_logged_reconcile_proceeds(self):
        cfg = self.write_config(P, [("p", "bgp", C1)])
        r = self.oneshot(cfg, PRE_RECONCILE_SCRIPT_PATH=str(self.ns.dir / "nope.sh"))
        self.assert_state(C1, P)
        self.assertIn("nope.sh", r.stderr)

    def test_daemon_runs_scripts_on_imposter_correction(self):
        count = self.ns.out / "count"
        post = self.script("post.sh", f"echo x >> {count}\n")
        agent = self.start(POST_RECONCILE_SCRIPT_PATH=str(post))
        wait_until(lambda: count.exists(), 5, what="post script ran")
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "iif", "v0", "lookup", "20", "priority", "20")
        self.wait_state(C1, P)
        self.assertTrue(agent.alive())
        self.assertEqual(agent.stop(), 0)


class TestMonitor(DaemonBase):
    """The netlink tracer (build/nra-monitor), only when it was given and exists."""

    def setUp(self):
        super().setUp()
        if not MONITOR or not os.access(MONITOR, os.X_OK):
            self.skipTest("no monitor binary")

    def test_monitor_dump_and_trace(self):
        path = self.ns.start_monitor(["--table", "20", "--json"])
        time.sleep(0.2)  # let it subscribe (diagnostic only)
        agent = self.start()
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", "20", "priority", "20")
        self.wait_state(C1, P)
        self.assertEqual(agent.stop(), 0)
        dump = self.ns.run([MONITOR, "--table", "20", "--dump"], check=False)
        self.assertEqual(dump.returncode, 0, dump.stderr)
        self.assertIn("192.168.57.0/24", dump.stdout)
        wait_until(lambda: "8.8.8.8" in path.read_text(), 5, what="imposter seen by the monitor")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False
