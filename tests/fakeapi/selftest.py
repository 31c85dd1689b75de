#!/usr/bin/env python3
"""Self-test of the fake Kubernetes API server (stdlib only).

    python3 tests/fakeapi/selftest.py [-v] [TestClass.test_name ...]

Exit status is non-zero on failure. Runs in well under a minute.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import yamllite  # noqa: E402
from client import FakeApi, write_token_file  # noqa: E402

FIXTURES = os.path.normpath(os.path.join(HERE, "..", "fixtures", "metallb"))  # copied from MetalLB (see SOURCE)

API: FakeApi = None  # type: ignore[assignment]
CERTS = None


def setUpModule():
    global API, CERTS
    CERTS = tempfile.mkdtemp(prefix="fakeapi-selftest-")
    API = FakeApi(cert_dir=os.path.join(CERTS, "pki")).start()


def tearDownModule():
    API.stop()
    shutil.rmtree(CERTS, ignore_errors=True)


# --------------------------------------------------------------------------
# A small strict HTTP/1.1 client that exposes chunk boundaries
# --------------------------------------------------------------------------

class Response:
    def __init__(self, conn: "RawConn", status: int, headers: dict[str, str]):
        self.conn, self.status, self.headers = conn, status, headers
        self.chunks: list[tuple[bytes, bytes]] = []   # (extension, data)
        self.trailers: dict[str, str] = {}
        self.ended = False
        self._pending = b""

    @property
    def chunked(self) -> bool:
        return self.headers.get("transfer-encoding") == "chunked"

    def _read_chunk(self) -> bytes | None:
        line = self.conn.readline()
        if not line.endswith(b"\r\n"):
            raise EOFError("connection closed inside the chunk header")
        size_text, _, ext = line[:-2].partition(b";")
        size = int(size_text, 16)
        if size == 0:
            while True:
                t = self.conn.readline()
                if t == b"\r\n":
                    break
                if not t.endswith(b"\r\n"):
                    raise EOFError("connection closed inside the trailers")
                k, _, v = t.decode().partition(":")
                self.trailers[k.strip()] = v.strip()
            self.ended = True
            return None
        data = self.conn.read_exact(size)
        if self.conn.read_exact(2) != b"\r\n":
            raise ValueError("chunk not terminated by CRLF")
        self.chunks.append(((b";" + ext) if ext else b"", data))
        return data

    def body(self) -> bytes:
        if not self.chunked:
            return self.conn.read_exact(int(self.headers.get("content-length", 0)))
        out = b""
        while not self.ended:
            data = self._read_chunk()
            if data:
                out += data
        return out

    def json(self):
        return json.loads(self.body())

    def next_line(self) -> bytes | None:
        """Next non-empty line of a chunked stream; None at the clean end."""
        while True:
            if b"\n" in self._pending:
                line, _, self._pending = self._pending.partition(b"\n")
                if line.strip():
                    return line
                continue
            if self.ended:
                return None
            data = self._read_chunk()
            if data:
                self._pending += data

    def next_event(self) -> dict | None:
        line = self.next_line()
        return None if line is None else json.loads(line)

    def events(self) -> list[dict]:
        out = []
        while (ev := self.next_event()) is not None:
            out.append(ev)
        return out


class RawConn:
    def __init__(self, api: FakeApi = None, *, token: str | None = "default", ca: str | None = None,
                 cert: tuple[str, str] | None = None, server_hostname: str | None = None,
                 host: str | None = None, port: int | None = None, timeout: float = 10):
        api = api or API
        ctx = ssl.create_default_context(cafile=ca or api.files["ca"])
        ctx.set_alpn_protocols(["http/1.1"])
        if cert:
            ctx.load_cert_chain(*cert)
        host = host or api.info["host"]
        raw = socket.create_connection((host, port or api.port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname or host)
        self.file = self.sock.makefile("rb")
        self.token = api.token if token == "default" else token
        self.host = host

    def readline(self) -> bytes:
        return self.file.readline(1 << 20)

    def read_exact(self, n: int) -> bytes:
        data = self.file.read(n)
        if len(data) != n:
            raise EOFError(f"short read: {len(data)} of {n}")
        return data

    def get(self, path: str, params: dict | None = None, headers: dict | None = None) -> Response:
        if params:
            path += "?" + urllib.parse.urlencode(params)
        hdrs = {"Host": self.host, "Accept": "application/json", "User-Agent": "fakeapi-selftest"}
        if self.token:
            hdrs["Authorization"] = "Bearer " + self.token
        hdrs.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        self.sock.sendall(req.encode())
        status_line = self.readline()
        if not status_line:
            raise EOFError("connection closed before the status line")
        status = int(status_line.split()[1])
        headers_out = {}
        while (line := self.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode().partition(":")
            headers_out[k.strip().lower()] = v.strip()
        return Response(self, status, headers_out)

    def close(self):
        self.file.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


NS = "metallb-system"
POOLS = f"/apis/metallb.io/v1beta1/namespaces/{NS}/ipaddresspools"
PEERS = f"/apis/metallb.io/v1beta2/namespaces/{NS}/bgppeers"


def pool(name: str, ns: str = NS, labels: dict | None = None, cidr: str = "10.0.0.0/24") -> dict:
    md = {"name": name, "namespace": ns}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": md,
            "spec": {"addresses": [cidr]}}


def get(path, params=None, **kw) -> tuple[Response, object]:
    with RawConn(**kw) as c:
        r = c.get(path, params)
        body = r.body()
        return r, (json.loads(body) if body[:1] in (b"{", b"[") else body)


class Base(unittest.TestCase):
    def setUp(self):
        API.clear_faults()
        API.set_config(bookmark_interval=60.0, served_versions={}, list_encoding="length",
                       expired_watch_mode="event")

    def ns_path(self, ns: str, resource: str = "ipaddresspools") -> str:
        return f"/apis/metallb.io/v1beta1/namespaces/{ns}/{resource}"


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------

class DiscoveryTest(Base):
    def test_discovery_and_served_versions(self):
        r, groups = get("/apis")
        self.assertEqual(groups["kind"], "APIGroupList")
        metallb = [g for g in groups["groups"] if g["name"] == "metallb.io"][0]
        self.assertEqual(metallb["preferredVersion"]["version"], "v1beta2")
        _, res = get("/apis/metallb.io/v1beta2")
        self.assertEqual(res["kind"], "APIResourceList")
        self.assertIn("bgppeers", [x["name"] for x in res["resources"]])
        _, core = get("/api")
        self.assertEqual(core["versions"], ["v1"])
        _, corev1 = get("/api/v1")
        self.assertTrue({"nodes", "configmaps"} <= {x["name"] for x in corev1["resources"]})

        API.set_config(served_versions={"bgppeers": ["v1beta1"]})
        r, status = get("/apis/metallb.io/v1beta2")
        self.assertEqual(r.status, 404)
        self.assertEqual(status["reason"], "NotFound")
        r, _ = get(PEERS)
        self.assertEqual(r.status, 404)
        _, v1 = get("/apis/metallb.io/v1beta1")
        self.assertIn("bgppeers", [x["name"] for x in v1["resources"]])
        _, g = get("/apis/metallb.io")
        self.assertEqual(g["preferredVersion"]["version"], "v1beta1")

    def test_bgppeer_v1beta1_conversion_drops_fields(self):
        API.put_object({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                        "metadata": {"name": "conv", "namespace": "conv-ns"},
                        "spec": {"peerAddress": "10.1.1.1", "vrf": "red", "myASN": 1, "peerASN": 2}})
        r, lst = get("/apis/metallb.io/v1beta1/namespaces/conv-ns/bgppeers")
        self.assertEqual(lst["items"][0]["apiVersion"], "metallb.io/v1beta1")
        self.assertNotIn("vrf", lst["items"][0]["spec"])
        self.assertIn("v1beta1 is deprecated", r.headers["warning"])
        _, lst2 = get("/apis/metallb.io/v1beta2/namespaces/conv-ns/bgppeers")
        self.assertEqual(lst2["items"][0]["spec"]["vrf"], "red")


class ListWatchTest(Base):
    def test_list_then_watch_from_list_rv(self):
        ns = "t-lw"
        path = self.ns_path(ns)
        API.put_object(pool("a", ns))
        _, lst = get(path)
        rv = lst["metadata"]["resourceVersion"]
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["a"])
        self.assertEqual(lst["kind"], "IPAddressPoolList")
        API.put_object(pool("b", ns), pool("other", "elsewhere"))
        since = API.last_request_id()
        with RawConn() as c:
            w = c.get(path, {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                             "timeoutSeconds": "2"})
            self.assertEqual(w.status, 200)
            self.assertTrue(w.chunked)
            ev = w.next_event()
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("ADDED", "b"))
            API.put_object(pool("a", ns, cidr="10.9.0.0/24"))
            ev = w.next_event()
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("MODIFIED", "a"))
            API.delete_object("IPAddressPool", "b", ns)
            ev = w.next_event()
            self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]), ("DELETED", "b"))
            rest = w.events()  # ends cleanly at timeoutSeconds
            self.assertTrue(w.ended)
            self.assertTrue(all(e["type"] == "BOOKMARK" for e in rest))
        entry = API.requests_log(path=path, type="watch", since=since)[0]
        self.assertEqual(entry["params"]["resourceVersion"], rv)
        self.assertEqual(entry["params"]["allowWatchBookmarks"], "true")
        self.assertTrue(entry["headers"]["Authorization"].startswith("Bearer "))
        self.assertEqual(entry["alpn"], "http/1.1")

    def test_watch_without_rv_replays_state_and_field_selector(self):
        API.put_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": NS},
                        "data": {"config": "peers: []\n"}},
                       {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "noise", "namespace": NS}})
        path = f"/api/v1/namespaces/{NS}/configmaps"
        _, lst = get(path, {"fieldSelector": "metadata.name=config"})
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["config"])
        self.assertNotIn("kind", lst["items"][0])  # built-in list items carry no kind
        with RawConn() as c:
            w = c.get(path, {"watch": "true", "fieldSelector": "metadata.name=config", "timeoutSeconds": "1"})
            evs = w.events()
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in evs], [("ADDED", "config")])
        self.assertEqual(evs[0]["object"]["kind"], "ConfigMap")
        entry = API.requests_log(path=path)[-1]
        self.assertIn("fieldSelector=metadata.name%3Dconfig", entry["query"])

    def test_nodes_cluster_scoped(self):
        API.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "labels": {"x": "1"}}})
        _, lst = get("/api/v1/nodes", {"fieldSelector": "metadata.name=node-a"})
        self.assertEqual(lst["kind"], "NodeList")
        self.assertEqual(len(lst["items"]), 1)
        r, _ = get("/api/v1/namespaces/x/nodes")
        self.assertEqual(r.status, 404)

    def test_label_selector_transitions(self):
        ns = "t-label"
        path = self.ns_path(ns)
        API.put_object(pool("p", ns, {"role": "bgp"}))
        _, lst = get(path, {"labelSelector": "role=bgp"})
        rv = lst["metadata"]["resourceVersion"]
        with RawConn() as c:
            w = c.get(path, {"watch": "1", "resourceVersion": rv, "labelSelector": "role in (bgp)",
                             "timeoutSeconds": "1"})
            API.put_object(pool("p", ns, {"role": "l2"}))
            API.put_object(pool("p", ns, {"role": "bgp"}))
            evs = [e["type"] for e in w.events()]
        self.assertEqual(evs, ["DELETED", "ADDED"])

    def test_rv_too_large_and_silent_changes(self):
        cur = int(API.state()["resourceVersion"])
        r, st = get(POOLS, {"watch": "1", "resourceVersion": str(cur + 1000)})
        self.assertEqual(r.status, 504)
        self.assertEqual(st["details"]["causes"][0]["reason"], "ResourceVersionTooLarge")
        ns = "t-silent"
        API.put_object(pool("s", ns))
        _, lst = get(self.ns_path(ns))
        API.delete_object("ipaddresspools", "s", ns, silent=True)
        with RawConn() as c:
            w = c.get(self.ns_path(ns), {"watch": "1", "resourceVersion": lst["metadata"]["resourceVersion"],
                                         "timeoutSeconds": "1"})
            self.assertEqual(w.events(), [])
        _, lst2 = get(self.ns_path(ns))
        self.assertEqual(lst2["items"], [])


class PaginationTest(Base):
    def test_three_pages_and_expiry(self):
        ns = "t-page"
        path = self.ns_path(ns)
        API.put_object(*[pool(f"p{i}", ns) for i in range(5)])
        names, rvs, params = [], set(), {"limit": "2"}
        pages = 0
        while True:
            _, page = get(path, params)
            pages += 1
            rvs.add(page["metadata"]["resourceVersion"])
            names += [i["metadata"]["name"] for i in page["items"]]
            if not page["metadata"].get("continue"):
                break
            params = {"limit": "2", "continue": page["metadata"]["continue"]}
            API.put_object(pool(f"late{pages}", ns))  # must not show up: snapshot at page 1's RV
        self.assertEqual(pages, 3)
        self.assertEqual(names, [f"p{i}" for i in range(5)])
        self.assertEqual(len(rvs), 1)

        _, page1 = get(path, {"limit": "2"})
        token = page1["metadata"]["continue"]
        r, st = get(path, {"limit": "2", "continue": token, "resourceVersion": "5"})
        self.assertEqual(r.status, 400)
        API.expire_continue()
        r, st = get(path, {"limit": "2", "continue": token})
        self.assertEqual(r.status, 410)
        self.assertEqual(st["reason"], "Expired")
        self.assertTrue(st["metadata"]["continue"])

        _, all0 = get(path, {"limit": "2", "resourceVersion": "0"})
        self.assertEqual(len(all0["items"]), 7)
        self.assertNotIn("continue", all0["metadata"])

    def test_exact_list_and_compaction(self):
        ns = "t-exact"
        path = self.ns_path(ns)
        API.put_object(pool("e1", ns))
        _, before = get(path)
        rv = before["metadata"]["resourceVersion"]
        API.put_object(pool("e2", ns))
        _, exact = get(path, {"resourceVersion": rv, "resourceVersionMatch": "Exact"})
        self.assertEqual([i["metadata"]["name"] for i in exact["items"]], ["e1"])
        self.assertEqual(exact["metadata"]["resourceVersion"], rv)
        r, _ = get(path, {"resourceVersionMatch": "Exact"})
        self.assertEqual(r.status, 422)
        API.compact()
        r, st = get(path, {"resourceVersion": rv, "resourceVersionMatch": "Exact"})
        self.assertEqual((r.status, st["reason"]), (410, "Expired"))


class BookmarkTest(Base):
    def test_bookmarks_interval_and_before_close(self):
        API.set_config(bookmark_interval=0.4)
        _, lst = get(POOLS)
        rv = lst["metadata"]["resourceVersion"]
        t0 = time.monotonic()
        with RawConn() as c:
            w = c.get(POOLS, {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                              "timeoutSeconds": "2"})
            API.bump(3)
            evs = w.events()
        elapsed = time.monotonic() - t0
        self.assertTrue(1.8 < elapsed < 3.5, elapsed)
        self.assertGreaterEqual(len(evs), 3)
        self.assertTrue(all(e["type"] == "BOOKMARK" for e in evs))
        self.assertEqual(set(evs[0]["object"]["metadata"]), {"resourceVersion", "creationTimestamp"})
        self.assertEqual(evs[-1]["object"]["metadata"]["resourceVersion"], API.state()["resourceVersion"])
        with RawConn() as c:
            w = c.get(POOLS, {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"})
            self.assertEqual(w.events(), [])


class ExpiryTest(Base):
    def test_410_paths(self):
        _, lst = get(POOLS)
        old = lst["metadata"]["resourceVersion"]
        API.bump()
        API.compact()
        with RawConn() as c:
            w = c.get(POOLS, {"watch": "1", "resourceVersion": old})
            self.assertEqual(w.status, 200)
            evs = w.events()
        self.assertEqual(len(evs), 1)
        self.assertEqual(evs[0]["type"], "ERROR")
        self.assertEqual((evs[0]["object"]["code"], evs[0]["object"]["reason"]), (410, "Expired"))

        API.set_config(expired_watch_mode="http")
        r, st = get(POOLS, {"watch": "1", "resourceVersion": old})
        self.assertEqual((r.status, st["kind"], st["code"]), (410, "Status", 410))

        API.add_fault(path="/ipaddresspools", type="watch", status=410, reason="Gone", times=1)
        cur = API.state()["resourceVersion"]
        r, st = get(POOLS, {"watch": "1", "resourceVersion": cur})
        self.assertEqual((r.status, st["reason"]), (410, "Gone"))

    def test_error_mid_stream(self):
        cur = API.state()["resourceVersion"]
        with RawConn() as c:
            w = c.get(POOLS, {"watch": "1", "resourceVersion": cur, "timeoutSeconds": "30"})
            API.wait_for_watch("/ipaddresspools")
            API.inject("/ipaddresspools", error={"code": 500, "reason": "InternalError", "message": "boom"})
            evs = w.events()
        self.assertEqual([(e["type"], e["object"]["reason"]) for e in evs], [("ERROR", "InternalError")])

        API.add_fault(path="/ipaddresspools", type="watch", error_after_events=1,
                      error={"code": 410, "reason": "Expired"})
        with RawConn() as c:
            w = c.get(POOLS, {"watch": "1", "resourceVersion": cur, "timeoutSeconds": "30"})
            API.put_object(pool("mid", "t-mid"), pool("mid", NS))
            evs = w.events()
        self.assertEqual([e["type"] for e in evs], ["ADDED", "ERROR"])


class FramingTest(Base):
    def test_split_bytes_extensions_trailers_utf8(self):
        cur = API.state()["resourceVersion"]
        API.add_fault(path="/ipaddresspools", type="watch", split_bytes=True, chunk_ext=";x=y",
                      trailers={"X-Fake-Trailer": "done"}, line_ending="\r\n", blank_lines=True)
        obj = pool("utf8", NS)
        obj["metadata"]["annotations"] = {"note": "h\u00e9llo \u2713 \U0001f600"}
        with RawConn() as c:
            w = c.get(POOLS, {"watch": "1", "resourceVersion": cur, "timeoutSeconds": "1"})
            API.put_object(obj)
            evs = w.events()
        self.assertEqual(evs[0]["object"]["metadata"]["annotations"]["note"], "h\u00e9llo \u2713 \U0001f600")
        self.assertTrue(all(len(d) == 1 for _, d in w.chunks))
        self.assertTrue(all(ext == b";x=y" for ext, _ in w.chunks))
        self.assertEqual(w.trailers, {"X-Fake-Trailer": "done"})
        self.assertEqual(w.headers.get("trailer"), "X-Fake-Trailer")
        self.assertIn(b"\r\n", b"".join(d for _, d in w.chunks))

    def test_dribble(self):
        cur = API.state()["resourceVersion"]
        API.add_fault(path="/t-dribble/", type="watch", dribble_delay=0.002)
        t0 = time.monotonic()
        with RawConn() as c:
            w = c.get(self.ns_path("t-dribble"), {"watch": "1", "resourceVersion": cur, "timeoutSeconds": "5"})
            API.put_object(pool("d", "t-dribble"))
            ev = w.next_event()
        self.assertEqual(ev["object"]["metadata"]["name"], "d")
        self.assertTrue(all(len(d) == 1 for _, d in w.chunks))
        self.assertGreater(time.monotonic() - t0, len(w.chunks) * 0.002)

    def test_several_events_per_chunk(self):
        cur = API.state()["resourceVersion"]
        API.add_fault(path="/t-batch/", type="watch", events_per_chunk=3)
        with RawConn() as c:
            w = c.get(self.ns_path("t-batch"), {"watch": "1", "resourceVersion": cur, "timeoutSeconds": "1"})
            API.put_object(*[pool(f"b{i}", "t-batch") for i in range(3)])
            evs = w.events()
        self.assertEqual(len(evs), 3)
        self.assertEqual(len(w.chunks), 1)
        self.assertEqual(w.chunks[0][1].count(b"\n"), 3)

    def test_cut_mid_object(self):
        cur = API.state()["resourceVersion"]
        API.add_fault(path="/t-cut/", type="watch", cut_after_events=1, cut_mid_object=True)
        with RawConn() as c:
            w = c.get(self.ns_path("t-cut"), {"watch": "1", "resourceVersion": cur, "timeoutSeconds": "5"})
            API.put_object(pool("c1", "t-cut"))
            self.assertEqual(w.next_event()["object"]["metadata"]["name"], "c1")
            API.put_object(pool("c2", "t-cut"))
            with self.assertRaises((EOFError, ssl.SSLError, ConnectionError)):
                w.next_event()
        self.assertFalse(w.ended)
        self.assertTrue(w._pending.startswith(b'{"type":"ADDED"'))

    def test_list_encodings_and_keepalive(self):
        API.set_config(list_encoding="chunked")
        with RawConn() as c:
            r1 = c.get(POOLS, {"limit": "500"})
            self.assertTrue(r1.chunked)
            first = r1.json()
            r2 = c.get(POOLS)  # same connection
            self.assertEqual(r2.json()["kind"], "IPAddressPoolList")
        log = API.requests_log(path=POOLS, type="list")[-2:]
        self.assertEqual(log[0]["conn"], log[1]["conn"])
        self.assertEqual(first["kind"], "IPAddressPoolList")

        API.set_config(list_encoding="length")
        API.add_fault(path="/ipaddresspools", type="list", connection_close=True, times=1)
        with RawConn() as c:
            r = c.get(POOLS)
            self.assertEqual(r.headers["connection"], "close")
            self.assertIn("content-length", r.headers)
            r.json()
            self.assertEqual(c.readline(), b"")  # server closed

        # http.client (a different client implementation) agrees.
        API.set_config(list_encoding="chunked")
        ctx = ssl.create_default_context(cafile=API.files["ca"])
        conn = http.client.HTTPSConnection("127.0.0.1", API.port, context=ctx)
        conn.request("GET", POOLS, headers={"Authorization": "Bearer " + API.token})
        self.assertEqual(json.loads(conn.getresponse().read())["kind"], "IPAddressPoolList")
        conn.close()

    def test_big_object(self):
        ns = "t-big"
        big = pool("big", ns)
        big["metadata"]["annotations"] = {"blob": "x" * (2 << 20)}
        cur = API.state()["resourceVersion"]
        with RawConn() as c:
            w = c.get(self.ns_path(ns), {"watch": "1", "resourceVersion": cur, "timeoutSeconds": "2"})
            API.put_object(big)
            ev = w.next_event()
        self.assertEqual(len(ev["object"]["metadata"]["annotations"]["blob"]), 2 << 20)

    def test_inject_raw_and_unknown_events(self):
        cur = API.state()["resourceVersion"]
        with RawConn() as c:
            w = c.get(self.ns_path("t-inj"), {"watch": "1", "resourceVersion": cur, "timeoutSeconds": "2"})
            API.wait_for_watch("/t-inj/")
            API.inject("/t-inj/", raw="{not json\n")
            API.inject("/t-inj/", event={"type": "WHATEVER", "object": {"kind": "Pod"}})
            self.assertEqual(w.next_line(), b"{not json")
            self.assertEqual(w.next_event()["type"], "WHATEVER")


class AuthTest(Base):
    def test_token_rotation(self):
        old = API.token
        try:
            API.set_tokens(["rotated-token"])
            r, st = get(POOLS, token=old)
            self.assertEqual(r.status, 401)
            self.assertEqual((st["kind"], st["reason"], st["code"]), ("Status", "Unauthorized", 401))
            r, _ = get(POOLS, token="rotated-token")
            self.assertEqual(r.status, 200)
            r, _ = get(POOLS, token=None)
            self.assertEqual(r.status, 401)
        finally:
            API.set_tokens([old])

    def test_client_certificate(self):
        f = API.files
        r, _ = get(POOLS, token=None, cert=(f["client_cert"], f["client_key"]))
        self.assertEqual(r.status, 200)
        entry = API.requests_log(path=POOLS)[-1]
        self.assertEqual(entry["user"], "cert:system:node:fakeapi-node")
        with self.assertRaises((ssl.SSLError, ConnectionError, EOFError)):
            get(POOLS, token=None, cert=(f["other_client_cert"], f["other_client_key"]))

    def test_tls_verification(self):
        r, _ = get(POOLS, server_hostname="localhost")
        self.assertEqual(r.status, 200)
        r, _ = get(POOLS, server_hostname="kubernetes.default.svc")
        self.assertEqual(r.status, 200)
        self.assertEqual(API.requests_log(path=POOLS)[-1]["sni"], "kubernetes.default.svc")
        with self.assertRaises(ssl.SSLCertVerificationError):
            get(POOLS, ca=API.files["other_ca"])
        with self.assertRaises(ssl.SSLCertVerificationError):
            get(POOLS, server_hostname="wrong.example")


class FaultTest(Base):
    def test_status_faults(self):
        API.add_fault(path="/ipaddresspools", type="list", status=503, body="<html>down</html>",
                      content_type="text/html", retry_after=7, times=1)
        r, body = get(POOLS)
        self.assertEqual((r.status, r.headers["content-type"], r.headers["retry-after"]), (503, "text/html", "7"))
        self.assertEqual(body, b"<html>down</html>")
        API.add_fault(path="/ipaddresspools", status=429, retry_after=1, retry_after_seconds=1, skip=1, times=1)
        codes = [get(POOLS)[0].status for _ in range(3)]
        self.assertEqual(codes, [200, 429, 200])
        API.add_fault(path="/ipaddresspools", status=504, reason="Timeout",
                      causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                      times=1)
        r, st = get(POOLS)
        self.assertEqual(st["details"]["causes"][0]["reason"], "ResourceVersionTooLarge")

    def test_connection_faults(self):
        API.add_fault(path="/ipaddresspools", action="close", times=1)
        with self.assertRaises((EOFError, ConnectionError, ssl.SSLError)):
            get(POOLS)
        API.add_fault(path="/ipaddresspools", action="reset", times=1)
        with self.assertRaises((EOFError, ConnectionError, ssl.SSLError)):
            get(POOLS)
        API.add_fault(path="/ipaddresspools", type="watch", action="headers_then_silence",
                      silence_seconds=0.5, times=1)
        with RawConn() as c:
            t0 = time.monotonic()
            w = c.get(POOLS, {"watch": "1"})
            self.assertEqual(w.status, 200)
            with self.assertRaises((EOFError, ConnectionError, ssl.SSLError)):
                w.next_event()
            self.assertGreater(time.monotonic() - t0, 0.4)
        API.add_fault(stage="connect", action="garbage", times=1)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            get(POOLS)
        API.add_fault(stage="connect", action="silence", silence_seconds=5, times=1)
        with self.assertRaises((TimeoutError, socket.timeout)):
            get(POOLS, timeout=0.5)
        API.close_watches("(connect)")

    def test_close_watches(self):
        cur = API.state()["resourceVersion"]
        for mode, clean in (("clean", True), ("abrupt", False)):
            with RawConn() as c:
                w = c.get(POOLS, {"watch": "1", "resourceVersion": cur, "timeoutSeconds": "30"})
                API.wait_for_watch("/ipaddresspools")
                self.assertEqual(API.close_watches("/ipaddresspools", mode), 1)
                try:
                    w.events()
                except (EOFError, ConnectionError, ssl.SSLError):
                    pass
                self.assertEqual(w.ended, clean)

    def test_listener_down_and_up(self):
        API.set_listener(False)
        try:
            with self.assertRaises(ConnectionRefusedError):
                get(POOLS)
        finally:
            API.set_listener(True)
        self.assertEqual(get(POOLS)[0].status, 200)


class VariantServerTest(unittest.TestCase):
    def test_connect_proxy_and_path_prefix(self):
        with FakeApi(cert_dir=os.path.join(CERTS, "pki"), proxy=True, config={"path_prefix": "/k8s"}) as api:
            proxy = urllib.parse.urlsplit(api.proxy_url)
            ctx = ssl.create_default_context(cafile=api.files["ca"])
            conn = http.client.HTTPSConnection(proxy.hostname, proxy.port, context=ctx, timeout=10)
            conn.set_tunnel("127.0.0.1", api.port)
            conn.request("GET", "/k8s/apis/metallb.io/v1beta1", headers={"Authorization": "Bearer " + api.token})
            resp = conn.getresponse()
            self.assertEqual((resp.status, json.loads(resp.read())["kind"]), (200, "APIResourceList"))
            conn.request("GET", "/apis/metallb.io/v1beta1", headers={"Authorization": "Bearer " + api.token})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 404)
            resp.read()
            conn.close()
            entry = api.requests_log(type="proxy")[0]
            self.assertEqual((entry["method"], entry["target"]), ("CONNECT", f"127.0.0.1:{api.port}"))

    def test_close_after_seconds(self):
        API.add_fault(path="/t-early/", type="watch", close_after_seconds=0, times=2)
        with RawConn() as c:
            t0 = time.monotonic()
            w = c.get("/apis/metallb.io/v1beta1/namespaces/t-early/ipaddresspools",
                      {"watch": "1", "resourceVersion": API.state()["resourceVersion"], "timeoutSeconds": "300"})
            self.assertEqual(w.events(), [])
            self.assertTrue(w.ended)
            self.assertLess(time.monotonic() - t0, 1)
        API.clear_faults()

    def test_non_numeric_rvs_and_fixtures(self):
        fixtures = [os.path.join(FIXTURES, "samples", "simple_pool_adv_bgp.yaml")]
        with FakeApi(cert_dir=os.path.join(CERTS, "pki"), config={"rv_prefix": "rv-"}, fixtures=fixtures) as api:
            _, lst = get(POOLS, api=api, token=api.token)
            rv = lst["metadata"]["resourceVersion"]
            self.assertTrue(rv.startswith("rv-"))
            self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["example"])
            with RawConn(api) as c:
                w = c.get(POOLS, {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"})
                api.put_object(pool("x"))
                evs = w.events()
            self.assertEqual(evs[0]["object"]["metadata"]["resourceVersion"][:3], "rv-")

    def test_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        with FakeApi(host="::1", cert_dir=os.path.join(CERTS, "pki")) as api:
            self.assertTrue(api.url.startswith("https://[::1]:"))
            r, _ = get("/api", api=api, token=api.token)
            self.assertEqual(r.status, 200)

    def test_kubeconfig_token_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            tf = write_token_file(os.path.join(tmp, "token"), API.token)
            kc = API.write_kubeconfig(os.path.join(tmp, "kubeconfig"), token=False, token_file=tf, ca="data",
                                      client_cert=True, namespace=NS)
            doc = yamllite.load_file(kc)[0]
        self.assertEqual(doc["clusters"][0]["cluster"]["server"], API.url)
        self.assertIn("certificate-authority-data", doc["clusters"][0]["cluster"])
        self.assertEqual(doc["users"][0]["user"]["tokenFile"], tf)
        self.assertEqual(doc["contexts"][0]["context"]["namespace"], NS)


class YamlTest(unittest.TestCase):
    def test_loader_matches_kubectl(self):
        files = [os.path.join(FIXTURES, d, f) for d in ("samples", "crds")
                 for f in sorted(os.listdir(os.path.join(FIXTURES, d)))]
        if not shutil.which("kubectl"):
            for f in files:
                self.assertTrue(yamllite.load_file(f))
            self.skipTest("kubectl not installed: loader only smoke-tested")
        for f in files:
            out = subprocess.run(["kubectl", "label", "--local", "-f", f, "fakeapi-none-", "-o", "json"],
                                 capture_output=True, text=True, env={**os.environ, "KUBECONFIG": "/dev/null"})
            self.assertEqual(out.returncode, 0, out.stderr)
            dec, text, objs = json.JSONDecoder(), out.stdout.strip(), []
            while text:
                obj, end = dec.raw_decode(text)
                text = text[end:].strip()
                objs.append(obj)
            for obj in objs:
                if obj["metadata"].get("labels") == {}:
                    del obj["metadata"]["labels"]
            self.assertEqual(yamllite.load_file(f), objs, f)

    def test_block_scalars(self):
        doc = yamllite.load_all("data:\n  config: |\n    a: 1\n\n    b:\n    - x\n  f: >-\n    one\n    two\n")[0]
        self.assertEqual(doc["data"]["config"], "a: 1\n\nb:\n- x\n")
        self.assertEqual(doc["data"]["f"], "one two")


if __name__ == "__main__":
    unittest.main(verbosity=2 if "-v" in sys.argv else 1)
