#!/usr/bin/env python3
"""Benchmarks for metallb-nra against the real kernel, in throwaway network
namespaces. Prints figures; asserts nothing about time.

  sudo python3 tools/bench/bench.py [--agent build/metallb-nra] [--cidrs 1000,5000] [--imposters 50]

Figures:
  * ONESHOT on an empty kernel with N pool CIDRs (whole process: start, parse,
    dump, N+1 changes, exit), next to `ip -batch` installing the same N rules and
    route (the kernel's own limit through iproute2, one process) in the same run;
  * ONESHOT again on the converged kernel (a no-op reconcile), CLEANANDEXIT;
  * daemon: imposter correction latency, measured outside the agent as the
    difference between the kernel's NEW and DEL notification timestamps seen by
    `ip -ts monitor rule`;
  * daemon memory (VmHWM) with N rules.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


class Netns:
    def __init__(self):
        self.name = "nra-bench-" + uuid.uuid4().hex[:8]

    def __enter__(self):
        sh("ip", "netns", "add", self.name)
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                    ["link", "set", "v0", "up"], ["link", "set", "v1", "up"],
                    ["addr", "add", "10.0.0.2/24", "dev", "v0"]):
            sh("ip", "-n", self.name, *cmd)
        return self

    def __exit__(self, *exc):
        sh("ip", "netns", "del", self.name, check=False)

    def exec(self, *cmd):
        return ["ip", "netns", "exec", self.name, *cmd]


def cidrs(n):
    return [f"10.{i // 256 % 256}.{i % 256}.0/25" for i in range(n)]


def write_config(path, n):
    with open(path, "w") as f:
        f.write("peers:\n- peer-address: 10.0.0.1\n- peer-address: 10.0.0.3\naddress-pools:\n- name: bench\n  protocol: bgp\n  addresses:\n")
        for c in cidrs(n):
            f.write(f"  - {c}\n")


def timed(cmd, env=None, stdin=None):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, input=stdin)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return dt


def count_rules(ns, table):
    out = sh("ip", "-n", ns.name, "rule", "show").stdout
    return sum(1 for line in out.splitlines() if line.rstrip().endswith(f"lookup {table}") or f"lookup {table} " in line)


def bench_oneshot(agent, n, tmp):
    cfg = os.path.join(tmp, f"cfg-{n}.yaml")
    write_config(cfg, n)
    env = dict(os.environ, ONESHOT="1", METALLB_STATIC_FILE=cfg, LOG_LEVEL="error")
    with Netns() as ns:
        cold = timed(ns.exec(agent), env)
        installed = count_rules(ns, 20)
        warm = timed(ns.exec(agent), env)
        clean = timed(ns.exec(agent), dict(env, ONESHOT="", CLEANANDEXIT="1"))
    batch = "route replace default table 20 nexthop via 10.0.0.1 weight 100 nexthop via 10.0.0.3 weight 100\n"
    batch += "".join(f"rule add from {c} lookup 20 priority 20\n" for c in cidrs(n))
    with Netns() as ns:
        ipb = timed(ns.exec("ip", "-batch", "-"), stdin=batch)
    print(f"ONESHOT, {n} CIDRs, empty kernel : {cold * 1000:8.1f} ms  (rules installed: {installed})")
    print(f"ip -batch, same {n} rules + route : {ipb * 1000:8.1f} ms  (kernel limit via iproute2, one process)")
    print(f"ONESHOT, {n} CIDRs, converged    : {warm * 1000:8.1f} ms  (dump + plan, no change)")
    print(f"CLEANANDEXIT, {n} rules          : {clean * 1000:8.1f} ms")


TS = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})\] (Deleted )?")


def bench_imposters(agent, count, n, tmp):
    cfg = os.path.join(tmp, "cfg-daemon.yaml")
    write_config(cfg, n)
    env = dict(os.environ, METALLB_STATIC_FILE=cfg, LOG_LEVEL="warn")
    with Netns() as ns:
        daemon = subprocess.Popen(ns.exec(agent), env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while count_rules(ns, 20) < n and time.time() < deadline:
                time.sleep(0.05)
            mon = subprocess.Popen(ns.exec("ip", "-ts", "monitor", "rule"), stdout=subprocess.PIPE, text=True)
            time.sleep(0.3)
            latencies = []
            for i in range(count):
                imposter = f"from 10.0.{i % 256}.0/25 to 8.8.{i % 256}.8 lookup 20 priority 20"
                sh("ip", "-n", ns.name, "rule", "add", *imposter.split())
                added = None
                while True:
                    line = mon.stdout.readline()
                    if not line:
                        sys.exit("ip monitor ended")
                    if f"to 8.8.{i % 256}.8" not in line:
                        continue
                    m = TS.match(line)
                    ts = datetime.fromisoformat(m.group(1))
                    if m.group(2):
                        latencies.append((ts - added).total_seconds() * 1e6)
                        break
                    added = ts
                time.sleep(0.01)  # one imposter at a time, not a fight (which is rate-limited)
            mon.terminate()
            with open(f"/proc/{daemon.pid}/status") as f:
                status = f.read()
            # ip netns exec replaces itself with the agent, so the pid is the agent's.
            hwm = re.search(r"VmHWM:\s+(\d+) kB", status).group(1)
            rss = re.search(r"VmRSS:\s+(\d+) kB", status).group(1)
        finally:
            daemon.terminate()
            daemon.wait(10)
    latencies.sort()
    print(f"imposter correction, daemon with {n} rules, {count} imposters (kernel NEW -> DEL notification):")
    print(f"    median {statistics.median(latencies):8.0f} us   p90 {latencies[int(len(latencies) * 0.9) - 1]:8.0f} us   max {latencies[-1]:8.0f} us")
    print(f"daemon memory with {n} rules: VmRSS {int(rss) / 1024:.1f} MiB, peak VmHWM {int(hwm) / 1024:.1f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", default="build/metallb-nra")
    ap.add_argument("--cidrs", default="1000,5000")
    ap.add_argument("--imposters", type=int, default=50)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py needs root (network namespaces)")
    agent = os.path.abspath(a.agent)
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in a.cidrs.split(",")):
            bench_oneshot(agent, n, tmp)
            print()
        bench_imposters(agent, a.imposters, 1000, tmp)


if __name__ == "__main__":
    main()
