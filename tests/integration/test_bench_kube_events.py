"""Figures, not asserts (docs/performance.md, "Work proportional to the change"): the agent's CPU
time for watch events creating pools one by one against a large cached set, in CRD mode.
Skipped unless NRA_BENCH_KUBE=1:
  NRA_BENCH_KUBE=1 python3 tests/integration/run.py --agent build/metallb-nra -j 1 -k KubeEventsBench
NRA_BENCH_CACHED (default 9000; the informer caps a stream at 10,000 objects) and NRA_BENCH_EVENTS
(default 1000) size it."""

from __future__ import annotations

import os
import time
import unittest

from kube_harness import KubeTestCase, advertisement, bgppeer, pool, wait_until


def cpu_seconds(pid: int) -> float:
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def one_address_pool(i: int) -> dict:
    return pool(f"q{i}", [f"10.{i >> 15 & 255}.{i >> 7 & 255}.{(i & 127) * 2}"])  # never adjacent: no aggregation


@unittest.skipUnless(os.environ.get("NRA_BENCH_KUBE") == "1", "benchmark: set NRA_BENCH_KUBE=1")
class TestKubeEventsBench(KubeTestCase):
    def test_pools_created_one_by_one(self):
        cached = int(os.environ.get("NRA_BENCH_CACHED", "9000"))
        events = int(os.environ.get("NRA_BENCH_EVENTS", "1000"))
        api = self.start_api()
        api.put_object(bgppeer("p", "10.0.0.1"), advertisement("all"))
        for c in range(0, cached, 1000):
            api.put_object(*[one_address_pool(i) for i in range(c, min(cached, c + 1000))])
        agent = self.start_kube_agent(api, crds=True, LOG_LEVEL="info")
        wait_until(lambda: self.logs_matching(agent.json_logs(), "configuration changed"), 120, what="first load")
        time.sleep(3)  # the first reconcile of `cached` rules
        c0, t0 = cpu_seconds(agent.proc.pid), time.monotonic()
        for i in range(cached, cached + events):
            api.put_object(one_address_pool(i))

        def converged():
            lines = self.logs_matching(agent.json_logs(), "configuration changed")
            return lines and lines[-1].get("addresses") == cached + events

        wait_until(converged, 600, what="every event applied")
        print(f"\nBENCH cached={cached} events={events} agent_cpu={cpu_seconds(agent.proc.pid) - c0:.2f}s "
              f"converged_after={time.monotonic() - t0:.1f}s", flush=True)
