"""Test-side helper for the fake Kubernetes API server (stdlib only).

    from fakeapi.client import FakeApi      # or: sys.path.insert(0, "tests/fakeapi"); import client

    with FakeApi(fixtures=["shared/fixtures/metallb/samples/bgppeer_simple.yaml"]) as api:
        api.write_kubeconfig(path)                 # token auth, CA file
        api.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        api.add_fault(path="/bgppeers", type="watch", status=410, times=1)
        entry = api.wait_for_request(path="/bgppeers", type="watch")
        assert entry["params"]["resourceVersion"] == list_rv

FakeApi starts server.py as a subprocess with a fresh PKI in a temporary
directory (kept only while running), waits for the ready file and talks to
the control API over the admin Unix socket. With netns="NS" the server runs
under `ip netns exec NS` (bring `lo` up in NS first); the Unix socket keeps the
control API reachable from the host side. See server.py for the control API
and fault-rule fields.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
sys.path.insert(0, HERE)
import pki  # noqa: E402

DEFAULT_TOKEN = "fakeapi-token-1"


class AdminError(RuntimeError):
    def __init__(self, code: int, reply):
        super().__init__(f"admin call failed ({code}): {reply}")
        self.code, self.reply = code, reply


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class FakeApi:
    """A running fake API server (use as a context manager or call start/stop)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, tokens=(DEFAULT_TOKEN,), auth: bool = True,
                 netns: str | None = None, config: dict | None = None, fixtures=(), workdir: str | None = None,
                 cert_dir: str | None = None, server_cert: str | None = None, server_key: str | None = None,
                 client_certs: bool = True, proxy: bool = False, extra_args=(), verbose: bool = False):
        self.host, self.requested_port = host, port
        self.tokens = list(tokens)
        self.auth, self.netns, self.config = auth, netns, config or {}
        self.fixtures = list(fixtures)
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="fakeapi-")
        self.cert_dir = cert_dir or os.path.join(self.workdir, "pki")
        self.server_cert, self.server_key = server_cert, server_key
        self.client_certs = client_certs
        self.proxy = proxy
        self.extra_args = list(extra_args)
        self.verbose = verbose
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self.admin_socket = os.path.join(self.workdir, "admin.sock")
        self.log_path = os.path.join(self.workdir, "server.log")

    # -- lifecycle --
    def start(self, timeout: float = 20) -> "FakeApi":
        if not os.path.exists(os.path.join(self.cert_dir, "server.crt")):
            pki.generate(self.cert_dir)
        ready = os.path.join(self.workdir, "ready.json")
        if os.path.exists(ready):
            os.unlink(ready)
        cmd = [sys.executable, SERVER, "--cert-dir", self.cert_dir, "--host", self.host,
               "--port", str(self.requested_port), "--admin-socket", self.admin_socket,
               "--ready-file", ready, "--config", json.dumps(self.config)]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        for t in self.tokens:
            cmd += ["--token", t]
        if not self.auth:
            cmd.append("--no-auth")
        if not self.client_certs:
            cmd.append("--no-client-certs")
        if self.server_cert:
            cmd += ["--server-cert", self.server_cert, "--server-key", self.server_key]
        if self.proxy:
            cmd += ["--proxy-port", "0"]
        if self.fixtures:
            cmd += ["--fixtures", *self.fixtures]
        if self.verbose:
            cmd.append("--verbose")
        cmd += self.extra_args
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise RuntimeError(f"fake API server exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("fake API server did not become ready")
            time.sleep(0.02)
        with open(ready) as f:
            self.info = json.load(f)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
        self.proc = None
        if self._own_workdir and not os.environ.get("FAKEAPI_KEEP"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- addresses and files --
    @property
    def port(self) -> int:
        return self.info["port"]

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def proxy_url(self) -> str:
        """http://HOST:PORT of the CONNECT proxy (FakeApi(proxy=True))."""
        host = self.info["host"]
        return f"http://[{host}]:{self.info['proxy_port']}" if ":" in host else f"http://{host}:{self.info['proxy_port']}"

    @property
    def token(self) -> str:
        return self.tokens[0] if self.tokens else ""

    @property
    def files(self) -> dict:
        """PKI paths: ca, server_cert, client_cert, client_key, other_ca, other_client_cert, ..."""
        return pki.paths(self.cert_dir)

    # -- control API --
    def admin(self, method: str, path: str, body=None, *, raw: bytes | None = None,
              content_type: str = "application/json"):
        conn = _UnixHTTPConnection(self.admin_socket)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            headers = {"Content-Type": content_type} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            reply = json.loads(resp.read() or b"null")
        finally:
            conn.close()
        if resp.status != 200:
            raise AdminError(resp.status, reply)
        return reply

    def state(self) -> dict:
        return self.admin("GET", "/admin/state")

    def set_config(self, **config) -> dict:
        return self.admin("POST", "/admin/config", config)

    def put_object(self, *objects: dict, silent: bool = False) -> dict:
        """Create or replace objects (ADDED/MODIFIED events); returns {"resourceVersion", "results"}."""
        return self.admin("POST", "/admin/objects", {"objects": list(objects), "silent": silent})

    def put_yaml(self, text_or_path: str) -> dict:
        """Load objects from YAML text or a YAML file (multi-document)."""
        text = text_or_path
        if "\n" not in text_or_path and os.path.exists(text_or_path):
            with open(text_or_path) as f:
                text = f.read()
        return self.admin("POST", "/admin/objects", raw=text.encode(), content_type="application/yaml")

    def delete_object(self, kind_or_resource: str, name: str, namespace: str = "metallb-system",
                      silent: bool = False) -> dict:
        """kind_or_resource: "BGPPeer" or "bgppeers" (namespace is ignored for nodes)."""
        key = "kind" if kind_or_resource[:1].isupper() else "resource"
        return self.admin("POST", "/admin/delete", {key: kind_or_resource, "name": name,
                                                    "namespace": namespace, "silent": silent})

    def objects(self, resource: str | None = None) -> list[dict]:
        q = "?" + urllib.parse.urlencode({"resource": resource}) if resource else ""
        return self.admin("GET", "/admin/objects" + q)["items"]

    def bump(self, count: int = 1) -> str:
        return self.admin("POST", "/admin/bump", {"count": count})["resourceVersion"]

    def compact(self, resource_version: str | None = None) -> str:
        body = {} if resource_version is None else {"resourceVersion": resource_version}
        return self.admin("POST", "/admin/compact", body)["compacted"]

    def expire_continue(self):
        self.admin("POST", "/admin/expire-continue", {})

    def set_tokens(self, tokens) -> None:
        self.tokens = list(tokens)
        self.admin("POST", "/admin/tokens", {"tokens": self.tokens})

    def add_fault(self, **rule) -> int:
        """Install one fault rule (fields: see server.py); returns its id."""
        return self.admin("POST", "/admin/faults", {"rules": [rule]})["ids"][0]

    def add_faults(self, rules: list[dict], replace: bool = False) -> list[int]:
        return self.admin("POST", "/admin/faults", {"rules": rules, "replace": replace})["ids"]

    def faults(self) -> list[dict]:
        return self.admin("GET", "/admin/faults")["rules"]

    def clear_faults(self):
        self.admin("DELETE", "/admin/faults")

    def requests_log(self, path: str | None = None, type: str | None = None, since: int = 0) -> list[dict]:
        q = {"since": since}
        if path:
            q["path"] = path
        if type:
            q["type"] = type
        return self.admin("GET", "/admin/requests?" + urllib.parse.urlencode(q))["requests"]

    def clear_requests(self):
        self.admin("DELETE", "/admin/requests")

    def last_request_id(self) -> int:
        log = self.requests_log()
        return log[-1]["id"] if log else 0

    def wait_for_request(self, path: str | None = None, type: str | None = None, since: int = 0,
                         predicate=None, count: int = 1, timeout: float = 10) -> dict | list[dict]:
        """Wait until `count` matching requests were logged; returns the last (or all when count > 1)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.requests_log(path, type, since) if predicate is None or predicate(r)]
            if len(found) >= count:
                return found[-1] if count == 1 else found[:count]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no request path={path} type={type} (found {len(found)}/{count})")
            time.sleep(0.05)

    def watches(self) -> list[dict]:
        return self.admin("GET", "/admin/watches")["watches"]

    def wait_for_watch(self, path: str = "", count: int = 1, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = [w for w in self.watches() if path in w["path"]]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"no open watch on {path!r} ({len(found)}/{count})")
            time.sleep(0.05)

    def close_watches(self, path: str = "", mode: str = "abrupt") -> int:
        """mode: "abrupt" (FIN without TLS close_notify), "reset" (RST) or "clean" (0-size chunk)."""
        return self.admin("POST", "/admin/close-watches", {"path": path, "mode": mode})["closed"]

    def inject(self, path: str = "", *, event: dict | None = None, raw: str | None = None,
               error: dict | None = None) -> int:
        """Send an event / raw bytes / ERROR Status into the open watches whose path contains `path`."""
        body = {"path": path}
        for k, v in (("event", event), ("raw", raw), ("error", error)):
            if v is not None:
                body[k] = v
        return self.admin("POST", "/admin/watch-inject", body)["injected"]

    def set_listener(self, up: bool) -> dict:
        """up=False: connections are refused until set_listener(True) (same port)."""
        return self.admin("POST", "/admin/listener", {"up": up})

    def set_tls(self, cert: str, key: str, client_ca: str | None = None):
        """Serve another certificate (and, with client_ca, trust only that CA for client certificates)."""
        body = {"cert": cert, "key": key}
        if client_ca:
            body["client_ca"] = client_ca
        self.admin("POST", "/admin/tls", body)

    # -- kubeconfig --
    def write_kubeconfig(self, path: str, *, server: str | None = None, ca: str | None = "file",
                         token: str | None | bool = True, token_file: str | None = None,
                         client_cert: bool | tuple[str, str] = False, cert_data: bool = False,
                         insecure: bool = False, tls_server_name: str | None = None,
                         namespace: str | None = None, extra_cluster: dict | None = None,
                         extra_user: dict | None = None) -> str:
        """Write a kubeconfig for the agent and return its path.

        ca: "file" (certificate-authority: path), "data" (certificate-authority-data),
            a path to another CA file, or None. token: True = the current token, a string,
            or False/None. token_file: writes tokenFile. client_cert: True = the generated
            client cert, or a (cert, key) pair; cert_data=True inlines it as *-data."""
        files = self.files
        cluster = {"server": server or self.url}
        if ca == "data":
            cluster["certificate-authority-data"] = _b64file(files["ca"])
        elif ca == "file":
            cluster["certificate-authority"] = files["ca"]
        elif ca:
            cluster["certificate-authority"] = ca
        if insecure:
            cluster["insecure-skip-tls-verify"] = True
        if tls_server_name:
            cluster["tls-server-name"] = tls_server_name
        cluster.update(extra_cluster or {})
        user = {}
        if token is True:
            user["token"] = self.token
        elif token:
            user["token"] = token
        if token_file:
            user["tokenFile"] = token_file
        if client_cert:
            cert, key = (files["client_cert"], files["client_key"]) if client_cert is True else client_cert
            if cert_data:
                user["client-certificate-data"] = _b64file(cert)
                user["client-key-data"] = _b64file(key)
            else:
                user["client-certificate"] = cert
                user["client-key"] = key
        user.update(extra_user or {})
        context = {"cluster": "fake", "user": "fake"}
        if namespace:
            context["namespace"] = namespace
        lines = ["apiVersion: v1", "kind: Config", "current-context: fake", "clusters:", "- name: fake",
                 "  cluster:"]
        lines += [f"    {k}: {_yaml_scalar(v)}" for k, v in cluster.items()]
        lines += ["users:", "- name: fake", "  user:" + ("" if user else " {}")]
        lines += [f"    {k}: {_yaml_scalar(v)}" for k, v in user.items()]
        lines += ["contexts:", "- name: fake", "  context:"]
        lines += [f"    {k}: {_yaml_scalar(v)}" for k, v in context.items()]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path


def _b64file(path: str) -> str:
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def _yaml_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)  # JSON is YAML flow style (e.g. a user's exec block)
    return json.dumps(str(value))  # a double-quoted YAML scalar


def write_token_file(path: str, token: str, newline: bool = True) -> str:
    """Atomically (re)write a token file, like kubelet rotating a projected token."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(token + ("\n" if newline else ""))
    os.replace(tmp, path)
    return path
