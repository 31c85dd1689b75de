#!/usr/bin/env python3
"""The container image, built and run for real (`make image-test`).

    python3 tests/image/test_image.py [--binary build/static/metallb-nra] [-v] [-k PATTERN]

Builds the runtime image FROM scratch out of the stripped static binary
(deploy/Containerfile.local: no base image, no registry) with podman, then
runs it as the DaemonSet does: uid 0 with only CAP_NET_ADMIN (--cap-drop ALL),
read-only root without podman's extra tmpfs mounts, no privilege escalation,
no shell in the image, in a network namespace made by the test (veth pair,
`--network ns:/run/netns/NAME`):

- a static file mounted read-only: ONESHOT converges (read back with
  `ip -n NAME -j rule/route`), the daemon removes an imposter rule added with
  `ip`, SIGTERM (`podman stop`) exits 0 and leaves the routing in place;
- ConfigMap mode against the fake API server (tests/fakeapi/, TLS, inside the
  namespace) with in-cluster credentials mounted where the kubelet puts them
  (/var/run/secrets/kubernetes.io/serviceaccount): converges, follows a change;
- /healthz on METRICS_ADDRESS=":7474" (check_healthz).

Prints the image size. Root only (network namespaces). podman runs with
`--storage-driver vfs --runtime runc` and explicit ulimits (crun cannot set up
cgroups on every machine), with all its state under build/podman/ (never the
host's podman storage); image tags, container and namespace names are unique
per run, everything is removed on the way out, every wait is bounded.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "fakeapi"))
sys.path.insert(0, str(REPO / "tests" / "deploy"))

CONTAINERFILE = REPO / "deploy" / "Containerfile.local"
STATE = REPO / "build" / "podman"  # podman's storage, run root and temporary files: this build's, nobody else's
RUN_ID = f"{os.getpid()}-{int(time.time())}"
IMAGE = f"localhost/metallb-nra-test:{RUN_ID}"
TABLE = 20
METRICS_PORT = 7474
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

PEERS4, PEER6 = ("10.0.0.1", "10.0.0.3"), "fd00::1"
CONFIG = """\
peers:
- {peer-address: 10.0.0.1, peer-asn: 64500, my-asn: 64512}
- {peer-address: 10.0.0.3, peer-asn: 64500, my-asn: 64512}
- {peer-address: fd00::1, peer-asn: 64500, my-asn: 64512}
address-pools:
- name: a
  protocol: bgp
  addresses: [192.168.57.0/24, 198.51.100.10-198.51.100.13, fd57::/64]
"""
CIDRS = ["192.168.57.0/24", "198.51.100.10/31", "198.51.100.12/31", "fd57::/64"]
CONFIG2 = CONFIG.replace("192.168.57.0/24, ", "192.168.58.0/24, ")
CIDRS2 = ["192.168.58.0/24", "198.51.100.10/31", "198.51.100.12/31", "fd57::/64"]

ARGS = argparse.Namespace(binary=str(REPO / "build" / "static" / "metallb-nra"))
_counter = 0


def unique(prefix: str) -> str:
    global _counter
    _counter += 1
    return f"{prefix}-{os.getpid() % 100000}-{_counter}"  # netns and veth names stay short


def run(cmd: list[str], timeout: float = 60, check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p


def podman_base() -> list[str]:
    return ["podman", "--root", str(STATE / "storage"), "--runroot", str(STATE / "run"),
            "--tmpdir", str(STATE / "tmp"), "--storage-driver", "vfs", "--runtime", "runc",
            "--cgroup-manager", "cgroupfs", "--events-backend", "none"]


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(STATE / "tmp")}
    return run([*podman_base(), *args], timeout=timeout, check=check, env=env)


def wait_until(fn, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# The network namespace


class Netns:
    def __init__(self):
        self.name = unique("nra-img")
        run(["ip", "netns", "add", self.name])
        try:
            self.ip("link", "set", "lo", "up")
            run(["ip", "netns", "exec", self.name, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
                 "net.ipv6.conf.default.accept_dad=0"])
            self.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
            self.ip("link", "set", "v0", "up")
            self.ip("link", "set", "v1", "up")
            self.ip("addr", "add", "10.0.0.2/24", "dev", "v0")
            self.ip("-6", "addr", "add", "fd00::2/64", "dev", "v0", "nodad")
            self.ip("rule", "add", "from", "203.0.113.0/24", "lookup", "100", "priority", "100")  # foreign
        except BaseException:
            self.delete()
            raise

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["ip", "-n", self.name, *args], timeout=30, check=check)

    def json(self, *args: str) -> list[dict]:
        out = self.ip("-j", *args).stdout.strip()
        return json.loads(out) if out else []

    def rules(self, family: str) -> list[str]:
        """Sources of the rules that look up the managed table, as CIDRs."""
        out = []
        for r in self.json(family, "rule", "show", "table", str(TABLE)):
            src = r.get("src", "all")
            if src != "all" and "srclen" in r:
                src = f"{src}/{r['srclen']}"
            out.append(src if "/" in src or src == "all" else str(ipaddress.ip_network(src)))
        return sorted(out)

    def state(self) -> dict:
        """Rules (sources) and the default routes' gateways in the managed table, both families."""
        gws = []
        for fam in ("-4", "-6"):
            for r in self.json(fam, "route", "show", "table", str(TABLE)):
                hops = r.get("nexthops") or [r]
                gws += [h["gateway"] for h in hops if "gateway" in h]
        return {"rules": sorted(self.rules("-4") + self.rules("-6")), "gateways": sorted(gws)}

    def foreign_rule_present(self) -> bool:
        return any(r.get("src") == "203.0.113.0" and r.get("table") == "100" for r in self.json("rule", "show"))

    def delete(self) -> None:
        run(["ip", "netns", "del", self.name], check=False)


def configmap(config: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": "metallb-system"},
            "data": {"config": config}}


def converged(cidrs) -> dict:
    return {"rules": sorted(cidrs), "gateways": sorted([*PEERS4, PEER6])}


# ---------------------------------------------------------------------------
# /healthz (served by the agent on METRICS_ADDRESS)


def check_healthz(ns: Netns, host: str = "10.0.0.2", port: int = METRICS_PORT, timeout: float = 10) -> None:
    """GET http://HOST:PORT/healthz from inside the namespace, as the kubelet's liveness probe does with
    hostNetwork: expects 200 with the body `ok`. Retries connection failures for `timeout` seconds (the
    listener starts with the agent) and raises AssertionError naming what it got."""
    script = (
        "import http.client, sys\n"
        f"c = http.client.HTTPConnection({host!r}, {port}, timeout=3)\n"
        "c.request('GET', '/healthz')\n"
        "r = c.getresponse()\n"
        "sys.stdout.write(str(r.status) + '\\n' + r.read(4096).decode('utf-8', 'replace'))\n")
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        p = run(["ip", "netns", "exec", ns.name, sys.executable, "-c", script], timeout=15, check=False)
        if p.returncode == 0:
            status, _, body = p.stdout.partition("\n")
            if status == "200" and body.strip() == "ok":
                return
            raise AssertionError(f"GET /healthz on {host}:{port}: status {status}, body {body[:200]!r} "
                                 "(want 200 and `ok`)")
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        time.sleep(0.2)
    raise AssertionError(f"GET http://{host}:{port}/healthz: no answer within {timeout:.0f} s ({last}); "
                         "the agent serves nothing on METRICS_ADDRESS")


# ---------------------------------------------------------------------------
# The image


class Image:
    size = 0
    binary_size = 0
    built = False


_LOCK = None


def sweep_stale() -> None:
    """Leftovers of a run that was killed (SIGKILL, a timeout): with the lock held, every container and test
    image in this build's podman storage is stale; so is a namespace of ours whose process is gone."""
    global _LOCK
    import fcntl
    _LOCK = open(STATE / "lock", "w")
    try:
        fcntl.flock(_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise AssertionError(f"another image test is running on {STATE} (it holds {STATE / 'lock'})")
    podman("rm", "--all", "--force", "--time", "0", check=False, timeout=120)
    for line in podman("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split():
        if line.startswith("localhost/metallb-nra-test:"):
            podman("rmi", "--force", line, check=False)
    for line in run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if name.startswith("nra-img-") and len(parts) == 4 and parts[2].isdigit():
            if not any(Path(f"/proc/{pid}").exists() for pid in range(int(parts[2]), 2**22, 100000)):
                run(["ip", "netns", "del", name], check=False)


def build_image() -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "tmp").mkdir(exist_ok=True)
    sweep_stale()
    binary = Path(ARGS.binary)
    if not binary.is_file():
        raise AssertionError(f"{binary} missing: run `make static` first")
    with tempfile.TemporaryDirectory(prefix="ctx-", dir=STATE) as ctx:
        stripped = Path(ctx) / "metallb-nra"
        run(["strip", "-o", str(stripped), str(binary)])
        Image.binary_size = stripped.stat().st_size
        podman("build", "--quiet", "--pull=never", "-f", str(CONTAINERFILE), "-t", IMAGE, ctx, timeout=600)
    Image.built = True
    info = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
    Image.size = int(info["Size"])
    print(f"image-test: image {IMAGE}: {Image.size} bytes ({Image.size / 2**20:.2f} MiB); "
          f"stripped static binary {Image.binary_size} bytes", file=sys.stderr)


def remove_image() -> None:
    if Image.built:
        podman("rmi", "-f", IMAGE, check=False)


def setUpModule():
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (network namespaces, podman with runc)")
    if not shutil.which("podman") or not shutil.which("runc"):
        raise AssertionError("podman or runc missing: run third_party/install-image-deps.sh (make image-test does)")
    build_image()


def tearDownModule():
    remove_image()


class ImageTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.ns = Netns()
        self.addCleanup(self.ns.delete)
        self.work = Path(tempfile.mkdtemp(prefix="nra-image-"))
        self.addCleanup(shutil.rmtree, self.work, True)

    # -- the container, as the DaemonSet runs it
    def run_args(self, name: str, env: dict, mounts: list[tuple[str, str]]) -> list[str]:
        args = ["--name", name, "--pull=never", "--network", f"ns:{self.ns.path}",
                "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--security-opt", "no-new-privileges",
                "--user", "0:0", "--read-only", "--read-only-tmpfs=false", *ULIMITS]
        for k, v in {"METRICS_ADDRESS": f":{METRICS_PORT}", **env}.items():
            args += ["--env", f"{k}={v}"]
        for src, dst in mounts:
            args += ["--volume", f"{src}:{dst}:ro"]
        return [*args, IMAGE]

    def start(self, env: dict, mounts: list[tuple[str, str]]) -> str:
        name = unique("nra-img")
        self.addCleanup(self.remove_container, name)
        podman("run", "--detach", *self.run_args(name, env, mounts))
        return name

    def run_once(self, env: dict, mounts: list[tuple[str, str]], *, entrypoint: str | None = None,
                 args: tuple[str, ...] = (), timeout: float = 120) -> subprocess.CompletedProcess:
        """`podman run --rm`, in the foreground; removed even when the wait times out."""
        name = unique("nra-run")
        self.addCleanup(self.remove_container, name)
        pre = ["--entrypoint", entrypoint] if entrypoint else []
        return podman("run", "--rm", *pre, *self.run_args(name, env, mounts), *args, check=False, timeout=timeout)

    def remove_container(self, name: str) -> None:
        podman("rm", "--force", "--time", "5", name, check=False, timeout=60)

    def logs(self, name: str) -> str:
        p = podman("logs", name, check=False, timeout=30)
        return p.stdout + p.stderr

    def running(self, name: str) -> bool:
        p = podman("inspect", "--format", "{{.State.Running}}", name, check=False, timeout=30)
        return p.stdout.strip() == "true"

    def wait_state(self, name: str | None, want: dict, timeout: float = 20) -> None:
        def ok():
            if name is not None and not self.running(name):
                raise AssertionError(f"the agent's container exited:\n{self.logs(name)}")
            return self.ns.state() == want
        try:
            wait_until(ok, timeout, f"the routing {want}")
        except AssertionError as e:
            raise AssertionError(f"{e}\nkernel: {self.ns.state()}\n" + (self.logs(name) if name else ""))

    def stop(self, name: str) -> int:
        podman("stop", "--time", "10", name, timeout=60)  # SIGTERM, SIGKILL after 10 s
        return int(podman("inspect", "--format", "{{.State.ExitCode}}", name, timeout=30).stdout.strip())

    def static_config(self, text: str = CONFIG) -> tuple[str, str]:
        p = self.work / "config.yaml"
        p.write_text(text)
        p.chmod(0o644)
        return str(p), "/etc/metallb/config.yaml"


class StaticFileTest(ImageTestCase):
    def test_image_is_the_binary_alone(self):
        """One layer holding the binary; no shell to exec; the image is barely bigger than the binary."""
        info = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
        self.assertEqual(len(info["RootFS"]["Layers"]), 1, "FROM scratch + one COPY")
        self.assertEqual(info["Config"].get("Entrypoint"), ["/metallb-nra"])
        self.assertLess(Image.size - Image.binary_size, 64 * 1024, "nothing but the binary in the image")
        for sh in ("/bin/sh", "sh", "/busybox"):
            p = self.run_once({}, [], entrypoint=sh, args=("-c", "true"), timeout=60)
            self.assertNotEqual(p.returncode, 0, f"{sh} ran in the image:\n{p.stdout}{p.stderr}")
        p = self.run_once({}, [], args=("--version",), timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout + p.stderr, r"metallb-nra \S+")

    def test_oneshot_converges(self):
        r = self.run_once({"ONESHOT": "1", "METALLB_STATIC_FILE": "/etc/metallb/config.yaml"},
                          [self.static_config()])
        self.assertEqual(r.returncode, 0, f"ONESHOT in the container:\n{r.stdout}{r.stderr}")
        self.assertEqual(self.ns.state(), converged(CIDRS))
        routes = self.ns.json("-4", "route", "show", "table", str(TABLE))
        self.assertEqual([r["dst"] for r in routes], ["default"])
        self.assertEqual(sorted(h["weight"] for h in routes[0]["nexthops"]), [100, 100])
        self.assertTrue(self.ns.foreign_rule_present(), "the foreign rule was touched")

    def test_daemon_removes_an_imposter_and_sigterm_keeps_routing(self):
        name = self.start({"METALLB_STATIC_FILE": "/etc/metallb/config.yaml", "LOG_LEVEL": "debug"},
                          [self.static_config()])
        self.wait_state(name, converged(CIDRS))
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", str(TABLE),
                   "priority", "20")
        wait_until(lambda: not any(r.get("dst") == "8.8.8.8" for r in self.ns.json("rule", "show")),
                   10, "the imposter rule to be removed")
        self.wait_state(name, converged(CIDRS))
        self.assertEqual(self.stop(name), 0, f"exit status after SIGTERM\n{self.logs(name)}")
        self.assertEqual(self.ns.state(), converged(CIDRS), "SIGTERM leaves the routing in place")
        self.assertTrue(self.ns.foreign_rule_present())
        self.assertIn("imposter", self.logs(name).lower())


class ConfigMapModeTest(ImageTestCase):
    def test_configmap_mode_converges_and_follows_changes(self):
        from client import FakeApi  # tests/fakeapi
        api = FakeApi(netns=self.ns.name, workdir=str(self.work / "api"))
        self.addCleanup(api.stop)
        api.start()
        api.put_object(configmap(CONFIG))
        api.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {}}})
        sa = self.work / "serviceaccount"  # what the kubelet mounts into the pod
        sa.mkdir()
        (sa / "token").write_text(api.token)
        shutil.copyfile(api.files["ca"], sa / "ca.crt")
        (sa / "namespace").write_text("metallb-system")
        for f in sa.iterdir():
            f.chmod(0o644)
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port),
               "NODE_NAME": "node-1", "METALLB_USE_CRDS": "false", "METALLB_CONFIGMAP_NAME": "config",
               "LOG_LEVEL": "debug"}
        name = self.start(env, [(str(sa), "/var/run/secrets/kubernetes.io/serviceaccount")])
        self.wait_state(name, converged(CIDRS), timeout=30)
        api.put_object(configmap(CONFIG2))
        self.wait_state(name, converged(CIDRS2), timeout=30)
        self.assertEqual(self.stop(name), 0, self.logs(name))
        self.assertEqual(self.ns.state(), converged(CIDRS2))
        self.assertTrue(any(r.get("type") == "watch" for r in api.requests_log()), "the agent watched")


class HealthzTest(ImageTestCase):
    def test_healthz(self):
        """The liveness probe's request: GET /healthz on METRICS_ADDRESS (:7474) answers 200 `ok`."""
        name = self.start({"METALLB_STATIC_FILE": "/etc/metallb/config.yaml"}, [self.static_config()])
        self.wait_state(name, converged(CIDRS))
        check_healthz(self.ns)
        self.assertEqual(self.stop(name), 0, self.logs(name))


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--binary", default=ARGS.binary)
    ARGS, rest = parser.parse_known_args()
    prog = unittest.main(module=__name__, argv=[sys.argv[0], *rest], exit=False)
    if Image.size:
        print(f"image-test: image size {Image.size} bytes ({Image.size / 2**20:.2f} MiB), "
              f"stripped binary {Image.binary_size} bytes", file=sys.stderr)
    for reason in sorted({r for _, r in prog.result.skipped}):
        print(f"SKIPPED: {reason}", file=sys.stderr)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
