#!/usr/bin/env python3
"""Benchmarks for metallb-nra against the real kernel, in throwaway network
namespaces. Prints a table and writes JSON; asserts nothing about time.

  sudo python3 tools/bench/bench.py [--agent build/metallb-nra] [--probe build/nra-bench-probe]
      [--static build/static/metallb-nra] [--sizes 10,100,1000,10000] [--big 10000]
      [--imposter-rules 1000] [--imposter-routes 100] [--idle-seconds 60]
      [--out bench/results.json] [--smoke]

Figures (see docs/performance.md):
  1. cold convergence: ONESHOT on an empty kernel with N pool CIDRs, wall time
     from exec to exit and the agent's own reconcile time (its "reconciled"
     log line), next to one `ip -batch` adding the same rules and route in a
     fresh namespace of the same run (the kernel's limit through iproute2);
     for IPv4 only (two IPv4 peers) and dual stack (half of the CIDRs IPv6,
     plus an IPv6 peer).
  2. no-op reconcile at --big rules: the daemon's periodic full resync with
     nothing to do: its reconcile time, and the system calls of one tick
     (strace -c attached to the idle daemon over exactly one period).
  3. imposter correction: nra-bench-probe injects imposter rules and routes
     one at a time from its own netlink socket and times each from the
     kernel's ack of the injection to the deletion notification.
  4. config change: the static file of a --big-CIDR config atomically
     replaced by one with one CIDR swapped; time from rename() to the last
     of the two rule notifications.
  5. footprint: RSS idle (two CIDRs) and at --big rules, CPU time and wakeups
     over --idle-seconds idle, binary sizes (stripped).
  6. imposter correction in Kubernetes mode (tests/fakeapi in the namespace)
     while slow work is under way: nothing (baseline), an exec credential
     plugin whose runs take 5 s (probed while one runs), the API server's name
     not resolving (DNS silent, reconnects failing, lookups pending). A
     pre-reconcile script that sleeps 10 s belongs here too once the agent
     runs scripts on the loop.
  7. flow-stable failover (NEXTHOP_OBJECTS): 4 IPv4 peers, 2,000 TCP flows
     (`ip route get` of each through one `ip -batch`, L4 multipath hash):
     the share of flows whose nexthop changes when one peer leaves and when
     it comes back, today's multipath route next to the resilient group; and
     the time from a peer's neighbour entry turning FAILED to the group
     without it (both kernel events, timestamped by `ip -t monitor`).
     Not in --smoke.
Every child process enters its namespace by setns() in the child, so no
`ip netns exec` is timed.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
TABLE = 20


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


class Netns:
    """A network namespace with a veth pair carrying both families' peers."""

    def __init__(self):
        self.name = "nra-bench-" + uuid.uuid4().hex[:8]

    def __enter__(self):
        sh("ip", "netns", "add", self.name)
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                    ["link", "set", "v0", "up"], ["link", "set", "v1", "up"],
                    ["addr", "add", "10.0.0.2/24", "dev", "v0"],
                    ["-6", "addr", "add", "fd00::2/64", "dev", "v0", "nodad"]):
            sh("ip", "-n", self.name, *cmd)
        return self

    def __exit__(self, *exc):
        sh("ip", "netns", "del", self.name, check=False)

    @contextlib.contextmanager
    def inside(self):
        """This process joins the namespace for a while, so that children are
        spawned straight into it (vfork + exec, no `ip netns exec`, no
        preexec_fn forcing a full fork of the interpreter into the timing)."""
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            yield
        finally:
            os.close(fd)
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
            os.close(home)

    def run(self, cmd, **kw):
        with self.inside():
            return subprocess.run(cmd, **kw)

    def popen(self, cmd, **kw):
        with self.inside():
            return subprocess.Popen(cmd, **kw)

    def count_rules(self) -> int:
        n = 0
        for fam in ("-4", "-6"):
            n += len(sh("ip", "-n", self.name, fam, "rule", "show", "table", str(TABLE)).stdout.splitlines())
        return n


def cidrs(n: int, dual: bool) -> list[str]:
    """n CIDRs that do not aggregate; with dual, every second one is IPv6."""
    out = []
    for i in range(n):
        if dual and i % 2:
            out.append(f"fd50:{i // 65536:x}:{i % 65536:x}::/64")
        else:
            out.append(f"10.{i // 256 % 256}.{i % 256}.0/25" if i < 65536 else f"11.{i // 256 % 256}.{i % 256}.0/25")
    return out


def peers(dual: bool) -> list[str]:
    return ["10.0.0.1", "10.0.0.3"] + (["fd00::1"] if dual else [])


def config_text(cs: list[str], ps: list[str]) -> str:
    return ("peers:\n" + "".join(f"- peer-address: {p}\n  peer-asn: 64500\n  my-asn: 64512\n" for p in ps)
            + "address-pools:\n- name: bench\n  protocol: bgp\n  addresses:\n" + "".join(f"  - {c}\n" for c in cs))


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def ip_batch_text(cs: list[str], ps: list[str]) -> tuple[str, str]:
    v4 = [p for p in ps if ":" not in p]
    v6 = [p for p in ps if ":" in p]
    b4 = "route replace default table 20 " + " ".join(f"nexthop via {p} weight 100" for p in v4) + "\n"
    b4 += "".join(f"rule add from {c} lookup 20 priority 20\n" for c in cs if ":" not in c)
    b6 = ""
    if v6:
        b6 = "route replace default table 20 " + (" ".join(f"nexthop via {p} weight 100" for p in v6)
                                                   if len(v6) > 1 else f"via {v6[0]}") + "\n"
        b6 += "".join(f"rule add from {c} lookup 20 priority 20\n" for c in cs if ":" in c)
    return b4, b6


def agent_env(**kw) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LOG_LEVEL": "info"}
    env.update({k: str(v) for k, v in kw.items()})
    return env


def reconciled_us(log_text: str, trigger: str | None = None, changes_zero: bool | None = None) -> list[int]:
    out = []
    for line in log_text.splitlines():
        if '"msg":"reconciled"' not in line:
            continue
        d = json.loads(line)
        if trigger and d.get("trigger") != trigger:
            continue
        if changes_zero is not None and (d.get("changes") == 0) != changes_zero:
            continue
        out.append(int(d["elapsed_us"]))
    return out


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


def proc_status(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def kib(v: str) -> int:
    return int(v.split()[0])


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_rules(ns: Netns, n: int, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while ns.count_rules() != n:
        if time.monotonic() > deadline:
            sys.exit(f"the agent did not converge to {n} rules (have {ns.count_rules()})")
        time.sleep(0.05)


class Daemon:
    def __init__(self, ns: Netns, agent: str, tmp: Path, env: dict):
        self.log = tmp / f"daemon-{uuid.uuid4().hex[:6]}.log"
        self.f = open(self.log, "w")
        self.p = ns.popen([agent], env=env, stdout=subprocess.DEVNULL, stderr=self.f)

    def text(self) -> str:
        return self.log.read_text()

    def stop(self):
        self.p.terminate()
        self.p.wait(20)
        self.f.close()


# ---------------------------------------------------------------- 1. cold
def bench_cold(agent: str, n: int, dual: bool, tmp: Path) -> dict:
    cs, ps = cidrs(n, dual), peers(dual)
    cfg = write(tmp / f"cold-{n}-{dual}.yaml", config_text(cs, ps))
    env = agent_env(ONESHOT=1, METALLB_STATIC_FILE=cfg)
    res = {"cidrs": n, "dual_stack": dual}
    with Netns() as ns:
        with ns.inside():
            t0 = time.perf_counter()
            r = subprocess.run([agent], env=env, capture_output=True, text=True)
            res["oneshot_ms"] = (time.perf_counter() - t0) * 1e3
        if r.returncode != 0:
            sys.exit(f"ONESHOT failed: {r.stderr[-2000:]}")
        res["reconcile_ms"] = sum(reconciled_us(r.stderr)) / 1e3
        res["rules"] = ns.count_rules()
        if res["rules"] != n:
            sys.exit(f"ONESHOT installed {res['rules']} rules, expected {n}")
        # The same again on the converged kernel: dump + plan, nothing to do.
        with ns.inside():
            t0 = time.perf_counter()
            r = subprocess.run([agent], env=env, capture_output=True, text=True)
            res["oneshot_converged_ms"] = (time.perf_counter() - t0) * 1e3
    b4, b6 = ip_batch_text(cs, ps)
    with Netns() as ns:
        with ns.inside():
            t0 = time.perf_counter()
            for fam, text in (("-4", b4), ("-6", b6)):
                if text:
                    subprocess.run(["ip", fam, "-batch", "-"], input=text, text=True, check=True, capture_output=True)
            res["ip_batch_ms"] = (time.perf_counter() - t0) * 1e3
        if ns.count_rules() != n:
            sys.exit("ip -batch reference did not install every rule")
    res["ratio"] = res["oneshot_ms"] / res["ip_batch_ms"]
    return res


# ---------------------------------------------------------------- 7. nexthops
NH_PEERS = ["10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.5"]


def flow_paths(ns: Netns, flows: int) -> list[str]:
    """The gateway of each flow (one source port each) from 192.168.57.1."""
    text = "".join(f"route get 203.0.113.7 from 192.168.57.1 ipproto tcp sport {10000 + i} dport 443\n"
                   for i in range(flows))
    out = ns.run(["ip", "-batch", "-"], input=text, text=True, capture_output=True, check=True).stdout
    via = []
    for line in out.splitlines():
        parts = line.split()
        if "via" in parts:
            via.append(parts[parts.index("via") + 1])
    if len(via) != flows:
        sys.exit(f"route get answered {len(via)} of {flows} flows:\n{out[-500:]}")
    return via


def moved(a: list[str], b: list[str]) -> int:
    return sum(1 for x, y in zip(a, b) if x != y)


def bench_nexthop_flows(agent: str, mode: str, flows: int, tmp: Path) -> dict:
    res = {"layout": "resilient group" if mode == "auto" else "multipath route", "flows": flows}
    with Netns() as ns:
        ns.run(["sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"], check=True)
        ns.run(["ip", "addr", "add", "192.168.57.1/32", "dev", "lo"], check=True)
        def apply(ps):
            cfg = write(tmp / f"nh-{mode}-{len(ps)}.yaml", config_text(["192.168.57.0/24"], ps))
            r = ns.run([agent], env=agent_env(ONESHOT=1, METALLB_STATIC_FILE=cfg, NEXTHOP_OBJECTS=mode),
                       capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"ONESHOT failed: {r.stderr[-2000:]}")
        apply(NH_PEERS)
        before = flow_paths(ns, flows)
        on_leaver = sum(1 for v in before if v == NH_PEERS[1])
        apply([p for p in NH_PEERS if p != NH_PEERS[1]])
        after = flow_paths(ns, flows)
        apply(NH_PEERS)
        back = flow_paths(ns, flows)
    res.update(on_leaving_peer=on_leaver, moved_on_leave=moved(before, after), moved_on_return=moved(after, back))
    return res


def bench_nexthop_failover(agent: str, tmp: Path, rounds: int) -> dict:
    """Neighbour FAILED -> group replaced, from the kernel's own event times."""
    samples = []
    with Netns() as ns:
        cfg = write(tmp / "nh-failover.yaml", config_text(["192.168.57.0/24"], NH_PEERS))
        for i, p in enumerate(NH_PEERS):
            ns.run(["ip", "neigh", "replace", p, "lladdr", f"02:00:00:00:00:0{i + 1}", "dev", "v0", "nud",
                    "reachable"], check=True)
        d = Daemon(ns, agent, tmp, agent_env(METALLB_STATIC_FILE=cfg, NEXTHOP_OBJECTS="auto"))
        try:
            wait_until(lambda: "nhid" in sh("ip", "-n", ns.name, "route", "show", "table", str(TABLE), check=False).stdout, 10)
            mon_log = tmp / "nh-monitor.txt"
            with open(mon_log, "w") as f:
                mon = ns.popen(["ip", "-t", "monitor", "neigh", "nexthop"], stdout=f, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            for r in range(rounds):
                p = NH_PEERS[r % len(NH_PEERS)]
                ns.run(["ip", "neigh", "replace", p, "dev", "v0", "nud", "failed"], check=True)
                time.sleep(0.2)
                ns.run(["ip", "neigh", "replace", p, "lladdr", "02:00:00:00:00:09", "dev", "v0", "nud",
                        "reachable"], check=True)
                time.sleep(0.2)
            time.sleep(0.3)
            mon.terminate()
            mon.wait(5)
            # "Timestamp: <date> <usec> usec" precedes each event.
            stamp, failed_at = None, None
            for line in mon_log.read_text().splitlines():
                if line.startswith("Timestamp:"):
                    parts = line.split()
                    t = time.mktime(time.strptime(" ".join(parts[1:6]), "%a %b %d %H:%M:%S %Y"))
                    stamp = t + int(parts[6]) / 1e6
                elif " FAILED" in line and stamp is not None:
                    failed_at = stamp
                elif line.startswith("id ") and " group " in line and failed_at is not None and stamp is not None:
                    samples.append((stamp - failed_at) * 1e6)
                    failed_at = None
        finally:
            d.stop()
    return {"rounds": rounds, "samples": len(samples),
            "p50_us": pct(samples, 50) if samples else None, "max_us": max(samples) if samples else None}


# ---------------------------------------------------------------- 2. no-op
def strace_tick(pid: int, period_s: float) -> dict:
    """System calls of the idle daemon over one timer period (exactly one tick)."""
    if not shutil.which("strace"):
        return {"syscalls": None, "note": "strace not installed"}
    out = tempfile.NamedTemporaryFile(suffix=".strace", delete=False).name
    p = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(pid)], stderr=subprocess.DEVNULL)
    time.sleep(period_s + 0.3)
    p.send_signal(2)
    p.wait(20)
    text = Path(out).read_text()
    os.unlink(out)
    per = {}
    total = None
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and f[-1] == "total":
            total = int(f[3])
        elif len(f) >= 5 and f[0][0].isdigit() and f[-1].isidentifier():
            per[f[-1]] = int(f[3])
    return {"syscalls": total, "by_call": per}


def bench_noop(agent: str, n: int, tmp: Path, ticks: int) -> dict:
    cs, ps = cidrs(n, False), peers(False)
    cfg = write(tmp / f"noop-{n}.yaml", config_text(cs, ps))
    period_ms = 1500
    env = agent_env(METALLB_STATIC_FILE=cfg, MAX_RECONCILE_WAIT=period_ms, LOG_LEVEL="debug")
    with Netns() as ns:
        d = Daemon(ns, agent, tmp, env)
        try:
            wait_rules(ns, n)
            deadline = time.monotonic() + ticks * period_ms / 1e3 * 3 + 10
            while len(reconciled_us(d.text(), "periodic", True)) < ticks and time.monotonic() < deadline:
                time.sleep(0.2)
            times = reconciled_us(d.text(), "periodic", True)
            sc = strace_tick(d.p.pid, period_ms / 1e3)
            # A full resync (every 10th tick, SIGHUP): the rules re-read too.
            for _ in range(3):
                before = len(reconciled_us(d.text(), "resync", True))
                d.p.send_signal(1)
                wait_until(lambda: len(reconciled_us(d.text(), "resync", True)) > before, 30)
            full = reconciled_us(d.text(), "resync", True)
            # The kernel's own cost of reading those rules: `ip rule show`.
            with ns.inside():
                ipr = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    subprocess.run(["ip", "rule", "show"], check=True, capture_output=True)
                    ipr.append((time.perf_counter() - t0) * 1e3)
        finally:
            d.stop()
    return {"rules": n, "ticks": len(times), "reconcile_ms_median": statistics.median(times) / 1e3 if times else None,
            "reconcile_ms_max": max(times) / 1e3 if times else None,
            "full_resync_ms_median": statistics.median(full) / 1e3 if full else None,
            "ip_rule_show_ms_median": statistics.median(ipr), **sc}


def wait_until(pred, timeout: float):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for the agent")
        time.sleep(0.05)


# ---------------------------------------------------------------- 3. imposters
def bench_imposters(agent: str, probe: str, n_rules: int, n_routes: int, desired: int, tmp: Path) -> dict:
    cs, ps = cidrs(desired, False), peers(False)
    cfg = write(tmp / f"imp-{desired}.yaml", config_text(cs, ps))
    env = agent_env(METALLB_STATIC_FILE=cfg, LOG_LEVEL="info")
    with Netns() as ns:
        d = Daemon(ns, agent, tmp, env)
        try:
            wait_rules(ns, desired)
            r = ns.run([probe, "imposters", "--rules", str(n_rules), "--routes", str(n_routes)],
                       capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                sys.exit(f"nra-bench-probe imposters failed: {r.stdout[-500:]} {r.stderr[-500:]}")
            data = json.loads(r.stdout)
            ok = ns.count_rules() == desired and "rate-limiting" not in d.text()
        finally:
            d.stop()
    out = {"desired_rules": desired, "converged_after": ok}
    for k in ("rules", "routes"):
        v = data[f"{k}_us"]
        out[k] = {"n": len(v), "p50_us": pct(v, 50), "p99_us": pct(v, 99), "max_us": max(v) if v else None}
    return out


# ---------------------------------------------------------------- 6. slow work
KUBE_NAME = "kubernetes.default.svc"  # in the fake API server's certificate


def bench_slow(agent: str, probe: str, kind: str, n_rules: int, n_routes: int, tmp: Path) -> dict:
    """Imposter correction in Kubernetes mode while `kind` (none, exec, resolver, script) is slow."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "fakeapi"))
    from client import FakeApi  # noqa: E402
    cs, ps = cidrs(10, False), peers(False)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": "metallb-system"},
          "data": {"config": config_text(cs, ps)}}
    work = tmp / f"slow-{kind}-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    out: dict = {"kind": kind}
    with Netns() as ns:
        sh("ip", "-n", ns.name, "link", "set", "lo", "up")
        etc = Path("/etc/netns") / ns.name
        etc.mkdir(parents=True, exist_ok=True)
        try:
            hosts = etc / "hosts"
            hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {KUBE_NAME}\n")
            # 10.77.0.3: routed out of v0 to a MAC nobody has: DNS queries vanish.
            sh("ip", "-n", ns.name, "route", "add", "10.77.0.0/24", "dev", "v0")
            sh("ip", "-n", ns.name, "neigh", "replace", "10.77.0.3", "lladdr", "02:00:5e:77:00:99", "dev", "v0",
               "nud", "permanent")
            (etc / "resolv.conf").write_text("nameserver 10.77.0.3\n")
            with FakeApi(netns=ns.name, workdir=str(work / "api")) as api:
                api.put_object(cm)
                user = {}
                if kind == "exec":
                    plugin = work / "plugin.sh"
                    (work / "token").write_text(api.token)
                    plugin.write_text(
                        "#!/bin/sh\n"
                        f"d={work}\n"
                        "echo $$ >> $d/runs\n"
                        "n=$(wc -l < $d/runs)\n"
                        "[ \"$n\" -gt 1 ] && { touch $d/started-$n; sleep 5; }\n"
                        "exp=$(date -u -d @$(( $(date +%s) + 12 )) +%Y-%m-%dT%H:%M:%SZ)\n"
                        "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                        "\"status\":{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}' \"$(cat $d/token)\" \"$exp\"\n"
                        "touch $d/done-$n\n")
                    plugin.chmod(0o755)
                    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                                     "interactiveMode": "Never"}}
                kc = api.write_kubeconfig(str(work / "kubeconfig"), server=f"https://{KUBE_NAME}:{api.info['port']}",
                                          token=not user, extra_user=user or None)
                log = work / "agent.log"
                extra_env = {}
                if kind == "script":
                    # The first pre script passes; the next ones (a new configuration) sleep 10 s.
                    pre = work / "pre.sh"
                    pre.write_text("#!/bin/sh\n"
                                   f"d={work}\n"
                                   "echo $$ >> $d/pre-runs\n"
                                   "n=$(wc -l < $d/pre-runs)\n"
                                   "[ \"$n\" -gt 1 ] && { touch $d/pre-started-$n; sleep 10; touch $d/pre-done-$n; }\n"
                                   "exit 0\n")
                    pre.chmod(0o755)
                    extra_env["PRE_RECONCILE_SCRIPT_PATH"] = str(pre)
                with open(log, "w") as f:
                    env = agent_env(LOG_LEVEL="info", METALLB_NAMESPACE="metallb-system", **extra_env)
                    p = subprocess.Popen(["ip", "netns", "exec", ns.name, agent, "--kubeconfig", kc], env=env,
                                         stdout=subprocess.DEVNULL, stderr=f)
                try:
                    wait_rules(ns, len(cs))
                    if kind == "exec":
                        wait_until(lambda: any(work.glob("started-*")), 30)
                    elif kind == "script":
                        cm2 = json.loads(json.dumps(cm))
                        cm2["data"]["config"] = config_text(cs + ["10.250.0.0/24"], ps)
                        api.put_object(cm2)
                        wait_until(lambda: any(work.glob("pre-started-*")), 30)
                    elif kind == "resolver":
                        hosts.write_text("127.0.0.1 localhost\n")  # in place: the agent's bind mount
                        api.set_listener(False)
                        api.close_watches("", mode="reset")
                        wait_until(lambda: "cannot resolve the API server" in log.read_text(), 30)
                    r = ns.run([probe, "imposters", "--rules", str(n_rules), "--routes", str(n_routes)],
                               capture_output=True, text=True, timeout=600)
                    if r.returncode != 0:
                        sys.exit(f"nra-bench-probe imposters failed: {r.stdout[-500:]} {r.stderr[-500:]}")
                    data = json.loads(r.stdout)
                    if kind == "exec":
                        started = sorted(int(x.name.split("-")[1]) for x in work.glob("started-*"))
                        out["plugin_still_running_after_probe"] = not (work / f"done-{started[0]}").exists()
                    if kind == "script":
                        started = sorted(int(x.name.split("-")[2]) for x in work.glob("pre-started-*"))
                        out["script_still_running_after_probe"] = not (work / f"pre-done-{started[0]}").exists()
                    if kind == "resolver":
                        out["lookup_failures_logged"] = log.read_text().count("cannot resolve the API server")
                finally:
                    p.terminate()
                    p.wait(20)
        finally:
            shutil.rmtree(etc, ignore_errors=True)
    v = data["rules_us"] + data["routes_us"]
    out.update({"n": len(v), "p50_us": pct(v, 50), "p99_us": pct(v, 99), "max_us": max(v) if v else None})
    return out


# ---------------------------------------------------------------- 4. config change
def bench_config_change(agent: str, probe: str, n: int, tmp: Path, repeats: int) -> dict:
    cs, ps = cidrs(n, False), peers(False)
    d_dir = tmp / "cfgdir"
    d_dir.mkdir(exist_ok=True)
    cfg = write(d_dir / "config.yaml", config_text(cs, ps))
    env = agent_env(METALLB_STATIC_FILE=cfg, LOG_LEVEL="info")
    last, first, agent_ms = [], [], []
    with Netns() as ns:
        d = Daemon(ns, agent, tmp, env)
        try:
            wait_rules(ns, n)
            current = list(cs)
            for i in range(repeats):
                # swap one CIDR: the one at position i goes, a new one comes
                gone = current[i]
                come = f"100.64.{i}.0/25"
                current[i] = come
                new = write(d_dir / ".config.yaml.new", config_text(current, ps))
                r = ns.run([probe, "config-change", "--file", str(cfg), "--from", str(new),
                            "--expect-add", come, "--expect-del", gone], capture_output=True, text=True, timeout=60)
                if r.returncode != 0:
                    sys.exit(f"config change not applied: {r.stdout} {r.stderr}\n" + "\n".join(
                        l for l in d.text().splitlines() if '"adding rule"' not in l or come in l)[-3000:])
                res = json.loads(r.stdout)
                first.append(res["first_us"])
                last.append(res["last_us"])
                time.sleep(0.2)
            agent_ms = [x / 1e3 for x in reconciled_us(d.text(), "config", False)[1:]]
        finally:
            d.stop()
    return {"cidrs": n, "repeats": repeats, "last_op_ms_median": statistics.median(last) / 1e3,
            "last_op_ms_max": max(last) / 1e3, "first_op_ms_median": statistics.median(first) / 1e3,
            "agent_reconcile_ms_median": statistics.median(agent_ms) if agent_ms else None}


# ---------------------------------------------------------------- 5. footprint
def bench_footprint(agent: str, n: int, tmp: Path, idle_s: float) -> dict:
    out = {}
    agent_kind = "static" if "static" in agent else "dynamic"
    hz = os.sysconf("SC_CLK_TCK")
    for label, count in (("idle", 2), (f"at_{n}", n)):
        cs, ps = cidrs(count, False), peers(False)
        cfg = write(tmp / f"fp-{count}.yaml", config_text(cs, ps))
        with Netns() as ns:
            d = Daemon(ns, agent, tmp, agent_env(METALLB_STATIC_FILE=cfg))
            try:
                wait_rules(ns, count)
                time.sleep(0.5)
                st = proc_status(d.p.pid)
                entry = {"rules": count, "rss_kib": kib(st["VmRSS"]), "hwm_kib": kib(st["VmHWM"])}
                if label == "idle":
                    c0 = cpu_ticks(d.p.pid)
                    w0 = int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"])
                    time.sleep(idle_s)
                    st = proc_status(d.p.pid)
                    entry["idle_seconds"] = idle_s
                    entry["idle_cpu_ms"] = (cpu_ticks(d.p.pid) - c0) * 1000 / hz
                    entry["idle_wakeups"] = int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"]) - w0
                    entry["rss_kib_after_idle"] = kib(st["VmRSS"])
            finally:
                d.stop()
        out[label] = entry
    out["binary"] = agent_kind
    return out


def stripped_size(path: str) -> int | None:
    if not path or not os.path.isfile(path):
        return None
    with tempfile.NamedTemporaryFile(delete=False) as t:
        name = t.name
    try:
        subprocess.run(["strip", "-o", name, path], check=True)
        return os.path.getsize(name)
    finally:
        os.unlink(name)


# ---------------------------------------------------------------- report
def fmt(v, unit="", nd=1):
    if v is None:
        return "n/a"
    return f"{v:,.{nd}f}{unit}"


def machine() -> dict:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", default="build/metallb-nra")
    ap.add_argument("--probe", default="")
    ap.add_argument("--static", default="build/static/metallb-nra", help="static binary, for its size (optional)")
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--big", type=int, default=10000, help="rules for the no-op, config-change and footprint figures")
    ap.add_argument("--imposter-rules", type=int, default=1000)
    ap.add_argument("--imposter-routes", type=int, default=100)
    ap.add_argument("--imposter-desired", type=int, default=1000, help="rules the daemon holds meanwhile")
    ap.add_argument("--idle-seconds", type=float, default=60)
    ap.add_argument("--repeats", type=int, default=10, help="config changes / no-op ticks measured")
    ap.add_argument("--out", default="bench/results.json")
    ap.add_argument("--only", default="", help="sections to run (default: all; nexthops not with --smoke)")
    ap.add_argument("--flows", type=int, default=2000, help="flows of the nexthop figure")
    ap.add_argument("--smoke", action="store_true", help="small N everywhere (CI: the benchmark cannot rot)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py needs root (network namespaces)")
    if a.smoke:
        a.sizes, a.big, a.imposter_rules, a.imposter_routes = "10,100", 200, 50, 10
        a.imposter_desired, a.idle_seconds, a.repeats = 100, 2, 2
    agent = os.path.abspath(a.agent)
    probe = os.path.abspath(a.probe or os.path.join(os.path.dirname(agent), "nra-bench-probe"))
    for f in (agent, probe):
        if not os.access(f, os.X_OK):
            sys.exit(f"missing {f} (run make first)")
    sizes = [int(x) for x in a.sizes.split(",")]
    only = set(a.only.split(",")) if a.only else {"cold", "noop", "imposters", "config", "footprint", "slow"}
    if not a.only and not a.smoke:
        only.add("nexthops")
    results = {"machine": machine(), "agent": agent, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "smoke": a.smoke}
    with tempfile.TemporaryDirectory(prefix="nra-bench-") as tmpd:
        tmp = Path(tmpd)
        print(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
              f"kernel {results['machine']['kernel']}\n", flush=True)

        if "cold" in only:
            print("1. cold convergence (ONESHOT on an empty kernel vs one `ip -batch` of the same rules)")
            print(f"   {'CIDRs':>7} {'family':>6} | {'ONESHOT':>10} {'in-process':>10} | {'ip -batch':>10} | {'ratio':>5} | {'converged rerun':>15}")
            results["cold"] = []
            for dual in (False, True):
                for n in sizes:
                    r = bench_cold(agent, n, dual, tmp)
                    results["cold"].append(r)
                    print(f"   {n:>7,} {'dual' if dual else 'IPv4':>6} | {fmt(r['oneshot_ms'], ' ms'):>10} "
                          f"{fmt(r['reconcile_ms'], ' ms'):>10} | {fmt(r['ip_batch_ms'], ' ms'):>10} | "
                          f"{r['ratio']:>5.2f} | {fmt(r['oneshot_converged_ms'], ' ms'):>15}", flush=True)
        if "noop" in only:
            print(f"\n2. no-op periodic reconcile, {a.big:,} rules held")
            r = results["noop"] = bench_noop(agent, a.big, tmp, a.repeats)
            print(f"   timer tick: reconcile median {fmt(r['reconcile_ms_median'], ' ms', 2)}, max {fmt(r['reconcile_ms_max'], ' ms', 2)} "
                  f"over {r['ticks']} ticks; system calls in one tick: {r['syscalls']} {r.get('by_call', '')}")
            print(f"   full resync (rules re-read; every 10th tick, SIGHUP): median {fmt(r['full_resync_ms_median'], ' ms', 2)}"
                  f"; `ip rule show` of the same rules: {fmt(r['ip_rule_show_ms_median'], ' ms', 2)}", flush=True)
        if "imposters" in only:
            print(f"\n3. imposter correction in the daemon ({a.imposter_desired:,} rules held; one at a time, "
                  "from the injection's ack to the deletion notification)")
            r = results["imposters"] = bench_imposters(agent, probe, a.imposter_rules, a.imposter_routes, a.imposter_desired, tmp)
            for k in ("rules", "routes"):
                x = r[k]
                print(f"   {x['n']:>5} {k:<6}: p50 {fmt(x['p50_us'], ' us', 0):>8}  p99 {fmt(x['p99_us'], ' us', 0):>8}  "
                      f"max {fmt(x['max_us'], ' us', 0):>8}")
            print(f"   table exact afterwards, nothing rate limited: {r['converged_after']}", flush=True)
        if "config" in only:
            print(f"\n4. config change: one CIDR swapped in a {a.big:,}-CIDR file (atomic rename)")
            r = results["config_change"] = bench_config_change(agent, probe, a.big, tmp, a.repeats)
            print(f"   rename -> last operation: median {fmt(r['last_op_ms_median'], ' ms', 2)}, max {fmt(r['last_op_ms_max'], ' ms', 2)}"
                  f" (first: {fmt(r['first_op_ms_median'], ' ms', 2)}; agent's reconcile {fmt(r['agent_reconcile_ms_median'], ' ms', 2)})",
                  flush=True)
        if "footprint" in only:
            print("\n5. footprint")
            static = os.path.abspath(a.static)
            results["footprint"] = {}
            for kind, binary in (("dynamic", agent), ("static", static)):
                if not os.access(binary, os.X_OK):
                    print(f"   {kind}: n/a (make static)")
                    continue
                r = results["footprint"][kind] = bench_footprint(binary, a.big, tmp, a.idle_seconds)
                i, b = r["idle"], r[f"at_{a.big}"]
                print(f"   {kind} binary, idle (2 rules): RSS {i['rss_kib'] / 1024:.1f} MiB (peak {i['hwm_kib'] / 1024:.1f} MiB); "
                      f"over {a.idle_seconds:g} s idle: CPU {i['idle_cpu_ms']:.0f} ms, {i['idle_wakeups']} wakeups")
                print(f"   {kind} binary, {a.big:,} rules: RSS {b['rss_kib'] / 1024:.1f} MiB (peak {b['hwm_kib'] / 1024:.1f} MiB)", flush=True)
            r = results["footprint"]
            sizes_b = {"dynamic_stripped": stripped_size(agent), "static_stripped": stripped_size(os.path.abspath(a.static))}
            r["binary_bytes"] = sizes_b
            print("   binary (stripped): dynamic " + (f"{sizes_b['dynamic_stripped'] / 2**20:.2f} MiB" if sizes_b["dynamic_stripped"] else "n/a")
                  + ", static " + (f"{sizes_b['static_stripped'] / 2**20:.2f} MiB" if sizes_b["static_stripped"] else "n/a (make static)"))

        if "slow" in only:
            nr, nt = max(a.imposter_rules // 5, 10), max(a.imposter_routes // 5, 5)
            print(f"\n6. imposter correction in Kubernetes mode while slow work is under way ({nr} rules + {nt} routes)")
            results["slow"] = []
            for kind, what in (("none", "nothing slow (baseline)"), ("exec", "an exec plugin run of 5 s"),
                               ("resolver", "the API server's name not resolving"),
                               ("script", "a pre-reconcile script sleeping 10 s")):
                r = bench_slow(agent, probe, kind, nr, nt, tmp)
                results["slow"].append(r)
                extra = ""
                if kind == "exec":
                    extra = f"; plugin still running when the probe ended: {r['plugin_still_running_after_probe']}"
                if kind == "resolver":
                    extra = f"; failed lookups logged: {r['lookup_failures_logged']}"
                if kind == "script":
                    extra = f"; script still running when the probe ended: {r['script_still_running_after_probe']}"
                print(f"   {what:<38}: p50 {fmt(r['p50_us'], ' us', 0):>8}  p99 {fmt(r['p99_us'], ' us', 0):>8}  "
                      f"max {fmt(r['max_us'], ' us', 0):>8}{extra}", flush=True)

        if "nexthops" in only:
            print(f"\n7. flow-stable failover: 4 peers, {a.flows:,} TCP flows (L4 hash), one peer leaves and comes back")
            results["nexthops"] = {"flows": []}
            for mode in ("off", "auto"):
                r = bench_nexthop_flows(agent, mode, a.flows, tmp)
                results["nexthops"]["flows"].append(r)
                f = r["flows"]
                print(f"   {r['layout']:<16}: leave moves {r['moved_on_leave']:>5} ({100 * r['moved_on_leave'] / f:.0f} %; "
                      f"{r['on_leaving_peer']} were on that peer), return moves {r['moved_on_return']:>5} "
                      f"({100 * r['moved_on_return'] / f:.0f} %)", flush=True)
            r = results["nexthops"]["failover"] = bench_nexthop_failover(agent, tmp, 8)
            print(f"   neighbour FAILED -> group without the peer (kernel event times): p50 "
                  f"{fmt(r['p50_us'], ' us', 0)}, max {fmt(r['max_us'], ' us', 0)} over {r['samples']} of {r['rounds']}",
                  flush=True)

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
