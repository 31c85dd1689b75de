"""Figures, not asserts (docs/performance.md, "Work proportional to the change"): the agent's CPU
time for watch events creating pools one by one against a large cached set, in CRD mode.
Skipped unless NRA_BENCH_KUBE=1:
  NRA_BENCH_KUBE=1 python3 tests/integration/run.py --agent build/metallb-nra -j 1 -k KubeEventsBench
NRA_BENCH_CACHED (default 20000; the informer caps a stream at 30,000 objects) and NRA_BENCH_EVENTS
(default 2000) size it. NRA_BENCH_PERF=FILE records a profile of the agent over the events
(`perf record -g`, read with `perf report -i FILE`)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import unittest

from netns import Netns
from kube_harness import KubeTestCase, advertisement, bgppeer, pool, wait_until


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(f[11]) / tick, int(f[12]) / tick


def address(i: int) -> str:
    return f"10.{i >> 15 & 255}.{i >> 7 & 255}.{(i & 127) * 2}"


def one_address_pool(i: int) -> dict:
    return pool(f"q{i}", [address(i)])  # never adjacent: no aggregation


def kernel_floor(ns, cached: int, events: int) -> float:
    """CPU seconds one `ip -batch` spends adding `events` rules to a list of `cached` (the kernel walks
    the rule list on every insertion: what any writer pays for the same changes)."""
    def batch(lo: int, hi: int) -> str:
        return "".join(f"rule add from {address(i)} table 20 priority 20 protocol 245\n" for i in range(lo, hi))
    ns.run(["ip", "-batch", "-"], input=batch(0, cached), timeout=600)
    r0 = os.times()
    ns.run(["ip", "-batch", "-"], input=batch(cached, cached + events), timeout=600)
    r1 = os.times()
    return (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)


@unittest.skipUnless(os.environ.get("NRA_BENCH_KUBE") == "1", "benchmark: set NRA_BENCH_KUBE=1")
class TestKubeEventsBench(KubeTestCase):
    def first_reconciles(self, agent) -> list[dict]:
        return [l for l in self.logs_matching(agent.json_logs(), "reconciled") if l.get("trigger") == "config"]

    def test_pools_created_one_by_one(self):
        cached = int(os.environ.get("NRA_BENCH_CACHED", "20000"))
        events = int(os.environ.get("NRA_BENCH_EVENTS", "2000"))
        api = self.start_api()
        api.put_object(bgppeer("p", "10.0.0.1"), advertisement("all"))
        for c in range(0, cached, 1000):
            api.put_object(*[one_address_pool(i) for i in range(c, min(cached, c + 1000))])
        agent = self.start_kube_agent(api, crds=True, LOG_LEVEL="info")
        wait_until(lambda: self.logs_matching(agent.json_logs(), "configuration changed"), 120, what="first load")
        # The first reconcile installs `cached` rules (seconds: the kernel's insertions are O(N) each);
        # measuring starts once it is over.
        wait_until(lambda: self.first_reconciles(agent), 600, what="the first reconcile")
        perf = None
        if os.environ.get("NRA_BENCH_PERF"):
            perf = subprocess.Popen(["perf", "record", "-g", "-q", "-o", os.environ["NRA_BENCH_PERF"],
                                     "-p", str(agent.proc.pid)], stdout=subprocess.DEVNULL)
            time.sleep(1)
        c0, t0 = cpu_seconds(agent.proc.pid), time.monotonic()
        for i in range(cached, cached + events):
            api.put_object(one_address_pool(i))

        def converged():  # the whole configuration derived, and reconciled after that
            logs = agent.json_logs()
            last = [k for k, l in enumerate(logs)
                    if l.get("msg") == "kube: configuration changed" and l.get("addresses") == cached + events]
            return last and any(l.get("msg") == "reconciled" and l.get("trigger") == "config" for l in logs[last[0]:])

        wait_until(converged, 600, what="every event applied")
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        elapsed = time.monotonic() - t0
        c1 = cpu_seconds(agent.proc.pid)
        derived = len(self.logs_matching(agent.json_logs(), "configuration changed")) - 1
        reconciled = self.first_reconciles(agent)[1:]
        agent.stop()
        with Netns(prefix="nra-floor") as fns:
            floor = kernel_floor(fns, cached, events)
        user, system = c1[0] - c0[0], c1[1] - c0[1]
        print(f"\nBENCH cached={cached} events={events} agent_cpu={user + system:.2f}s "
              f"(user {user:.2f}s, system {system:.2f}s) converged_after={elapsed:.1f}s "
              f"derivations={derived} config_reconciles={len(reconciled)} "
              f"reconcile_ms={sum(l.get('elapsed_us', 0) for l in reconciled) / 1e3:.0f} "
              f"ip_batch_same_rules_cpu={floor:.2f}s", flush=True)
