#!/usr/bin/env python3
"""Fake Kubernetes API server for metallb-node-route-agent tests (stdlib only).

It speaks the parts of the real wire protocol the agent uses (see
shared/docs/kube-api.md): discovery, LIST with pagination and
resourceVersion semantics, chunked WATCH streams with bookmarks and 410s,
bearer-token and client-certificate authentication, plus fault injection
and a control API for tests.

Running
-------
    python3 server.py --cert-dir DIR [--host 127.0.0.1] [--port 0]
                      [--admin-port 0] [--admin-socket PATH]
                      [--ready-file F] [--token T ...] [--no-auth]
                      [--client-ca FILE] [--server-cert F --server-key F]
                      [--fixtures FILE ...] [--config JSON] [--proxy-port 0]
                      [--verbose]
    python3 server.py --generate-ca DIR        # create a throwaway PKI and exit

--cert-dir must hold server.crt/server.key (and ca.crt, used to verify client
certificates unless --client-ca says otherwise); it is generated with pki.py
when server.crt is missing. Once both listeners are up, the ready file gets
{"pid", "host", "port", "url", "ca", "admin_port", "admin_socket", "cert_dir",
"proxy_port"}. --proxy-port also starts an HTTP CONNECT proxy (for proxy-url
tests; each CONNECT is logged as a request of type "proxy").
--host may be an IPv6 literal (::1) or any 127.0.0.x address.

Network namespaces
------------------
The agent under test runs inside a network namespace. Run the server inside
the same namespace so that loopback works there:

    ip -n NS link set lo up
    ip netns exec NS python3 server.py --cert-dir D --admin-socket D/admin.sock ...

The admin TCP port then lives in the namespace too, but the admin Unix socket
(--admin-socket) is a file, reachable from the host: client.py always talks to
the admin API through it. The ready file is written on the shared filesystem.

Model
-----
One global resourceVersion counter (like etcd's revision) is shared by every
collection; each write bumps it. Every collection keeps its full event
history; "compaction" only moves a watermark: watches and Exact lists below
it get 410. bgppeers is stored once and served as every configured version
(v1beta1 output drops the v1beta2-only fields, as the conversion webhook
does). Items of built-in lists (nodes, configmaps) carry no kind/apiVersion.

Control API (plain HTTP, JSON bodies; TCP on --admin-host:--admin-port and/or
the Unix socket --admin-socket)
------------------------------------------------------------------------------
GET  /admin/health                 {"ok": true}
GET  /admin/state                  {"resourceVersion", "compacted", "listening", "open_watches"}
GET  /admin/config                 current config (see DEFAULT_CONFIG)
POST /admin/config                 {key: value, ...} merged into the config
POST /admin/objects                create/replace objects -> ADDED/MODIFIED events. Body: one object,
                                   a list, {"objects": [...], "silent": bool}, or YAML text (Content-Type
                                   containing "yaml"). "silent" changes the store without any watch
                                   event (simulates changes missed while no watch was open).
                                   Reply {"resourceVersion", "results": [{"resource", "namespace",
                                   "name", "type", "resourceVersion"}]}
GET  /admin/objects?resource=R     current objects of resource R (all when omitted)
POST /admin/delete                 {"resource"|"kind"(+"apiVersion"), "namespace", "name", "silent"}
                                   -> DELETED event carrying the last state; 404 if absent
POST /admin/bump                   {"count": n} advance the global RV without touching any object
POST /admin/compact                {"resourceVersion": RV (optional, default: current)}
POST /admin/expire-continue        every continue token issued so far now gets 410 Expired
POST /admin/tokens                 {"tokens": ["a", "b"]} replace the accepted bearer tokens
POST /admin/faults                 {"rules": [RULE, ...], "replace": bool} (or one RULE) -> {"ids": [...]}
GET  /admin/faults                 installed rules with their "hits"
DELETE /admin/faults               remove all rules
GET  /admin/requests?since=ID&path=SUBSTR&type=list|watch|get|discovery|connect
                                   request log entries: {"id", "time", "conn", "method", "path",
                                   "query", "params", "headers", "type", "sni", "alpn", "tls_version",
                                   "client_cert_cn", "user", "status", "fault"}
DELETE /admin/requests             clear the log
GET  /admin/watches                open streams (watches, and connections held by a "silence"
                                   fault): {"id", "path", "query", "conn", "events", "rv"}
POST /admin/close-watches          {"path": SUBSTR, "mode": "abrupt"|"reset"|"clean"} -> {"closed": n}
                                   abrupt = FIN without TLS close_notify or 0-size chunk, reset =
                                   TCP RST, clean = 0-size chunk (held connections just close)
POST /admin/watch-inject           {"path": SUBSTR, and one of "event": {...} | "raw": "text" |
                                   "error": {"code", "reason", "message"}} -> {"injected": n}; an
                                   ERROR ends the stream (0-size chunk) like the real server
POST /admin/listener               {"up": false} stop accepting (connection refused), {"up": true}
                                   listen again on the same port
POST /admin/tls                    {"cert": PATH, "key": PATH, "client_ca": PATH (optional)} serve another
                                   certificate (and trust another client CA) from now on

Fault rules
-----------
Matching (all optional): "method", "path" (substring of the URL path), "query"
(substring of the raw query), "type" (list|watch|get|discovery|other),
"stage" ("request" (default) or "connect": applied right after TCP accept,
before TLS), "skip" (let the first N matches through), "times" (apply to N
requests, default unlimited). The first applicable rule wins.

Effects on any request:
  "delay": seconds before answering
  "status": code, with "reason", "message", "causes": [{"reason","message"}],
      "retry_after" (Retry-After header), "retry_after_seconds" (details),
      "body" (raw body instead of a Status, e.g. HTML) + "content_type",
      "headers": {extra response headers}
  "action": "close" (close without answer), "reset" (TCP RST),
      "silence" (read the request, never answer), "headers_then_silence"
      (200 + chunked headers, then nothing), "cut_body" (lists: declare the
      full Content-Length, send half, close); "silence_seconds" bounds both
      silences (default 3600; close-watches ends them too);
      "endless_headers" (status line, then 4 KiB header lines until the client
      goes away or "endless_bytes" (default 1 GiB) were sent; the bytes sent
      are recorded in the request log entry as "sent")
  connect stage actions: "close", "reset", "silence" (TCP accepted, no TLS
      handshake), "garbage" (plaintext bytes instead of a TLS ServerHello)
Lists: "list_encoding": "length"|"chunked", "chunk_size", "connection_close",
  "ignore_limit", "endless_continue": N (every page, whatever its continue
  token, holds N fresh copies of the first matching object under new names
  "<name>-flood-<page>-<i>" and a further continue token: an endless chain)
Watches: "chunk_size" (1 = every byte its own chunk; alias "split_bytes": true),
  "events_per_chunk" (coalesce N events per chunk), "chunk_ext" (e.g. ";a=b",
  added to every chunk-size line), "trailers" ({name: value} after the last
  chunk), "dribble_delay" (seconds between one-byte chunks), "line_ending"
  ("\\n" or "\\r\\n"), "blank_lines" (empty line before each event),
  "error_after_events" N + "error" {"code","reason","message"} (ERROR event then
  clean end), "cut_after_events" N (abrupt close; with "cut_mid_object" the
  (N+1)th event is sent half), "cut_after_seconds" (abrupt close),
  "close_after_events" N / "close_after_seconds" S (clean end, like an early
  timeoutSeconds; 0 = right after the headers), "expired_mode"
  ("event"|"http") for too-old RVs.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import copy
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pki  # noqa: E402
import yamllite  # noqa: E402


# --------------------------------------------------------------------------
# Resource types and configuration
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ResourceType:
    group: str
    resource: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...]  # all versions this type can be served as, oldest first
    singular: str
    short_names: tuple[str, ...] = ()
    builtin: bool = False
    # Fields dropped when an object is rendered in an older version (conversion).
    dropped_fields: dict = field(default_factory=dict, compare=False, hash=False)
    # Served only when config "served_versions" names it (a CRD of another
    # project, absent from most clusters).
    opt_in: bool = False

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def group_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def qualified(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


_V1BETA2_ONLY = ("connectTime", "disableMP", "dualStackAddressFamily", "dynamicASN",
                 "enableGracefulRestart", "interface", "localASN", "passwordSecret", "vrf")

RESOURCE_TYPES = [
    ResourceType("", "configmaps", "ConfigMap", True, ("v1",), "configmap", ("cm",), builtin=True),
    ResourceType("", "nodes", "Node", False, ("v1",), "node", ("no",), builtin=True),
    ResourceType("", "namespaces", "Namespace", False, ("v1",), "namespace", ("ns",), builtin=True),
    ResourceType("metallb.io", "bgppeers", "BGPPeer", True, ("v1beta1", "v1beta2"), "bgppeer",
                 dropped_fields={"v1beta1": _V1BETA2_ONLY}),
    ResourceType("metallb.io", "ipaddresspools", "IPAddressPool", True, ("v1beta1",), "ipaddresspool"),
    ResourceType("metallb.io", "bgpadvertisements", "BGPAdvertisement", True, ("v1beta1",), "bgpadvertisement"),
    ResourceType("metallb.io", "l2advertisements", "L2Advertisement", True, ("v1beta1",), "l2advertisement"),
    ResourceType("metallb.io", "bfdprofiles", "BFDProfile", True, ("v1beta1",), "bfdprofile"),
    ResourceType("frrk8s.metallb.io", "bgpsessionstates", "BGPSessionState", True, ("v1beta1",), "bgpsessionstate",
                 opt_in=True),
]
BY_RESOURCE = {(t.group, t.resource): t for t in RESOURCE_TYPES}
BY_KIND = {(t.group, t.kind): t for t in RESOURCE_TYPES}

DEFAULT_CONFIG = {
    # resource -> served versions, overriding ResourceType.versions; e.g.
    # {"bgppeers": ["v1beta1"]}; [] removes the resource from discovery.
    # frr-k8s's bgpsessionstates are served only when named here
    # ({"bgpsessionstates": ["v1beta1"]}).
    "served_versions": {},
    "bookmark_interval": 60.0,        # seconds between BOOKMARKs (when allowed)
    "bookmark_before_close": True,    # BOOKMARK right before the timeoutSeconds close
    "default_watch_timeout": 1800,    # seconds, when timeoutSeconds is absent or 0
    "list_encoding": "length",        # "length" (Content-Length) or "chunked"
    "list_chunk_size": 16384,
    "rv0_ignores_limit": True,        # resourceVersion=0 lists ignore limit (watch cache)
    "continue_ttl": 300.0,            # seconds before a continue token expires
    "expired_watch_mode": "event",    # too-old watch RV: "event" (200 + ERROR 410) or "http" (410)
    "expired_reason": "Expired",      # "Gone" mimics apiservers <= 1.17
    "rv_prefix": "",                  # e.g. "rv-" for non-numeric resourceVersions
    "deprecation_warnings": True,     # Warning header on bgppeers v1beta1
    "idle_timeout": 300.0,            # keep-alive idle timeout of API connections
    "path_prefix": "",                # e.g. "/k8s": the API is served under this prefix only
    "log_bodies": False,
    # CONNECT proxy (--proxy-port): "proxy_auth": "user:password" requires that
    # Proxy-Authorization (Basic) and answers 407 otherwise; "proxy_refuse":
    # {"status": 403, "reason": "Forbidden"} refuses every CONNECT.
    "proxy_auth": None,
    "proxy_refuse": None,
}


def status_body(code: int, reason: str, message: str, details: dict | None = None,
                metadata: dict | None = None) -> dict:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": metadata or {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ApiError(Exception):
    """An error answered with a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None,
                 metadata: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details, self.metadata = details, metadata


# --------------------------------------------------------------------------
# Selectors
# --------------------------------------------------------------------------

def _split_top(text: str) -> list[str]:
    """Split a selector on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for c in text:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += c
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_field_selector(text: str | None):
    """Returns a predicate; supports metadata.name / metadata.namespace with =, ==, !=."""
    if not text:
        return lambda obj: True
    reqs = []
    for part in _split_top(text):
        for op in ("!=", "==", "="):
            if op in part:
                key, value = part.split(op, 1)
                break
        else:
            raise ApiError(400, "BadRequest", f'invalid field selector "{text}"')
        key = key.strip()
        if key not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest",
                           f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        reqs.append((key.split(".")[1], op != "!=", value.strip()))

    def pred(obj):
        md = obj.get("metadata", {})
        return all((md.get(k, "") == v) == eq for k, eq, v in reqs)
    return pred


def parse_label_selector(text: str | None):
    """Returns a predicate for k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b)."""
    if not text:
        return lambda obj: True
    reqs = []
    for part in _split_top(text):
        words = part.split(None, 1)
        if len(words) == 2 and words[1].split(None, 1)[0] in ("in", "notin"):
            op, rest = words[1].split(None, 1)
            values = {v.strip() for v in rest.strip().strip("()").split(",") if v.strip()}
            reqs.append((words[0], op, values))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "!", None))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "=" in part:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            reqs.append((k.strip(), "=", v.strip()))
        else:
            reqs.append((part, "exists", None))

    def ok(labels, key, op, value):
        present = key in labels
        if op == "=":
            return present and labels[key] == value
        if op == "!=":
            return not present or labels[key] != value
        if op == "in":
            return present and labels[key] in value
        if op == "notin":
            return not present or labels[key] not in value
        if op == "exists":
            return present
        return not present

    def pred(obj):
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(ok(labels, k, op, v) for k, op, v in reqs)
    return pred


# --------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------

@dataclass
class Event:
    rv: int
    type: str        # ADDED | MODIFIED | DELETED
    obj: dict
    prev: dict | None
    hidden: bool = False


class Collection:
    def __init__(self, rtype: ResourceType):
        self.rtype = rtype
        self.objects: dict[tuple[str, str], dict] = {}
        self.history: list[Event] = []
        self.rvs: list[int] = []


class Store:
    """Objects, event history and the global resourceVersion.

    `cond` guards everything and is notified on every change, so watch
    threads can sleep on it."""

    def __init__(self, rv_prefix: str = ""):
        self.cond = threading.Condition()
        self.rv = 100
        self.compacted = 0
        self.rv_prefix = rv_prefix
        self.collections = {(t.group, t.resource): Collection(t) for t in RESOURCE_TYPES}

    def fmt(self, rv: int) -> str:
        return f"{self.rv_prefix}{rv}"

    def parse(self, text: str) -> int:
        body = text[len(self.rv_prefix):] if self.rv_prefix and text.startswith(self.rv_prefix) else text
        try:
            value = int(body)
        except ValueError:
            raise ApiError(400, "BadRequest", f'invalid resource version "{text}"') from None
        if value < 0:
            raise ApiError(400, "BadRequest", f'invalid resource version "{text}"')
        return value

    def collection(self, rtype: ResourceType) -> Collection:
        return self.collections[(rtype.group, rtype.resource)]

    @staticmethod
    def resolve(obj: dict) -> ResourceType:
        api_version = obj.get("apiVersion", "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        rtype = BY_KIND.get((group, obj.get("kind", "")))
        if rtype is None:
            raise ValueError(f"unknown kind {obj.get('kind')!r} in {api_version!r}")
        return rtype

    def _record(self, coll: Collection, etype: str, obj: dict, prev: dict | None, hidden: bool):
        coll.history.append(Event(self.rv, etype, obj, prev, hidden))
        coll.rvs.append(self.rv)
        self.cond.notify_all()

    def put(self, obj: dict, silent: bool = False) -> dict:
        rtype = self.resolve(obj)
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            raise ValueError("metadata.name is required")
        if rtype.namespaced:
            md.setdefault("namespace", "default")
        else:
            md.pop("namespace", None)
        key = (md.get("namespace", ""), md["name"])
        with self.cond:
            coll = self.collection(rtype)
            prev = coll.objects.get(key)
            self.rv += 1
            md["resourceVersion"] = self.fmt(self.rv)
            if prev:
                md["uid"] = prev["metadata"]["uid"]
                md["creationTimestamp"] = prev["metadata"]["creationTimestamp"]
                md["generation"] = prev["metadata"].get("generation", 1) + (
                    1 if prev.get("spec") != obj.get("spec") else 0)
            else:
                md.setdefault("uid", str(uuid.uuid4()))
                md.setdefault("creationTimestamp", now_rfc3339())
                md.setdefault("generation", 1)
            coll.objects[key] = obj
            etype = "MODIFIED" if prev else "ADDED"
            self._record(coll, etype, obj, prev, silent)
            return {"resource": rtype.resource, "namespace": key[0], "name": key[1], "type": etype,
                    "resourceVersion": md["resourceVersion"]}

    def delete(self, rtype: ResourceType, namespace: str, name: str, silent: bool = False) -> dict:
        key = (namespace if rtype.namespaced else "", name)
        with self.cond:
            coll = self.collection(rtype)
            prev = coll.objects.pop(key, None)
            if prev is None:
                raise KeyError(f"{rtype.qualified} {namespace}/{name} not found")
            self.rv += 1
            obj = copy.deepcopy(prev)
            obj["metadata"]["resourceVersion"] = self.fmt(self.rv)
            self._record(coll, "DELETED", obj, prev, silent)
            return {"resource": rtype.resource, "namespace": key[0], "name": name, "type": "DELETED",
                    "resourceVersion": self.fmt(self.rv)}

    def bump(self, count: int = 1) -> int:
        with self.cond:
            self.rv += count
            self.cond.notify_all()
            return self.rv

    def snapshot(self, coll: Collection, rv: int) -> dict:
        """State of a collection at resourceVersion rv (caller holds cond)."""
        if rv >= self.rv:
            return dict(coll.objects)
        state = {}
        for ev in coll.history[:bisect.bisect_right(coll.rvs, rv)]:
            md = ev.obj["metadata"]
            key = (md.get("namespace", ""), md["name"])
            if ev.type == "DELETED":
                state.pop(key, None)
            else:
                state[key] = ev.obj
        return state


# --------------------------------------------------------------------------
# Fault rules
# --------------------------------------------------------------------------

class FaultSet:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules: list[dict] = []
        self.next_id = 1

    def add(self, rules: list[dict], replace: bool = False) -> list[int]:
        with self.lock:
            if replace:
                self.rules = []
            ids = []
            for rule in rules:
                rule = dict(rule)
                rule["id"] = self.next_id
                rule.setdefault("hits", 0)
                rule["_seen"] = 0
                self.next_id += 1
                self.rules.append(rule)
                ids.append(rule["id"])
            return ids

    def clear(self):
        with self.lock:
            self.rules = []

    def listing(self) -> list[dict]:
        with self.lock:
            return [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.rules]

    def match(self, stage: str, method: str = "", path: str = "", query: str = "",
              rtype: str = "") -> dict | None:
        with self.lock:
            for rule in self.rules:
                if rule.get("stage", "request") != stage:
                    continue
                if stage == "request":
                    if rule.get("method") and rule["method"].upper() != method:
                        continue
                    if rule.get("path") and rule["path"] not in path:
                        continue
                    if rule.get("query") and rule["query"] not in query:
                        continue
                    if rule.get("type") and rule["type"] != rtype:
                        continue
                rule["_seen"] += 1
                if rule["_seen"] <= rule.get("skip", 0):
                    continue
                times = rule.get("times")
                if times is not None and rule["hits"] >= times:
                    continue
                rule["hits"] += 1
                return dict(rule)
            return None


# --------------------------------------------------------------------------
# Streams (open watches and held connections)
# --------------------------------------------------------------------------

class Stream:
    def __init__(self, sid: int, path: str, query: str, conn: int):
        self.id, self.path, self.query, self.conn = sid, path, query, conn
        self.events = 0
        self.rv = ""
        self.close_mode: str | None = None   # abrupt | reset | clean
        self.injected: list[dict] = []

    def info(self) -> dict:
        return {"id": self.id, "path": self.path, "query": self.query, "conn": self.conn,
                "events": self.events, "rv": self.rv}


class StreamClosed(Exception):
    """Raised inside a handler to end the connection without further output."""


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------

class ChunkedWriter:
    """Writes a chunked body with the framing options of a fault rule."""

    def __init__(self, handler: "ApiHandler", opts: dict):
        self.h = handler
        self.chunk_size = 1 if opts.get("split_bytes") else int(opts.get("chunk_size") or 0)
        self.ext = opts.get("chunk_ext", "")
        self.dribble = float(opts.get("dribble_delay") or 0)
        if self.dribble:
            self.chunk_size = 1
        self.trailers = opts.get("trailers") or {}

    def _frame(self, data: bytes) -> bytes:
        return b"%x%s\r\n%s\r\n" % (len(data), self.ext.encode(), data)

    def write(self, data: bytes):
        if not data:
            return
        if not self.chunk_size:
            self.h.send_raw(self._frame(data))
            return
        pieces = [self._frame(data[i:i + self.chunk_size]) for i in range(0, len(data), self.chunk_size)]
        if self.dribble or len(data) < 65536:
            # One send per chunk: the client sees tiny TLS records.
            for i, piece in enumerate(pieces):
                if self.dribble and i:
                    time.sleep(self.dribble)
                self.h.send_raw(piece)
        else:
            for i in range(0, len(pieces), 4096):
                self.h.send_raw(b"".join(pieces[i:i + 4096]))

    def finish(self):
        tail = b"0%s\r\n" % self.ext.encode()
        for k, v in self.trailers.items():
            tail += f"{k}: {v}\r\n".encode()
        self.h.send_raw(tail + b"\r\n")


class ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver/1.0"

    def version_string(self):
        return self.server_version

    def setup(self):
        self.timeout = self.server.app.config["idle_timeout"]
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.app.verbose:
            sys.stderr.write("fakeapi: %s %s\n" % (self.client_address[0], fmt % args))

    def send_raw(self, data: bytes):
        self.wfile.write(data)

    def do_GET(self):
        try:
            self.server.app.handle_api(self)
        except StreamClosed:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError, OSError):
            self.close_connection = True

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass

    # -- connection teardown helpers --
    def abort(self, reset: bool = False):
        """Close the TCP connection without a TLS close_notify (RST if reset)."""
        sock = self.connection
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()
                sock.close()
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise StreamClosed()


class ApiServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """TLS is set up per connection in the handler thread, so a client that
    never completes its handshake cannot block the accept loop."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, app: "FakeApiServer", address):
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, ApiHandler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's getfqdn()
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]

    def finish_request(self, request, client_address):
        app = self.app
        conn_id = app.next_conn_id()
        rule = app.faults.match("connect")
        if rule:
            app.log_request({"type": "connect", "conn": conn_id, "fault": rule["id"],
                             "remote": client_address[0]})
            self._connect_fault(request, rule)
            return
        request.settimeout(10)
        try:
            tls = app.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            app.log_request({"type": "tls-error", "conn": conn_id, "error": str(e),
                             "remote": client_address[0]})
            return
        tls.fake_conn_id = conn_id
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def _connect_fault(self, sock, rule):
        action = rule.get("action", "close")
        if action == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif action == "silence":
            self.app.hold(float(rule.get("silence_seconds", 3600)), "(connect)", "", 0)
        elif action == "garbage":
            try:
                sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if self.app.verbose:
            super().handle_error(request, client_address)


class AdminHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver-admin/1.0"

    def log_message(self, fmt, *args):
        if self.server.app.verbose:
            sys.stderr.write("fakeapi-admin: %s\n" % (fmt % args))

    def address_string(self):
        return "admin"

    def do_GET(self):
        self.server.app.admin.handle(self)

    do_POST = do_PUT = do_DELETE = do_GET


class AdminTcpServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app, address):
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, AdminHandler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]


class AdminUnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, app, path):
        self.app = app
        if os.path.exists(path):
            os.unlink(path)
        super().__init__(path, AdminHandler)


class ProxyHandler(socketserver.StreamRequestHandler):
    """HTTP CONNECT proxy (for proxy-url tests): tunnels to any host:port and
    logs each CONNECT as a request-log entry of type "proxy". An absolute-form
    GET (http://host:port/path) is forwarded too (entry "forwarded": true)."""

    rbufsize = 0  # unbuffered: nothing after the CONNECT headers may be swallowed

    def handle(self):
        line = self.rfile.readline(8192).decode("latin-1")
        headers = {}
        while True:
            h = self.rfile.readline(8192).decode("latin-1")
            if h in ("\r\n", "\n", ""):
                break
            k, _, v = h.partition(":")
            headers[k.strip()] = v.strip()
        parts = line.split()
        app = self.server.app
        entry = app.log_request({"type": "proxy", "method": parts[0] if parts else "", "path": "",
                                 "target": parts[1] if len(parts) > 1 else "", "headers": headers,
                                 "status": None})
        if len(parts) >= 2 and parts[0] == "GET" and parts[1].startswith("http://"):
            return self.forward(entry, parts[1], headers)
        if len(parts) < 2 or parts[0] != "CONNECT":
            entry["status"] = 405
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        refuse = app.config.get("proxy_refuse")
        auth = app.config.get("proxy_auth")
        if not refuse and auth:
            want = "Basic " + base64.b64encode(auth.encode()).decode()
            if headers.get("Proxy-Authorization") != want:
                refuse = {"status": 407, "reason": "Proxy Authentication Required"}
        if refuse:
            entry["status"] = int(refuse.get("status", 403))
            reason = refuse.get("reason", "Forbidden")
            self.wfile.write(f"HTTP/1.1 {entry['status']} {reason}\r\nContent-Length: 0\r\n"
                             f"Proxy-Authenticate: Basic realm=\"fakeapi\"\r\n\r\n".encode())
            return
        host, _, port = parts[1].rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except (OSError, ValueError):
            entry["status"] = 502
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        entry["status"] = 200
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        upstream.settimeout(None)
        self.connection.settimeout(None)

        def pump(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        t = threading.Thread(target=pump, args=(upstream, self.connection), daemon=True)
        t.start()
        pump(self.connection, upstream)
        t.join()
        upstream.close()

    def forward(self, entry, url, headers):
        """An absolute-form GET (a client of an http:// server through the proxy): sent to the API
        server (over TLS: the fake API only speaks TLS) with Connection: close, the reply relayed."""
        rest = url[len("http://"):]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        entry["forwarded"] = True
        entry["status"] = 200
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            upstream = ctx.wrap_socket(socket.create_connection((host.strip("[]"), int(port)), timeout=10))
        except (OSError, ValueError):
            entry["status"] = 502
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        req = f"GET /{path} HTTP/1.1\r\n"
        for k, v in headers.items():
            if k.lower() not in ("proxy-authorization", "connection"):
                req += f"{k}: {v}\r\n"
        upstream.sendall((req + "Connection: close\r\n\r\n").encode("latin-1"))
        try:
            while data := upstream.recv(65536):
                self.wfile.write(data)
        except OSError:
            pass
        upstream.close()


class ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, app, address):
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, ProxyHandler)


# --------------------------------------------------------------------------
# The server application
# --------------------------------------------------------------------------

class FakeApiServer:
    def __init__(self, host: str, port: int, cert: str, key: str, client_ca: str | None,
                 tokens: list[str], auth: bool, config: dict | None = None, verbose: bool = False):
        self.config = copy.deepcopy(DEFAULT_CONFIG)
        self.config.update(config or {})
        self.verbose = verbose
        self.store = Store(self.config["rv_prefix"])
        self.faults = FaultSet()
        self.tokens = set(tokens)
        self.auth = auth
        self.client_ca = client_ca
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.request_counter = 0
        self.conn_counter = 0
        self.streams: dict[int, Stream] = {}
        self.stream_counter = 0
        self.continue_serial = 0
        self.continue_min_serial = 0
        self.ssl_context = self._make_context(cert, key)
        self.host, self.port = host, port
        self.api_httpd: ApiServer | None = None
        self.admin_servers = []
        self.admin = AdminApi(self)
        self.listen()

    # -- setup --
    def _make_context(self, cert: str, key: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["http/1.1"])
        if self.client_ca:
            ctx.load_verify_locations(self.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL

        def sni(sock, server_name, _ctx):
            sock.fake_sni = server_name
        ctx.sni_callback = sni
        return ctx

    def listen(self):
        self.api_httpd = ApiServer(self, (self.host, self.port))
        self.port = self.api_httpd.server_address[1]
        threading.Thread(target=self.api_httpd.serve_forever, args=(0.1,), daemon=True).start()

    def stop_listening(self):
        httpd, self.api_httpd = self.api_httpd, None
        if httpd:
            httpd.shutdown()
            httpd.server_close()

    def start_admin(self, host: str | None, port: int | None, unix_path: str | None):
        if port is not None:
            srv = AdminTcpServer(self, (host or "127.0.0.1", port))
            self.admin_servers.append(srv)
            threading.Thread(target=srv.serve_forever, args=(0.1,), daemon=True).start()
        if unix_path:
            srv = AdminUnixServer(self, unix_path)
            self.admin_servers.append(srv)
            threading.Thread(target=srv.serve_forever, args=(0.1,), daemon=True).start()

    def start_proxy(self, host: str, port: int) -> int:
        srv = ProxyServer(self, (host, port))
        self.admin_servers.append(srv)
        threading.Thread(target=srv.serve_forever, args=(0.1,), daemon=True).start()
        return srv.server_address[1]

    @property
    def admin_port(self) -> int | None:
        for srv in self.admin_servers:
            if isinstance(srv, AdminTcpServer):
                return srv.server_address[1]
        return None

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    # -- bookkeeping --
    def next_conn_id(self) -> int:
        with self.lock:
            self.conn_counter += 1
            return self.conn_counter

    def log_request(self, entry: dict) -> dict:
        with self.lock:
            self.request_counter += 1
            entry["id"] = self.request_counter
            entry.setdefault("time", time.time())
            self.requests.append(entry)
            return entry

    def open_stream(self, path: str, query: str, conn: int) -> Stream:
        with self.lock:
            self.stream_counter += 1
            stream = Stream(self.stream_counter, path, query, conn)
            self.streams[stream.id] = stream
            return stream

    def close_stream(self, stream: Stream):
        with self.lock:
            self.streams.pop(stream.id, None)

    def hold(self, seconds: float, path: str, query: str, conn: int) -> Stream:
        """Keep a connection open doing nothing; returns the stream (close_mode set if ended early)."""
        stream = self.open_stream(path, query, conn)
        deadline = time.monotonic() + seconds
        try:
            with self.store.cond:
                while stream.close_mode is None and time.monotonic() < deadline:
                    self.store.cond.wait(min(0.25, max(0.0, deadline - time.monotonic())))
        finally:
            self.close_stream(stream)
        return stream

    # -- API requests --
    def handle_api(self, h: ApiHandler):
        url = urllib.parse.urlsplit(h.path)
        path, query = url.path, url.query
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        prefix = self.config["path_prefix"].rstrip("/")
        if not prefix:
            route = self.route(path, params)
        elif path.startswith(prefix + "/"):
            route = self.route(path[len(prefix):], params)
        else:
            route = {"type": "other"}
        tls = h.connection
        cert = tls.getpeercert() if self.client_ca else None
        cn = None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
        entry = self.log_request({
            "conn": getattr(tls, "fake_conn_id", 0), "method": h.command, "path": path, "query": query,
            "params": params, "headers": dict(h.headers.items()), "type": route["type"],
            "sni": getattr(tls, "fake_sni", None), "alpn": tls.selected_alpn_protocol(),
            "tls_version": tls.version(), "client_cert_cn": cn, "user": None, "status": None,
            "fault": None, "remote": h.client_address[0]})
        # Drain a request body, if any (the agent sends none).
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)

        rule = self.faults.match("request", h.command, path, query, route["type"])
        if rule:
            entry["fault"] = rule["id"]
            if rule.get("delay"):
                time.sleep(float(rule["delay"]))
            if self.apply_request_fault(h, entry, rule, path, query):
                return
        else:
            rule = {}
        try:
            user = self.authenticate(h, cn)
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            entry["user"] = user
            if h.command != "GET":
                raise ApiError(405, "MethodNotAllowed",
                               f"the server does not allow this method on the requested resource")
            kind = route["type"]
            if kind == "discovery":
                self.send_json(h, entry, 200, route["body"], rule)
            elif kind in ("list", "watch", "get"):
                self.serve_resource(h, entry, route, params, rule)
            else:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        except ApiError as e:
            self.send_status(h, entry, e.code, e.reason, e.message, e.details, e.metadata)

    def authenticate(self, h: ApiHandler, cert_cn: str | None) -> str | None:
        if not self.auth:
            return "system:anonymous"
        if cert_cn:
            return "cert:" + cert_cn
        header = h.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer "):].strip()
            with self.lock:
                if token in self.tokens:
                    return "token:" + token[:8]
        return None

    def apply_request_fault(self, h: ApiHandler, entry: dict, rule: dict, path: str, query: str) -> bool:
        """Apply the response-level part of a rule; True if the request is fully handled."""
        action = rule.get("action")
        if action in ("close", "reset"):
            entry["status"] = action
            h.abort(reset=action == "reset")
        if action == "silence":
            entry["status"] = "silence"
            self.hold(float(rule.get("silence_seconds", 3600)), path, query, entry["conn"])
            h.abort()
        if action == "endless_headers":
            entry["status"] = "endless_headers"
            line = b"X-Filler: " + b"f" * 4084 + b"\r\n"
            limit = int(rule.get("endless_bytes", 1 << 30))
            sent = 0
            try:
                h.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                while sent < limit:
                    h.send_raw(line * 16)
                    sent += len(line) * 16
                    entry["sent"] = sent
            except OSError:
                pass
            h.abort()
        if action == "headers_then_silence":
            entry["status"] = 200
            self.send_head(h, 200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
            self.hold(float(rule.get("silence_seconds", 3600)), path, query, entry["conn"])
            h.abort()
        if "status" in rule:
            code = int(rule["status"])
            headers = dict(rule.get("headers") or {})
            if rule.get("retry_after") is not None:
                headers["Retry-After"] = str(rule["retry_after"])
            if rule.get("body") is not None:
                body = rule["body"].encode() if isinstance(rule["body"], str) else dumps(rule["body"])
                headers.setdefault("Content-Type", rule.get("content_type", "text/html"))
                entry["status"] = code
                self.send_body(h, code, body, headers, rule)
                return True
            details = {}
            if rule.get("causes"):
                details["causes"] = rule["causes"]
            if rule.get("retry_after_seconds") is not None:
                details["retryAfterSeconds"] = int(rule["retry_after_seconds"])
            reason = rule.get("reason") or http_reason(code)
            self.send_status(h, entry, code, reason, rule.get("message", reason), details or None,
                             headers=headers, rule=rule)
            return True
        return False

    # -- routing --
    def served_versions(self, rtype: ResourceType) -> list[str]:
        override = self.config["served_versions"].get(rtype.resource)
        if override is None and rtype.opt_in:
            override = []
        versions = rtype.versions if override is None else override
        return [v for v in rtype.versions if v in versions] + [v for v in versions if v not in rtype.versions]

    def group_versions(self, group: str) -> list[str]:
        """Served versions of a group, preferred (newest) first."""
        versions = set()
        for t in RESOURCE_TYPES:
            if t.group == group:
                versions.update(self.served_versions(t))
        return sorted(versions, key=version_priority, reverse=True)

    def route(self, path: str, params: dict) -> dict:
        segs = [s for s in path.split("/") if s]
        not_found = {"type": "other"}
        if segs == ["api"]:
            return {"type": "discovery", "body": {
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}]}}
        if segs == ["apis"]:
            groups = [self.api_group(g) for g in sorted({t.group for t in RESOURCE_TYPES if t.group})]
            return {"type": "discovery", "body": {"kind": "APIGroupList", "apiVersion": "v1",
                                                  "groups": [g for g in groups if g]}}
        if segs in (["version"], ["healthz"], ["livez"], ["readyz"]):
            body = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fakeapi", "platform": "linux/amd64"} \
                if segs == ["version"] else "ok"
            return {"type": "discovery", "body": body}
        if len(segs) >= 2 and segs[0] == "api":
            group, version, rest = "", segs[1], segs[2:]
            if version != "v1":
                return not_found
        elif len(segs) >= 2 and segs[0] == "apis":
            group = segs[1]
            if len(segs) == 2:
                g = self.api_group(group)
                return {"type": "discovery", "body": g} if g else not_found
            version, rest = segs[2], segs[3:]
        else:
            return not_found
        if version not in (self.group_versions(group) if group else ["v1"]):
            return not_found
        if not rest:
            return {"type": "discovery", "body": self.resource_list(group, version)}
        watch = params.get("watch") in ("1", "true", "True")
        if rest[0] == "watch":  # deprecated /watch/ paths
            watch, rest = True, rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 2:
            return not_found
        rtype = BY_RESOURCE.get((group, rest[0]))
        if rtype is None or version not in self.served_versions(rtype):
            return not_found
        if namespace is not None and not rtype.namespaced:
            return not_found
        name = rest[1] if len(rest) == 2 else None
        if name is not None and watch:  # .../watch/.../NAME == fieldSelector on the name
            params["fieldSelector"] = f"metadata.name={name}"
        kind = "watch" if watch else ("get" if name else "list")
        return {"type": kind, "rtype": rtype, "version": version, "namespace": namespace, "name": name}

    def api_group(self, group: str) -> dict | None:
        versions = self.group_versions(group)
        if not versions:
            return None
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
                "preferredVersion": gvs[0]}

    def resource_list(self, group: str, version: str) -> dict:
        resources = []
        for t in RESOURCE_TYPES:
            if t.group != group or version not in self.served_versions(t):
                continue
            entry = {"name": t.resource, "singularName": t.singular, "namespaced": t.namespaced,
                     "kind": t.kind, "verbs": ["delete", "deletecollection", "get", "list", "patch",
                                               "create", "update", "watch"]}
            if t.short_names:
                entry["shortNames"] = list(t.short_names)
            resources.append(entry)
            if not t.builtin:
                resources.append({"name": t.resource + "/status", "singularName": "", "namespaced": t.namespaced,
                                  "kind": t.kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    # -- rendering --
    def render(self, obj: dict, rtype: ResourceType, version: str, in_list: bool = False) -> dict:
        out = dict(obj)
        if in_list and rtype.builtin:
            out.pop("kind", None)
            out.pop("apiVersion", None)
        else:
            out["kind"] = rtype.kind
            out["apiVersion"] = rtype.group_version(version)
            # kind/apiVersion first, like the real server
            out = {"kind": out.pop("kind"), "apiVersion": out.pop("apiVersion"), **out}
        dropped = rtype.dropped_fields.get(version)
        if dropped and isinstance(out.get("spec"), dict):
            out["spec"] = {k: v for k, v in out["spec"].items() if k not in dropped}
        return out

    def common_headers(self, rtype: ResourceType | None, version: str | None) -> dict:
        headers = {"Audit-Id": str(uuid.uuid4()), "Cache-Control": "no-cache, private"}
        if (rtype is not None and self.config["deprecation_warnings"]
                and rtype.resource == "bgppeers" and version == "v1beta1"):
            headers["Warning"] = '299 - "v1beta1 is deprecated, please use v1beta2"'
        return headers

    # -- response writers --
    def send_head(self, h: ApiHandler, code: int, headers: dict):
        h.send_response(code)
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()

    def send_body(self, h: ApiHandler, code: int, body: bytes, headers: dict, rule: dict | None = None,
                  encoding: str | None = None):
        rule = rule or {}
        encoding = rule.get("list_encoding") or encoding or "length"
        headers = dict(headers)
        close = bool(rule.get("connection_close"))
        if close:
            headers["Connection"] = "close"
            h.close_connection = True
        cut = rule.get("action") == "cut_body"
        if encoding == "chunked":
            headers["Transfer-Encoding"] = "chunked"
            self.send_head(h, code, headers)
            writer = ChunkedWriter(h, {"chunk_size": rule.get("chunk_size") or self.config["list_chunk_size"],
                                       "chunk_ext": rule.get("chunk_ext", ""), "trailers": rule.get("trailers")})
            writer.write(body[: len(body) // 2] if cut else body)
            if cut:
                h.abort()
            writer.finish()
        else:
            headers["Content-Length"] = str(len(body))
            self.send_head(h, code, headers)
            h.send_raw(body[: len(body) // 2] if cut else body)
            if cut:
                h.abort()

    def send_json(self, h: ApiHandler, entry: dict, code: int, obj, rule: dict | None = None,
                  headers: dict | None = None, encoding: str | None = None):
        entry["status"] = code
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        self.send_body(h, code, dumps(obj), all_headers, rule, encoding)

    def send_status(self, h: ApiHandler, entry: dict, code: int, reason: str, message: str,
                    details: dict | None = None, metadata: dict | None = None, headers: dict | None = None,
                    rule: dict | None = None):
        hdrs = self.common_headers(None, None)
        hdrs.update(headers or {})
        self.send_json(h, entry, code, status_body(code, reason, message, details, metadata), rule, hdrs)

    # -- list / get / watch --
    def serve_resource(self, h: ApiHandler, entry: dict, route: dict, params: dict, rule: dict):
        rtype, version, ns = route["rtype"], route["version"], route["namespace"]
        if route["type"] == "get":
            with self.store.cond:
                obj = self.store.collection(rtype).objects.get((ns or "", route["name"]))
            if obj is None:
                raise ApiError(404, "NotFound", f'{rtype.qualified} "{route["name"]}" not found',
                               {"name": route["name"], "group": rtype.group, "kind": rtype.resource})
            self.send_json(h, entry, 200, self.render(obj, rtype, version), rule,
                           self.common_headers(rtype, version))
            return
        field_pred = parse_field_selector(params.get("fieldSelector"))
        label_pred = parse_label_selector(params.get("labelSelector"))

        def matches(obj):
            if obj is None:
                return False
            if ns is not None and obj["metadata"].get("namespace") != ns:
                return False
            return field_pred(obj) and label_pred(obj)

        if route["type"] == "list":
            self.serve_list(h, entry, rtype, version, params, matches, rule)
        else:
            self.serve_watch(h, entry, rtype, version, params, matches, rule)

    def encode_continue(self, rv: int, start: str) -> str:
        with self.lock:
            self.continue_serial += 1
            serial = self.continue_serial
        token = {"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00", "s": serial, "t": time.time()}
        return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()

    def decode_continue(self, text: str) -> dict:
        try:
            token = json.loads(base64.urlsafe_b64decode(text.encode() + b"=="))
            assert token["v"] == "meta.k8s.io/v1" and isinstance(token["rv"], int)
            return token
        except Exception:
            raise ApiError(400, "BadRequest", "continue key is not valid: illegal base64 data") from None

    def serve_list(self, h, entry, rtype: ResourceType, version: str, params: dict, matches, rule: dict):
        store = self.store
        limit_text = params.get("limit") or "0"
        try:
            limit = int(limit_text)
        except ValueError:
            raise ApiError(400, "BadRequest", f'invalid limit "{limit_text}"') from None
        cont = params.get("continue") or ""
        rv_param = params.get("resourceVersion")
        match = params.get("resourceVersionMatch") or ""
        if match and not rv_param:
            raise ApiError(422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
                           "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided")
        if match and cont:
            raise ApiError(422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: "
                           "Forbidden: resourceVersionMatch is forbidden when continue is provided")
        if match not in ("", "NotOlderThan", "Exact"):
            raise ApiError(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: '
                           f'Unsupported value: "{match}"')
        if cont and rv_param not in (None, "", "0"):
            raise ApiError(400, "BadRequest", "specifying resource version is not allowed when using continue")
        if rule.get("ignore_limit"):
            limit = 0
        start = ""
        with store.cond:
            current = store.rv
            if cont:
                token = self.decode_continue(cont)
                expired = (token["rv"] < store.compacted or token["s"] <= self.continue_min_serial
                           or time.time() - token.get("t", 0) > float(self.config["continue_ttl"]))
                if expired:
                    raise ApiError(410, self.config["expired_reason"], CONTINUE_EXPIRED_MSG,
                                   metadata={"continue": self.encode_continue(-1, token["start"].rstrip("\x00"))})
                snap_rv, start = token["rv"], token["start"].rstrip("\x00")
            elif not rv_param:
                snap_rv = current
            elif rv_param == "0" and match != "Exact":
                snap_rv = current
                if self.config["rv0_ignores_limit"]:
                    limit = 0
            else:
                wanted = store.parse(rv_param)
                exact = match == "Exact" or (not match and limit > 0)
                if wanted > current:
                    raise ApiError(504, "Timeout", f"Too large resource version: {wanted}, current: {current}",
                                   {"causes": [{"reason": "ResourceVersionTooLarge",
                                                "message": "Too large resource version"}],
                                    "retryAfterSeconds": 1})
                if exact and wanted < store.compacted:
                    raise ApiError(410, self.config["expired_reason"],
                                   "The resourceVersion for the provided list is too old.")
                snap_rv = wanted if exact else current
            state = store.snapshot(store.collection(rtype), snap_rv)
        keys = sorted(k for k, obj in state.items() if matches(obj))
        if rule.get("endless_continue") is not None:
            page = int(self.decode_continue(cont)["s"]) if cont else 0
            template = state[keys[0]] if keys else {"metadata": {"name": "x", "namespace": "default"}}
            items = []
            for i in range(int(rule["endless_continue"])):
                obj = copy.deepcopy(template)
                obj["metadata"]["name"] = f'{template["metadata"]["name"]}-flood-{page}-{i}'
                items.append(self.render(obj, rtype, version, in_list=True))
            body = {"kind": rtype.list_kind, "apiVersion": rtype.group_version(version),
                    "metadata": {"resourceVersion": store.fmt(snap_rv),
                                 "continue": self.encode_continue(snap_rv, f"flood-{page}")},
                    "items": items}
            self.send_json(h, entry, 200, body, rule, self.common_headers(rtype, version),
                           encoding=self.config["list_encoding"])
            return
        if start:
            keys = [k for k in keys if "/".join(k) > start]
        metadata = {"resourceVersion": store.fmt(snap_rv)}
        if limit > 0 and len(keys) > limit:
            remaining = len(keys) - limit
            keys = keys[:limit]
            metadata["continue"] = self.encode_continue(snap_rv, "/".join(keys[-1]))
            if not params.get("fieldSelector") and not params.get("labelSelector"):
                metadata["remainingItemCount"] = remaining
        body = {"kind": rtype.list_kind, "apiVersion": rtype.group_version(version), "metadata": metadata,
                "items": [self.render(state[k], rtype, version, in_list=True) for k in keys]}
        self.send_json(h, entry, 200, body, rule, self.common_headers(rtype, version),
                       encoding=self.config["list_encoding"])

    def serve_watch(self, h, entry, rtype: ResourceType, version: str, params: dict, matches, rule: dict):
        store = self.store
        coll = store.collection(rtype)
        rv_param = params.get("resourceVersion") or ""
        try:
            timeout = int(params.get("timeoutSeconds") or 0)
        except ValueError:
            raise ApiError(400, "BadRequest", "invalid timeoutSeconds") from None
        if timeout <= 0:
            timeout = int(self.config["default_watch_timeout"])
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1", "True")
        send_initial = params.get("sendInitialEvents") == "true"
        expired_msg = None
        initial: list[dict] = []
        with store.cond:
            current = store.rv
            if rv_param in ("", "0") or send_initial:
                start_rv = current if rv_param in ("", "0") else store.parse(rv_param)
                state = store.snapshot(coll, start_rv)
                initial = [state[k] for k in sorted(state) if matches(state[k])]
            else:
                start_rv = store.parse(rv_param)
                if start_rv < store.compacted:
                    expired_msg = f"too old resource version: {start_rv} ({store.compacted})"
                elif start_rv > current:
                    raise ApiError(504, "Timeout", f"Too large resource version: {start_rv}, current: {current}",
                                   {"causes": [{"reason": "ResourceVersionTooLarge",
                                                "message": "Too large resource version"}],
                                    "retryAfterSeconds": 1})
            pos = bisect.bisect_right(coll.rvs, start_rv)
        reason = self.config["expired_reason"]
        if expired_msg and rule.get("expired_mode", self.config["expired_watch_mode"]) == "http":
            raise ApiError(410, reason, expired_msg)

        headers = self.common_headers(rtype, version)
        headers.update({"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        if rule.get("trailers"):
            headers["Trailer"] = ", ".join(rule["trailers"])
        entry["status"] = 200
        self.send_head(h, 200, headers)
        writer = WatchWriter(self, h, rule)
        stream = self.open_stream(entry["path"], entry["query"], entry["conn"])
        stream.rv = store.fmt(start_rv)
        try:
            if expired_msg:
                writer.event({"type": "ERROR", "object": status_body(410, reason, expired_msg)})
                writer.finish()
                return
            self._watch_loop(h, writer, stream, coll, rtype, version, matches, initial, pos, start_rv,
                             timeout, bookmarks, send_initial, rule)
        finally:
            self.close_stream(stream)

    def _watch_loop(self, h, writer: "WatchWriter", stream: Stream, coll: Collection, rtype: ResourceType,
                    version: str, matches, initial: list, pos: int, last_rv: int, timeout: int,
                    bookmarks: bool, send_initial: bool, rule: dict):
        store = self.store
        gv = rtype.group_version(version)
        deadline = time.monotonic() + timeout
        cut_deadline = (time.monotonic() + float(rule["cut_after_seconds"])
                        if rule.get("cut_after_seconds") is not None else None)
        if rule.get("close_after_seconds") is not None:
            deadline = min(deadline, time.monotonic() + float(rule["close_after_seconds"]))
        interval = float(self.config["bookmark_interval"])
        next_bookmark = time.monotonic() + interval

        def bookmark(rv: int, annotations: dict | None = None):
            md = {"resourceVersion": store.fmt(rv), "creationTimestamp": None}
            if annotations:
                md["annotations"] = annotations
            writer.event({"type": "BOOKMARK", "object": {"kind": rtype.kind, "apiVersion": gv, "metadata": md}},
                         count=False)
            stream.rv = store.fmt(rv)

        def emit(etype: str, obj: dict):
            writer.event({"type": etype, "object": self.render(obj, rtype, version)})
            stream.events += 1
            stream.rv = obj["metadata"]["resourceVersion"]

        for obj in initial:
            emit("ADDED", obj)
        if send_initial and bookmarks:
            bookmark(last_rv, {"k8s.io/initial-events-end": "true"})

        while True:
            # Collect pending work under the lock, write outside it.
            with store.cond:
                pending = coll.history[pos:]
                pos = len(coll.history)
                global_rv = store.rv
                injected, stream.injected = stream.injected, []
                close_mode = stream.close_mode
            for ev in pending:
                last_rv = ev.rv
                if ev.hidden:
                    continue
                new_ok = matches(ev.obj)
                old_ok = ev.type == "MODIFIED" and matches(ev.prev)
                if ev.type == "MODIFIED" and old_ok != new_ok:
                    etype = "ADDED" if new_ok else "DELETED"
                elif new_ok:
                    etype = ev.type
                else:
                    continue
                emit(etype, ev.obj)
                if writer.ended:
                    return
            for item in injected:
                if "raw" in item:
                    writer.raw(item["raw"].encode() if isinstance(item["raw"], str) else item["raw"])
                elif "error" in item:
                    err = item["error"]
                    code = int(err.get("code", 410))
                    writer.event({"type": "ERROR", "object": status_body(
                        code, err.get("reason") or http_reason(code), err.get("message", "injected error"),
                        err.get("details"))}, count=False)
                    writer.finish()
                    return
                else:
                    writer.event(item["event"], count=False)
            if close_mode:
                if close_mode == "clean":
                    writer.finish()
                    return
                writer.flush()
                h.abort(reset=close_mode == "reset")
            now = time.monotonic()
            if cut_deadline is not None and now >= cut_deadline:
                writer.flush()
                h.abort()
            if now >= deadline:
                if bookmarks and self.config["bookmark_before_close"]:
                    bookmark(max(last_rv, global_rv))
                writer.finish()
                return
            if bookmarks and now >= next_bookmark:
                bookmark(max(last_rv, global_rv))
                next_bookmark = now + interval
            writer.maybe_flush()
            with store.cond:
                if pos == len(coll.history) and not stream.injected and stream.close_mode is None:
                    wait = min(deadline, next_bookmark if bookmarks else deadline) - time.monotonic()
                    store.cond.wait(max(0.0, min(wait, 0.25)))


class WatchWriter:
    """Frames watch events ("\\n"-terminated JSON lines) into chunks and
    applies the per-stream fault options (cuts, injected errors, batching)."""

    def __init__(self, app: FakeApiServer, h: ApiHandler, rule: dict):
        self.app, self.h, self.rule = app, h, rule
        self.chunks = ChunkedWriter(h, rule)
        self.line_ending = (rule.get("line_ending") or "\n").encode()
        self.blank = bool(rule.get("blank_lines"))
        self.per_chunk = int(rule.get("events_per_chunk") or 1)
        self.buffer: list[bytes] = []
        self.buffer_since = 0.0
        self.count = 0
        self.ended = False

    def _line(self, event: dict) -> bytes:
        return (self.line_ending if self.blank else b"") + dumps(event) + self.line_ending

    def event(self, event: dict, count: bool = True):
        rule = self.rule
        data = self._line(event)
        if count:
            n = self.count
            if rule.get("cut_after_events") is not None and n >= int(rule["cut_after_events"]):
                self.flush()
                if rule.get("cut_mid_object"):
                    self.chunks.write(data[: max(1, len(data) // 2)])
                self.h.abort()
            self.count += 1
        self.raw(data)
        if count:
            n = self.count
            if rule.get("error_after_events") is not None and n >= int(rule["error_after_events"]):
                err = rule.get("error") or {}
                code = int(err.get("code", 410))
                self.raw(self._line({"type": "ERROR", "object": status_body(
                    code, err.get("reason") or http_reason(code),
                    err.get("message", "too old resource version"))}))
                self.finish()
            elif rule.get("close_after_events") is not None and n >= int(rule["close_after_events"]):
                self.finish()

    def raw(self, data: bytes):
        if self.ended:
            return
        if self.per_chunk > 1:
            if not self.buffer:
                self.buffer_since = time.monotonic()
            self.buffer.append(data)
            if len(self.buffer) >= self.per_chunk:
                self.flush()
        else:
            self.chunks.write(data)

    def maybe_flush(self):
        if self.buffer and time.monotonic() - self.buffer_since > 0.2:
            self.flush()

    def flush(self):
        if self.buffer:
            data, self.buffer = b"".join(self.buffer), []
            self.chunks.write(data)

    def finish(self):
        if self.ended:
            return
        self.flush()
        self.chunks.finish()
        self.ended = True


CONTINUE_EXPIRED_MSG = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may show "
    "up in the list.")

_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            409: "Conflict", 410: "Expired", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


def http_reason(code: int) -> str:
    return _REASONS.get(code, "Unknown")


def version_priority(v: str):
    """Kubernetes version priority: GA > beta > alpha, then by numbers."""
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", v)
    if not m:
        return (-1, 0, 0, v)
    stage = {"alpha": 0, "beta": 1, None: 2}[m.group(2)]
    return (stage, int(m.group(1)), int(m.group(3) or 0), v)


# --------------------------------------------------------------------------
# Admin API
# --------------------------------------------------------------------------

def _resolve_type(body: dict) -> ResourceType:
    if body.get("resource"):
        for t in RESOURCE_TYPES:
            if t.resource == body["resource"] or t.qualified == body["resource"]:
                return t
        raise ValueError(f"unknown resource {body['resource']!r}")
    return Store.resolve({"kind": body.get("kind"), "apiVersion": body.get("apiVersion") or _default_api(body)})


def _default_api(body: dict) -> str:
    for t in RESOURCE_TYPES:
        if t.kind == body.get("kind"):
            return t.group_version(t.versions[-1])
    return ""


class AdminApi:
    """The control API (see the module docstring)."""

    def __init__(self, app: FakeApiServer):
        self.app = app

    def handle(self, h: AdminHandler):
        url = urllib.parse.urlsplit(h.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        ctype = h.headers.get("Content-Type", "")
        try:
            body = None
            if raw and "yaml" not in ctype:
                body = json.loads(raw)
            code, reply = self.dispatch(h.command, url.path, q, body, raw, ctype)
        except (ValueError, KeyError, TypeError, yamllite.YamlError) as e:
            code, reply = 400, {"error": f"{type(e).__name__}: {e}"}
        except LookupError as e:
            code, reply = 404, {"error": str(e)}
        data = json.dumps(reply, indent=1).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def dispatch(self, method: str, path: str, q: dict, body, raw: bytes, ctype: str):
        app = self.app
        store = app.store
        if (method, path) == ("GET", "/admin/health"):
            return 200, {"ok": True}
        if (method, path) == ("GET", "/admin/state"):
            with app.lock:
                n = len(app.streams)
            return 200, {"resourceVersion": store.fmt(store.rv), "compacted": store.fmt(store.compacted),
                         "listening": app.api_httpd is not None, "open_watches": n, "port": app.port}
        if path == "/admin/config":
            if method == "POST":
                unknown = set(body) - set(DEFAULT_CONFIG)
                if unknown:
                    raise ValueError(f"unknown config keys {sorted(unknown)}")
                app.config.update(body)
                store.rv_prefix = app.config["rv_prefix"]
                with store.cond:
                    store.cond.notify_all()
            return 200, app.config
        if path == "/admin/objects" and method == "POST":
            silent = False
            if "yaml" in ctype:
                objects = yamllite.load_all(raw.decode())
            elif isinstance(body, list):
                objects = body
            elif isinstance(body, dict) and "objects" in body:
                objects, silent = body["objects"], bool(body.get("silent"))
            else:
                objects = [body]
            objects = [o for obj in objects for o in (obj["items"] if obj.get("kind") == "List" else [obj])]
            results = [store.put(obj, silent=silent) for obj in objects]
            return 200, {"resourceVersion": store.fmt(store.rv), "results": results}
        if path == "/admin/objects" and method == "GET":
            with store.cond:
                out = [obj for coll in store.collections.values()
                       if not q.get("resource") or coll.rtype.resource == q["resource"]
                       for obj in coll.objects.values()]
            return 200, {"items": out}
        if (path == "/admin/delete" and method == "POST") or (path == "/admin/objects" and method == "DELETE"):
            rtype = _resolve_type(body)
            try:
                result = store.delete(rtype, body.get("namespace", "default"), body["name"], bool(body.get("silent")))
            except KeyError as e:
                raise LookupError(str(e)) from None
            return 200, result
        if (method, path) == ("POST", "/admin/bump"):
            return 200, {"resourceVersion": store.fmt(store.bump(int((body or {}).get("count", 1))))}
        if (method, path) == ("POST", "/admin/compact"):
            with store.cond:
                rv = (body or {}).get("resourceVersion")
                store.compacted = store.parse(str(rv)) if rv is not None else store.rv
                store.cond.notify_all()
            return 200, {"compacted": store.fmt(store.compacted)}
        if (method, path) == ("POST", "/admin/expire-continue"):
            with app.lock:
                app.continue_min_serial = app.continue_serial
            return 200, {"ok": True}
        if (method, path) == ("POST", "/admin/tokens"):
            with app.lock:
                app.tokens = set(body["tokens"])
            return 200, {"tokens": len(app.tokens)}
        if path == "/admin/faults":
            if method == "POST":
                rules = body.get("rules", [body]) if isinstance(body, dict) else body
                return 200, {"ids": app.faults.add(rules, bool(isinstance(body, dict) and body.get("replace")))}
            if method == "DELETE":
                app.faults.clear()
                return 200, {"ok": True}
            return 200, {"rules": app.faults.listing()}
        if path == "/admin/requests":
            if method == "DELETE":
                with app.lock:
                    app.requests.clear()  # ids keep increasing
                return 200, {"ok": True}
            since = int(q.get("since", 0))
            with app.lock:
                out = [dict(r) for r in app.requests if r["id"] > since
                       and (not q.get("path") or q["path"] in r.get("path", ""))
                       and (not q.get("type") or q["type"] == r.get("type"))]
            return 200, {"requests": out}
        if (method, path) == ("GET", "/admin/watches"):
            with app.lock:
                return 200, {"watches": [s.info() for s in app.streams.values()]}
        if (method, path) == ("POST", "/admin/close-watches"):
            body = body or {}
            mode = body.get("mode", "abrupt")
            if mode not in ("abrupt", "reset", "clean"):
                raise ValueError("mode must be abrupt, reset or clean")
            with app.lock:
                targets = [s for s in app.streams.values() if body.get("path", "") in s.path]
            with store.cond:
                for s in targets:
                    s.close_mode = mode
                store.cond.notify_all()
            return 200, {"closed": len(targets)}
        if (method, path) == ("POST", "/admin/watch-inject"):
            item = {k: body[k] for k in ("event", "raw", "error") if k in body}
            if len(item) != 1:
                raise ValueError("give exactly one of event, raw, error")
            with app.lock:
                targets = [s for s in app.streams.values() if body.get("path", "") in s.path]
            with store.cond:
                for s in targets:
                    s.injected.append(item)
                store.cond.notify_all()
            return 200, {"injected": len(targets)}
        if (method, path) == ("POST", "/admin/listener"):
            if body.get("up") and app.api_httpd is None:
                app.listen()
            elif not body.get("up") and app.api_httpd is not None:
                app.stop_listening()
            return 200, {"listening": app.api_httpd is not None, "port": app.port}
        if (method, path) == ("POST", "/admin/tls"):
            if body.get("client_ca"):
                app.client_ca = body["client_ca"]
            app.ssl_context = app._make_context(body["cert"], body["key"])
            return 200, {"ok": True}
        raise LookupError(f"no admin endpoint {method} {path}")


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def load_fixture(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        data = json.loads(text)
        return data if isinstance(data, list) else [data]
    return yamllite.load_all(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Fake Kubernetes API server (see module docstring).")
    ap.add_argument("--generate-ca", metavar="DIR", help="create a throwaway PKI in DIR and exit")
    ap.add_argument("--cert-dir", help="directory with server.crt/server.key/ca.crt (generated if missing)")
    ap.add_argument("--server-cert")
    ap.add_argument("--server-key")
    ap.add_argument("--client-ca", help="CA for client certificates (default: CERT_DIR/ca.crt)")
    ap.add_argument("--no-client-certs", action="store_true", help="do not request client certificates")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--admin-host", default="127.0.0.1")
    ap.add_argument("--admin-port", type=int, default=None, help="admin TCP port (0 = pick one)")
    ap.add_argument("--admin-socket", help="admin Unix socket path")
    ap.add_argument("--ready-file")
    ap.add_argument("--proxy-port", type=int, default=None, help="also run an HTTP CONNECT proxy (0 = pick)")
    ap.add_argument("--token", action="append", default=[], help="accepted bearer token (repeatable)")
    ap.add_argument("--no-auth", action="store_true", help="accept unauthenticated requests")
    ap.add_argument("--fixtures", nargs="*", default=[], help="YAML/JSON files with initial objects")
    ap.add_argument("--config", default="{}", help="JSON object merged into DEFAULT_CONFIG")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)

    if a.generate_ca:
        pki.generate(a.generate_ca)
        return 0
    if not a.cert_dir and not (a.server_cert and a.server_key):
        ap.error("--cert-dir (or --server-cert and --server-key) is required")
    if a.cert_dir and not os.path.exists(os.path.join(a.cert_dir, "server.crt")):
        pki.generate(a.cert_dir)
    cert = a.server_cert or os.path.join(a.cert_dir, "server.crt")
    key = a.server_key or os.path.join(a.cert_dir, "server.key")
    client_ca = None if a.no_client_certs else (a.client_ca or (a.cert_dir and os.path.join(a.cert_dir, "ca.crt")))
    if a.admin_port is None and not a.admin_socket:
        a.admin_port = 0

    app = FakeApiServer(a.host, a.port, cert, key, client_ca, a.token, not a.no_auth,
                        json.loads(a.config), a.verbose)
    for path in a.fixtures:
        for obj in load_fixture(path):
            app.store.put(obj)
    app.start_admin(a.admin_host, a.admin_port, a.admin_socket)
    proxy_port = app.start_proxy(a.host, a.proxy_port) if a.proxy_port is not None else None

    if a.ready_file:
        info = {"pid": os.getpid(), "host": a.host, "port": app.port, "url": app.url(),
                "ca": client_ca or (a.cert_dir and os.path.join(a.cert_dir, "ca.crt")),
                "admin_port": app.admin_port, "admin_socket": a.admin_socket, "cert_dir": a.cert_dir,
                "proxy_port": proxy_port}
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, a.ready_file)
    if a.verbose:
        sys.stderr.write(f"fakeapi: listening on {app.url()} admin port {app.admin_port}\n")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    if a.admin_socket and os.path.exists(a.admin_socket):
        os.unlink(a.admin_socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
