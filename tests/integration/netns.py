"""Throwaway network namespaces and agent processes for the integration tests.

Every test gets its own namespace ``nra-test-<random>`` with:

  lo up, a veth pair v0/v1 (both ends inside the namespace, both up),
  10.0.0.2/24 and fd00::2/64 (nodad) on v0,

so the "peers" 10.0.0.1, 10.0.0.3, 10.0.0.4, fd00::1, fd00::3 are on-link.
State is read back with ``ip -N -j`` (numeric table ids, JSON).  Everything is
torn down even when the test fails; names are unique, so tests are independent
and can run in parallel.

The agent binary, the monitor and the sanitizer flag come from the environment
(set by run.py): NRA_IT_AGENT, NRA_IT_MONITOR, NRA_IT_SANITIZED.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shutil
import signal as _signal_mod
import subprocess
import sys
import tempfile
import time
import unittest
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

AGENT = os.environ.get("NRA_IT_AGENT", str(REPO / "build" / "metallb-nra"))
MONITOR = os.environ.get("NRA_IT_MONITOR", "")
SANITIZED = os.environ.get("NRA_IT_SANITIZED", "") == "1"
OUR_PROTO = "245"

# Figures worth reporting (printed by run.py at the end, never asserted).
FIGURES: list[str] = []


def figure(text: str) -> None:
    FIGURES.append(text)
    fig_file = os.environ.get("NRA_IT_FIGURES")
    if fig_file:
        with open(fig_file, "a") as f:
            f.write(text + "\n")


def figure_value(name: str, value: float) -> None:
    """One sample of a measured figure; run.py prints n/median/p90/max per name."""
    fig_file = os.environ.get("NRA_IT_FIGURES")
    if fig_file:
        with open(fig_file, "a") as f:
            f.write(f"value\t{name}\t{value}\n")


SANITIZER_PATTERNS = (
    re.compile(r"ERROR: AddressSanitizer"),
    re.compile(r"ERROR: LeakSanitizer"),
    re.compile(r"runtime error:"),
)


def wait_until(pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
               what: str = "condition") -> Any:
    """Poll pred() until it returns a truthy value; return it. Raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # a predicate reading state may race with a change
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout:.1f}s waiting for {what}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise AssertionError(msg)
        time.sleep(interval)


def sh(cmd: list[str] | str, check: bool = True, input: str | None = None,
       timeout: float = 60) -> subprocess.CompletedProcess:
    if isinstance(cmd, str):
        cmd = ["sh", "-c", cmd]
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"command failed ({p.returncode}): {' '.join(cmd)}\n"
                           f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


# ---------------------------------------------------------------------------
# Agent processes


@dataclass
class Result:
    """A finished agent run."""
    argv: list[str]
    env: dict[str, str]
    returncode: int
    stdout: str
    stderr: str
    elapsed: float

    def json_logs(self) -> list[dict]:
        return parse_json_lines(self.stderr)

    def describe(self) -> str:
        envs = " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
        return (f"$ {envs} {' '.join(self.argv)}\n-> rc={self.returncode} in {self.elapsed:.3f}s\n"
                f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}")


def parse_json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


class Agent:
    """A daemon agent running inside a namespace; stdout/stderr go to files."""

    def __init__(self, ns: "Netns", env: dict[str, str], args: list[str], name: str):
        self.ns = ns
        self.env = dict(env)
        self.args = list(args)
        self.name = name
        # Logs live outside the config directory: the agent watches that directory, and writes to its
        # own log there would wake it up and hide bugs (e.g. a first reconcile that waits for an event).
        self.out_path = ns.out / f"{name}.stdout"
        self.err_path = ns.out / f"{name}.stderr"
        self.argv = ["ip", "netns", "exec", ns.name, AGENT, *args]
        self._out = open(self.out_path, "w")
        self._err = open(self.err_path, "w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, env=agent_env(env), stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, start_new_session=True)
        self.returncode: int | None = None

    # -- output
    def stderr(self) -> str:
        if not self._err.closed:
            self._err.flush()
        return self.err_path.read_text(errors="replace")

    def stdout(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.out_path.read_text(errors="replace")

    def json_logs(self) -> list[dict]:
        return parse_json_lines(self.stderr())

    def wait_log(self, pred: Callable[[dict], bool], timeout: float = 10.0, what: str = "log line") -> dict:
        def find():
            for obj in self.json_logs():
                if pred(obj):
                    return obj
            return None
        return wait_until(find, timeout, what=what)

    # -- lifecycle
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        # `ip netns exec` execs the agent, so the pid is the agent's.
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, sig: int = _signal_mod.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"agent did not exit within {timeout}s after signal {sig}")
        self.returncode = self.proc.returncode
        self._close()
        return self.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, _signal_mod.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
        self.returncode = self.proc.returncode
        self._close()

    def _close(self) -> None:
        for f in (self._out, self._err):
            if not f.closed:
                f.close()

    def describe(self) -> str:
        envs = " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
        rc = self.proc.poll()
        return (f"$ {envs} {' '.join(self.argv)}\n-> {'running' if rc is None else f'rc={rc}'}\n"
                f"--- stdout ---\n{self.stdout()}--- stderr ---\n{self.stderr()}")


def agent_env(extra: dict[str, str]) -> dict[str, str]:
    """A clean environment: nothing of the caller's agent variables leaks in."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra)
    return env


# ---------------------------------------------------------------------------
# Namespaces


class Netns:
    def __init__(self, prefix: str = "nra-test"):
        self.name = f"{prefix}-{secrets.token_hex(4)}"
        self.root = Path(tempfile.mkdtemp(prefix=self.name + "-"))
        self.dir = self.root / "etc"  # configs and scripts (the agent watches this directory)
        self.out = self.root / "out"  # agent/monitor logs and files written by test scripts
        self.dir.mkdir()
        self.out.mkdir()
        self.agents: list[Agent] = []
        self.results: list[Result] = []
        self.extra: list[subprocess.Popen] = []
        self._created = False

    # -- setup / teardown
    def create(self) -> "Netns":
        sh(["ip", "netns", "add", self.name])
        self._created = True
        try:
            # No DAD anywhere: link-local addresses and their routes are stable at once,
            # so before/after snapshots never race with address configuration.
            for k in ("net.ipv6.conf.all.accept_dad", "net.ipv6.conf.default.accept_dad"):
                self.run(["sysctl", "-qw", f"{k}=0"])
            self.ip("link", "set", "lo", "up")
            self.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
            self.ip("addr", "add", "10.0.0.2/24", "dev", "v0")
            self.ip("-6", "addr", "add", "fd00::2/64", "dev", "v0", "nodad")
            self.ip("link", "set", "v0", "up")
            self.ip("link", "set", "v1", "up")
            wait_until(self._settled, 5, what="links up and addresses valid")
        except BaseException:
            self.close()
            raise
        return self

    def _settled(self) -> bool:
        addrs = json.loads(self.ip("-j", "addr", "show", "dev", "v0").stdout)
        if not addrs or "UP" not in addrs[0].get("flags", []):
            return False
        for a in addrs[0].get("addr_info", []):
            if "tentative" in a or a.get("tentative"):
                return False
        return True

    def close(self) -> None:
        for a in self.agents:
            try:
                a.kill()
            except Exception:
                pass
        for p in self.extra:
            try:
                if p.poll() is None:
                    os.killpg(p.pid, _signal_mod.SIGKILL)
                    p.wait(5)
            except Exception:
                pass
        if self._created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            self._created = False
        if os.environ.get("NRA_IT_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Netns":
        return self.create()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- commands
    def run(self, cmd: list[str] | str, check: bool = True, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        return sh(["ip", "netns", "exec", self.name, *cmd], check=check, input=input, timeout=timeout)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh(["ip", "-n", self.name, *args], check=check)

    def ipj(self, *args: str) -> list[dict]:
        out = self.ip("-N", "-j", *args).stdout.strip()
        return json.loads(out) if out else []

    # -- state
    def rules(self, family: int | None = None) -> list[dict]:
        """All rules; each dict gets a 'family' key (4 or 6)."""
        out = []
        for fam in ((4, 6) if family is None else (family,)):
            for r in self.ipj(f"-{fam}", "rule", "show"):
                r["family"] = fam
                out.append(r)
        return out

    def routes(self, table: int | str, family: int | None = None) -> list[dict]:
        out = []
        for fam in ((4, 6) if family is None else (family,)):
            p = self.ip("-N", "-j", f"-{fam}", "route", "show", "table", str(table), check=False)
            if p.returncode != 0:
                if "does not exist" in p.stderr:  # an IPv6 table that was never created: empty
                    continue
                raise RuntimeError(f"ip route show table {table} failed: {p.stderr}")
            rs = json.loads(p.stdout) if p.stdout.strip() else []
            for r in rs:
                r["family"] = fam
                out.append(r)
        return out

    def table_rules(self, table: int) -> list[dict]:
        return [r for r in self.rules() if r.get("table") == str(table)]

    def foreign_snapshot(self, table: int) -> dict:
        """Everything the agent must never touch: rules not referencing `table`, routes of
        every other table (both families), links and addresses."""
        rules = [r for r in self.rules() if r.get("table") != str(table)]
        routes = []
        for fam in (4, 6):
            for r in self.ipj(f"-{fam}", "route", "show", "table", "all"):
                if r.get("table") == str(table):
                    continue
                r["family"] = fam
                routes.append(r)
        return {"rules": rules, "routes": routes,
                "links": sorted(json.dumps(l, sort_keys=True) for l in _strip_link_stats(self.ipj("link"))),
                "addrs": sorted(json.dumps(a, sort_keys=True) for a in _strip_link_stats(self.ipj("addr")))}

    def full_snapshot(self) -> dict:
        rules = self.rules()
        routes = []
        for fam in (4, 6):
            for r in self.ipj(f"-{fam}", "route", "show", "table", "all"):
                r["family"] = fam
                routes.append(r)
        return {"rules": rules, "routes": routes}

    # -- agent
    def run_agent(self, env: dict[str, str] | None = None, args: Iterable[str] = (),
                  timeout: float = 120) -> Result:
        env = dict(env or {})
        argv = ["ip", "netns", "exec", self.name, AGENT, *args]
        t0 = time.monotonic()
        try:
            p = subprocess.run(argv, env=agent_env(env), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=timeout)
            rc, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc = -999
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            err += f"\n[test harness: agent did not exit within {timeout}s, killed]\n"
        r = Result(argv, env, rc, out, err, time.monotonic() - t0)
        self.results.append(r)
        return r

    def start_agent(self, env: dict[str, str] | None = None, args: Iterable[str] = ()) -> Agent:
        a = Agent(self, env or {}, list(args), f"agent{len(self.agents)}")
        self.agents.append(a)
        return a

    def start_monitor(self, args: Iterable[str] = ("--table", "20")) -> Path | None:
        """Start the netlink monitor (if it exists) for diagnostics; returns its output file."""
        if not MONITOR or not os.access(MONITOR, os.X_OK):
            return None
        path = self.out / f"monitor{len(self.extra)}.out"
        f = open(path, "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.name, MONITOR, *args], stdout=f,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.extra.append(p)
        return path

    def all_agent_stderr(self) -> list[tuple[str, str]]:
        out = [(" ".join(r.argv), r.stderr) for r in self.results]
        out += [(" ".join(a.argv), a.stderr()) for a in self.agents]
        return out

    def write(self, name: str, text: str, mode: int | None = None) -> Path:
        p = self.dir / name
        p.write_text(text)
        if mode is not None:
            p.chmod(mode)
        return p


def _strip_link_stats(objs: list[dict]) -> list[dict]:
    # Counters and operstate of veth ends may change with traffic (IPv6 RS/ND); drop volatile keys.
    out = []
    for o in objs:
        o = {k: v for k, v in o.items() if k not in ("stats", "stats64", "operstate", "flags")}
        if "addr_info" in o:
            o["addr_info"] = [{k: v for k, v in a.items() if k not in ("valid_life_time", "preferred_life_time")}
                              for a in o["addr_info"]]
        out.append(o)
    return out


# ---------------------------------------------------------------------------
# Configuration files (legacy MetalLB YAML)


def legacy_yaml(peers: Iterable[str] = (), pools: Iterable[tuple[str, str, Iterable[str]]] = ()) -> str:
    """pools: (name, protocol, addresses)."""
    lines = ["---", "peers:"]
    peers = list(peers)
    if not peers:
        lines[-1] = "peers: []"
    for p in peers:
        lines += ["- my-asn: 64512", f"  peer-address: {p}", "  peer-asn: 64512"]
    pools = list(pools)
    lines.append("address-pools:" if pools else "address-pools: []")
    for name, proto, addrs in pools:
        lines += [f"- name: {name}", f"  protocol: {proto}", "  addresses:"]
        addrs = list(addrs)
        if not addrs:
            lines[-1] = "  addresses: []"
        for a in addrs:
            lines.append(f"  - {json.dumps(a)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Expected kernel state, in the shape `ip -N -j` prints


def expected_rule(cidr: str, table: int = 20, priority: int = 20, fwmark: str | None = None,
                  proto: str = OUR_PROTO) -> dict:
    net = ipaddress.ip_network(cidr, strict=True)
    r: dict[str, Any] = {"priority": priority, "family": net.version}
    if net.prefixlen == 0:
        r["src"] = "all"
    else:
        r["src"] = str(net.network_address)
        if net.prefixlen != net.max_prefixlen:
            r["srclen"] = net.prefixlen
    if fwmark:
        mark, _, mask = fwmark.partition("/")
        r["fwmark"] = hex(int(mark, 16))
        if mask and int(mask, 16) != 0xFFFFFFFF:
            r["fwmask"] = hex(int(mask, 16))
    r["table"] = str(table)
    r["protocol"] = proto
    return r


def canon_rule(r: dict) -> str:
    return json.dumps(r, sort_keys=True)


def canon_route(r: dict) -> str:
    """Normalise a route dict from `ip -j`: drop volatile/display-only keys."""
    d = {k: v for k, v in r.items() if k not in ("flags", "pref", "dev", "table")}
    if "nexthops" in d:
        nhs = [{"gateway": nh.get("gateway"), "weight": nh.get("weight")} for nh in d["nexthops"]]
        d["nexthops"] = sorted(nhs, key=lambda n: json.dumps(n, sort_keys=True))
    return json.dumps(d, sort_keys=True)


def expected_route(family: int, peers: list[str], weight: int = 100, dst: str = "default") -> dict:
    d: dict[str, Any] = {"dst": dst, "protocol": OUR_PROTO, "family": family}
    if family == 6:
        d["metric"] = 1024
    if len(peers) == 1:
        d["gateway"] = peers[0]
    else:
        d["nexthops"] = [{"gateway": p, "weight": weight} for p in peers]
    return d


def family_of(addr: str) -> int:
    return ipaddress.ip_address(addr.split("/")[0]).version


# ---------------------------------------------------------------------------
# Test base class


class NetnsTestCase(unittest.TestCase):
    """Each test gets a fresh namespace; teardown checks sanitizer output."""

    TABLE = 20
    maxDiff = None

    def setUp(self) -> None:
        if not os.access(AGENT, os.X_OK):
            self.skipTest(f"agent binary not found: {AGENT}")
        self.ns = Netns()
        self.ns.create()
        self.addCleanup(self.ns.close)
        self.addCleanup(self._check_sanitizers)
        self._diag: str | None = None
        self.addCleanup(self._capture_diagnostics)  # runs first: before agents are killed and files removed

    def _capture_diagnostics(self) -> None:
        try:
            self._diag = self._diagnostics_now()
        except Exception as e:
            self._diag = f"(diagnostics unavailable: {e!r})"

    # printed by run.py when a test fails (failures are reported after the cleanups ran)
    def diagnostics(self) -> str:
        return self._diag if self._diag is not None else self._diagnostics_now()

    def _diagnostics_now(self) -> str:
        parts = [f"namespace {self.ns.name}"]
        for r in self.ns.results:
            parts.append(r.describe())
        for a in self.ns.agents:
            parts.append(a.describe())
        for p in sorted(self.ns.out.glob("monitor*.out")):
            parts.append(f"--- {p.name} ---\n{p.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def _check_sanitizers(self) -> None:
        if not SANITIZED:
            return
        bad = []
        for argv, text in self.ns.all_agent_stderr():
            for line in text.splitlines():
                if any(p.search(line) for p in SANITIZER_PATTERNS):
                    bad.append(f"{argv}: {line}")
        if bad:
            self.fail("sanitizer reports in agent stderr:\n" + "\n".join(bad))

    # -- config helpers
    def write_config(self, peers=(), pools=(), name: str = "metallb-config.yaml") -> Path:
        return self.ns.write(name, legacy_yaml(peers, pools))

    def base_env(self, cfg: Path | None, **extra: str) -> dict[str, str]:
        env = {"LOG_LEVEL": "debug"}
        if cfg is not None:
            env["METALLB_STATIC_FILE"] = str(cfg)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def oneshot(self, cfg: Path | None, args=(), expect_rc: int | None = 0, **extra: str) -> Result:
        env = self.base_env(cfg, ONESHOT="1", **extra)
        r = self.ns.run_agent(env, args)
        if expect_rc is not None:
            self.assertEqual(r.returncode, expect_rc, "unexpected exit code\n" + r.describe())
        return r

    # -- foreign state
    def seed_foreign(self, table: int | None = None) -> dict:
        """Install rules and routes the agent must leave alone; return the foreign snapshot."""
        t = self.TABLE if table is None else table
        ip = self.ns.ip
        other = 100 if t != 100 else 101
        ip("rule", "add", "from", "192.168.57.0/24", "lookup", str(other), "priority", "20")
        ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", str(other), "priority", "21")
        ip("rule", "add", "from", "all", "fwmark", "0x14", "lookup", str(other), "priority", "19")
        ip("rule", "add", "from", "10.1.0.0/16", "lookup", "main", "priority", "500", "proto", "static")
        ip("rule", "add", "from", "10.2.0.0/16", "prohibit", "priority", "501")
        ip("rule", "add", "from", "10.3.0.0/16", "goto", "32766", "priority", "19")
        ip("-6", "rule", "add", "from", "fd10::/64", "lookup", str(other), "priority", "20")
        ip("-6", "rule", "add", "from", "all", "iif", "v1", "lookup", "main", "priority", "600")
        ip("route", "add", "default", "via", "10.0.0.4", "table", str(other))
        ip("route", "add", "10.77.0.0/16", "via", "10.0.0.3")
        ip("route", "add", "10.78.0.0/16", "table", str(other), "nexthop", "via", "10.0.0.1", "weight", "3",
           "nexthop", "via", "10.0.0.3", "weight", "5")
        ip("route", "add", "unreachable", "10.79.0.0/16", "table", str(other))
        ip("-6", "route", "add", "default", "via", "fd00::3", "table", str(other))
        ip("-6", "route", "add", "fd77::/48", "via", "fd00::1")
        return self.ns.foreign_snapshot(t)

    def assert_foreign_unchanged(self, before: dict, table: int | None = None) -> None:
        t = self.TABLE if table is None else table
        after = self.ns.foreign_snapshot(t)
        for k in before:
            a = sorted(json.dumps(x, sort_keys=True) if not isinstance(x, str) else x for x in before[k])
            b = sorted(json.dumps(x, sort_keys=True) if not isinstance(x, str) else x for x in after[k])
            self.assertEqual(a, b, f"foreign {k} changed (outside table {t})")

    # -- managed state
    def managed_rules(self, table: int | None = None) -> list[str]:
        t = self.TABLE if table is None else table
        return sorted(canon_rule(r) for r in self.ns.table_rules(t))

    def managed_routes(self, table: int | None = None) -> list[str]:
        t = self.TABLE if table is None else table
        return sorted(canon_route(r) for r in self.ns.routes(t))

    def want_rules(self, cidrs: Iterable[str], table: int | None = None, priority: int = 20,
                   fwmark: str | None = None) -> list[str]:
        t = self.TABLE if table is None else table
        return sorted(canon_rule(expected_rule(c, t, priority, fwmark)) for c in cidrs)

    def want_routes(self, peers: Iterable[str], weight: int = 100, dst4: str = "default",
                    dst6: str = "default") -> list[str]:
        peers = list(peers)
        out = []
        for fam, dst in ((4, dst4), (6, dst6)):
            ps = [p for p in peers if family_of(p) == fam]
            if ps:
                out.append(canon_route(expected_route(fam, ps, weight, dst)))
        return sorted(out)

    def state_is(self, cidrs, peers, table=None, priority=20, fwmark=None, weight=100,
                 dst4="default", dst6="default") -> bool:
        return (self.managed_rules(table) == self.want_rules(cidrs, table, priority, fwmark)
                and self.managed_routes(table) == self.want_routes(peers, weight, dst4, dst6))

    def assert_state(self, cidrs, peers, table=None, priority=20, fwmark=None, weight=100,
                     dst4="default", dst6="default") -> None:
        self.assertEqual(self.managed_rules(table), self.want_rules(cidrs, table, priority, fwmark),
                         "rules referencing the table")
        self.assertEqual(self.managed_routes(table), self.want_routes(peers, weight, dst4, dst6),
                         "routes in the table")

    def wait_state(self, cidrs, peers, timeout: float = 10.0, **kw) -> None:
        try:
            wait_until(lambda: self.state_is(cidrs, peers, **kw), timeout, what="desired state")
        except AssertionError:
            self.assert_state(cidrs, peers, **kw)  # fails with a diff
            raise


def kernel_change_lines(logs: list[dict]) -> list[dict]:
    return [l for l in logs if re.match(r"(?i)(adding|removing|replacing|deleting|flushing)\b", str(l.get("msg", "")))]


def log_text(obj: dict) -> str:
    return json.dumps(obj, sort_keys=True)
