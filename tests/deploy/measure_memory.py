#!/usr/bin/env python3
"""Peak memory of the agent, for the DaemonSet's resource requests and limits.

    sudo python3 tests/deploy/measure_memory.py [--agent build/metallb-nra] [--sizes 1000,10000]

Not a test (nothing is asserted, and it is not part of `make test`): it prints
VmHWM (peak RSS) and VmRSS of a long-running agent, read from /proc, after it
has converged on N pool CIDRs and then done a forced full resync (SIGHUP), in
three modes, each in a throwaway network namespace (tests/integration/netns.py):

  static   METALLB_STATIC_FILE with N CIDRs
  cm       ConfigMap mode against the fake API server (tests/fakeapi) over TLS
  crds     CRD mode: one IPAddressPool with N addresses, a BGPAdvertisement, two
           BGPPeers and the Node, against the fake API server

"nl queue" is the peak of the bytes queued on the agent's netlink sockets while
it converges (sampled every 2 ms, so a lower bound): socket memory that cgroup v2
charges to the container but VmHWM does not include.

The CIDRs are non-adjacent /24s (no aggregation), so N CIDRs become N rules.
The figures in deploy/kustomize/base/daemonset.yaml come from this script.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def cidrs(n: int) -> list[str]:
    return [f"10.{100 + i // 128}.{(i % 128) * 2}.0/24" for i in range(n)]


def status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = int(v.split()[0])  # kB
    return out


def netlink_rmem(pid: int) -> int:
    """Bytes queued on the receive side of every netlink socket in the agent's namespace
    (the agent is alone there): socket memory, which cgroup v2 charges to the pod but
    VmHWM does not show."""
    total = 0
    try:
        with open(f"/proc/{pid}/net/netlink") as f:
            next(f)
            for line in f:
                total += int(line.split()[4])
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return total


class RmemSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, netlink_rmem(self.pid))
            time.sleep(0.002)


def rule_count(ns) -> int:
    out = ns.ip("rule", "show", "table", "20").stdout
    return len([l for l in out.splitlines() if l.strip()])


def measure(mode: str, n: int) -> tuple[dict[str, int], float, int]:
    import netns as nn
    import kube_harness as kh

    peers = ["10.0.0.1", "10.0.0.3"]
    with nn.Netns("nra-mem") as ns:
        api = None
        try:
            env = {"LOG_LEVEL": "info"}
            args: list[str] = []
            if mode == "static":
                cfg = ns.write("config.yaml", nn.legacy_yaml(peers, [("p", "bgp", cidrs(n))]))
                env["METALLB_STATIC_FILE"] = str(cfg)
            else:
                api = kh.FakeApi(netns=ns.name)
                api.start()
                objs = [kh.node("node-1", {"rack": "a"})]
                if mode == "cm":
                    objs.append(kh.configmap(kh.legacy_config(peers, [("p", "bgp", cidrs(n))])))
                else:
                    objs += [kh.bgppeer(f"peer{i}", p) for i, p in enumerate(peers)]
                    objs += [kh.pool("p", cidrs(n)), kh.advertisement("adv")]
                    env["METALLB_USE_CRDS"] = "true"
                api.put_object(*objs, silent=True)
                env.update({"METALLB_NAMESPACE": kh.MNS, "NODE_NAME": "node-1"})
                args = ["--kubeconfig", api.write_kubeconfig(str(ns.root / "kubeconfig"))]
            t0 = time.monotonic()
            agent = ns.start_agent(env, args)
            sampler = RmemSampler(agent.proc.pid)
            sampler.start()
            nn.wait_until(lambda: rule_count(ns) == n, 120, interval=0.2, what=f"{n} rules")
            took = time.monotonic() - t0
            time.sleep(1)
            agent.send_signal(signal.SIGHUP)  # full resync: dumps every rule again
            time.sleep(2)
            sampler.done.set()
            sampler.join()
            if not agent.alive():
                raise RuntimeError("agent exited:\n" + agent.describe())
            return status(agent.proc.pid), took, sampler.peak
        finally:
            if api is not None:
                api.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agent", default=str(REPO / "build" / "metallb-nra"))
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--modes", default="static,cm,crds")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("measure_memory: needs root (network namespaces)", file=sys.stderr)
        return 1
    os.environ["NRA_IT_AGENT"] = os.path.abspath(a.agent)
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    print(f"agent: {a.agent}")
    print(f"{'mode':<7} {'CIDRs':>6} {'VmHWM':>10} {'VmRSS':>10} {'nl queue':>10} {'converged':>10}")
    for mode in a.modes.split(","):
        for n in (int(s) for s in a.sizes.split(",")):
            st, took, rmem = measure(mode, n)
            print(f"{mode:<7} {n:>6} {st['VmHWM'] / 1024:>6.1f} MiB {st['VmRSS'] / 1024:>6.1f} MiB "
                  f"{rmem / 2**20:>6.1f} MiB {took:>9.2f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
