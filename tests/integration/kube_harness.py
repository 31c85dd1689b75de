"""Shared pieces of the Kubernetes integration tests (test_kube_*.py).

Each test gets the usual namespace from netns.py plus a fake API server
(tests/fakeapi) running *inside* that namespace, so the agent reaches it over
the namespace's loopback (https://127.0.0.1:PORT) and the test drives it
through the admin Unix socket. Fixtures come from tests/fixtures/metallb/
(copied from MetalLB, see its SOURCE), never from outside the repository.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import Iterable

from netns import REPO, Agent, NetnsTestCase, Result, wait_until

sys.path.insert(0, str(REPO / "tests" / "fakeapi"))
from client import FakeApi, write_token_file  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "metallb"
SAMPLES = FIXTURES / "samples"
MNS = "metallb-system"  # MetalLB's namespace in every test


def sample(name: str) -> str:
    p = SAMPLES / name
    if not p.is_file():
        raise FileNotFoundError(f"fixture missing from the repository: {p}")
    return str(p)


# ---------------------------------------------------------------------------
# Objects


def configmap(config: str | None, name: str = "config", namespace: str = MNS) -> dict:
    o: dict = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}
    if config is not None:
        o["data"] = {"config": config}
    return o


def node(name: str, labels: dict | None = None, status: dict | None = None) -> dict:
    o: dict = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": dict(labels or {})}}
    if status is not None:
        o["status"] = status
    return o


def bgppeer(name: str, address: str | None, labels: dict | None = None, node_selectors: list | None = None,
            namespace: str = MNS, **spec) -> dict:
    s: dict = {"myASN": 64512, "peerASN": 64512}
    if address is not None:
        s["peerAddress"] = address
    if node_selectors is not None:
        s["nodeSelectors"] = node_selectors
    s.update(spec)
    md: dict = {"name": name, "namespace": namespace}
    if labels:
        md["labels"] = dict(labels)
    return {"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": md, "spec": s}


def pool(name: str, addresses: Iterable[str], labels: dict | None = None, namespace: str = MNS) -> dict:
    md: dict = {"name": name, "namespace": namespace}
    if labels:
        md["labels"] = dict(labels)
    return {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": md,
            "spec": {"addresses": list(addresses)}}


def advertisement(name: str, pools: list | None = None, selectors: list | None = None, peers: list | None = None,
                  namespace: str = MNS) -> dict:
    spec: dict = {}
    if pools is not None:
        spec["ipAddressPools"] = pools
    if selectors is not None:
        spec["ipAddressPoolSelectors"] = selectors
    if peers is not None:
        spec["peers"] = peers
    o: dict = {"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
               "metadata": {"name": name, "namespace": namespace}}
    if spec:
        o["spec"] = spec
    return o


def legacy_config(peers: Iterable, pools: Iterable[tuple[str, str, Iterable[str]]]) -> str:
    """peers: addresses, or (address, node_selectors) where node_selectors is a list of
    {"match-labels": {...}, "match-expressions": [...]} dicts (written as JSON flow style)."""
    lines = ["peers:"]
    peers = list(peers)
    if not peers:
        lines[-1] = "peers: []"
    for p in peers:
        addr, sels = (p, None) if isinstance(p, str) else p
        lines += ["- my-asn: 64512", f"  peer-address: {addr}", "  peer-asn: 64512"]
        if sels is not None:
            lines.append(f"  node-selectors: {json.dumps(sels)}")
    pools = list(pools)
    lines.append("address-pools:" if pools else "address-pools: []")
    for name, proto, addrs in pools:
        lines += [f"- name: {name}", f"  protocol: {proto}", f"  addresses: {json.dumps(list(addrs))}"]
    return "\n".join(lines) + "\n"


def cidrs_of(addresses: Iterable[str]) -> list[str]:
    """What the agent installs for pool addresses: CIDRs (host bits masked) and ranges, summarised and
    collapsed per family."""
    nets = []
    for a in addresses:
        if "-" in a:
            lo, hi = (x.strip() for x in a.split("-", 1))
            nets += ipaddress.summarize_address_range(ipaddress.ip_address(lo), ipaddress.ip_address(hi))
        else:
            nets.append(ipaddress.ip_network(a, strict=False))
    out = []
    for fam in (4, 6):
        out += [str(n) for n in ipaddress.collapse_addresses(n for n in nets if n.version == fam)]
    return sorted(out)


def only_family(cidrs: Iterable[str], family: int) -> list[str]:
    return [c for c in cidrs if ipaddress.ip_network(c).version == family]


# ---------------------------------------------------------------------------
# Test case


class KubeTestCase(NetnsTestCase):
    """A namespace, a fake API server inside it, and helpers to run the agent against it."""

    def setUp(self) -> None:
        super().setUp()
        self.apis: list[FakeApi] = []
        self._api_diag: list[str] = []

    # -- fake API server
    def start_api(self, fixtures: Iterable[str] = (), **kw) -> FakeApi:
        api = FakeApi(netns=self.ns.name, fixtures=list(fixtures), **kw)
        self.apis.append(api)
        self.addCleanup(api.stop)
        self.addCleanup(self._capture_api, api)  # runs before stop (cleanups are LIFO)
        api.start()
        return api

    def _capture_api(self, api: FakeApi) -> None:
        try:
            lines = []
            if api.proc is not None and api.proc.poll() is None:
                for r in api.requests_log()[-60:]:
                    lines.append(f"  #{r.get('id')} conn={r.get('conn')} {r.get('type')} {r.get('method', '')} "
                                 f"{r.get('path', '')}?{r.get('query', '')} -> {r.get('status')}"
                                 + (f" fault={r['fault']}" if r.get("fault") else "")
                                 + (f" user={r['user']}" if r.get("user") else ""))
            log = api.log()[-3000:]
            self._api_diag.append(f"--- fake API server {api.info.get('url', '?')} (last requests) ---\n"
                                  + "\n".join(lines) + (f"\n--- server log tail ---\n{log}" if log.strip() else ""))
        except Exception as e:
            self._api_diag.append(f"(fake API diagnostics unavailable: {e!r})")

    def _diagnostics_now(self) -> str:
        text = super()._diagnostics_now()
        extra = list(self._api_diag)
        if not extra:  # still running (diagnostics asked before the cleanups)
            for api in self.apis:
                self._capture_api(api)
            extra, self._api_diag = self._api_diag, []
        return text + ("\n" + "\n".join(extra) if extra else "")

    def kubeconfig(self, api: FakeApi, name: str = "kubeconfig", **kw) -> str:
        # outside etc/: nothing the agent could mistake for its static file directory
        return api.write_kubeconfig(str(self.ns.root / name), **kw)

    # -- namespace
    def add_address(self, cidr: str) -> None:
        """An extra address on v0 so a fixture's peer subnet is on-link."""
        if ":" in cidr:
            self.ns.ip("-6", "addr", "add", cidr, "dev", "v0", "nodad")
        else:
            self.ns.ip("addr", "add", cidr, "dev", "v0")

    # -- agent
    def kube_env(self, crds: bool = False, node: str | None = None, **extra) -> dict[str, str]:
        env = {"LOG_LEVEL": "debug", "METALLB_NAMESPACE": MNS}
        if crds:
            env["METALLB_USE_CRDS"] = "1"
        if node:
            env["NODE_NAME"] = node
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start_kube_agent(self, api: FakeApi | None = None, kubeconfig: str | None = None, crds: bool = False,
                         node: str | None = None, kubeconfig_kw: dict | None = None, **extra) -> Agent:
        if kubeconfig is None:
            kubeconfig = self.kubeconfig(api, **(kubeconfig_kw or {}))
        return self.ns.start_agent(self.kube_env(crds, node, **extra), ["--kubeconfig", kubeconfig])

    def kube_oneshot(self, api: FakeApi | None = None, kubeconfig: str | None = None, crds: bool = False,
                     node: str | None = None, expect_rc: int | None = 0, timeout: float = 60,
                     kubeconfig_kw: dict | None = None, **extra) -> Result:
        if kubeconfig is None:
            kubeconfig = self.kubeconfig(api, **(kubeconfig_kw or {}))
        r = self.ns.run_agent(self.kube_env(crds, node, ONESHOT="1", **extra), ["--kubeconfig", kubeconfig],
                              timeout=timeout)
        if expect_rc is not None:
            self.assertEqual(r.returncode, expect_rc, "unexpected exit code\n" + r.describe())
        return r

    # -- logs
    @staticmethod
    def logs_matching(logs: list[dict], *words: str, level: str | None = None) -> list[dict]:
        """Log lines whose JSON text contains every word (case-insensitive), optionally at a level."""
        out = []
        for l in logs:
            t = json.dumps(l, sort_keys=True).lower()
            if level is not None and l.get("level") != level:
                continue
            if all(w.lower() in t for w in words):
                out.append(l)
        return out

    def wait_agent_log(self, agent: Agent, *words: str, level: str | None = None, timeout: float = 10,
                       since: int = 0) -> dict:
        def find():
            got = self.logs_matching(agent.json_logs()[since:], *words, level=level)
            return got[-1] if got else None
        return wait_until(find, timeout, what=f"agent log line with {words}" + (f" at {level}" if level else ""))

    def config_changes(self, agent: Agent) -> int:
        """How many configurations the Kubernetes source delivered so far."""
        return len([l for l in agent.json_logs() if str(l.get("msg", "")).startswith("kube: configuration changed")])

    @staticmethod
    def first_request(api: FakeApi, path: str | None = None, type: str | None = None, since: int = 0,
                      predicate=None, timeout: float = 10) -> dict:
        """The FIRST request logged after id `since` that matches and has been answered (status set)."""
        def find():
            for r in api.requests_log(path, type, since):
                if r.get("status") is not None and (predicate is None or predicate(r)):
                    return r
            return None
        return wait_until(find, timeout, interval=0.05, what=f"a {type or ''} request on {path or '*'} after #{since}")

    def wait_watches(self, api: FakeApi, paths: Iterable[str], timeout: float = 10) -> None:
        for p in paths:
            api.wait_for_watch(p, timeout=timeout)

    def assert_oneshot_did_not_watch(self, api: FakeApi) -> None:
        """ONESHOT lists once, reconciles and exits: no watch request, and no connection opened for one
        and abandoned at exit (the server logs those as TLS errors)."""
        log = api.requests_log()
        watches = [f"{r['path']}?{r['query']}" for r in log if r.get("type") == "watch"]
        abandoned = [r for r in log if r.get("type") == "tls-error"]
        self.assertFalse(watches or abandoned,
                         f"ONESHOT opened watches: {watches}; connections abandoned mid-handshake: {len(abandoned)}")

    def assert_alive(self, agent: Agent) -> None:
        self.assertTrue(agent.alive(), "agent exited\n" + agent.describe())


__all__ = ["FakeApi", "write_token_file", "KubeTestCase", "FIXTURES", "SAMPLES", "MNS", "sample", "configmap",
           "node", "bgppeer", "pool", "advertisement", "legacy_config", "cidrs_of", "only_family", "wait_until"]
