#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz corpora (tests/fuzz/corpus/TARGET/seed-*).

Seeds come from what the tree already holds: the MetalLB fixtures
(tests/fixtures/), the raw strings of the unit tests, responses shaped like
tests/fakeapi's, and rule/route messages dumped from the real kernel in a
throwaway network namespace (--netlink; needs root). Deterministic and
idempotent: it rewrites seed-* files only; inputs the fuzzer added (hash
names) are left alone. Run from the repository root:

    python3 tests/fuzz/make_seeds.py [--netlink]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakeapi"))
import yamllite  # noqa: E402

CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target: str, name: str, data: bytes | str) -> None:
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def raw_strings(path: str) -> list[str]:
    """The C++ raw string literals R"(...)" of a unit test."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return re.findall(r'R"\((.*?)\)"', f.read(), re.S)


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# ------------------------------------------------------------ Kubernetes JSON

KINDS = {"BGPPeer": 0, "IPAddressPool": 1, "BGPAdvertisement": 2, "Node": 3, "ConfigMap": 4}


def fixture_objects() -> list[dict]:
    objs = []
    d = os.path.join(ROOT, "tests", "fixtures", "metallb", "samples")
    for name in sorted(os.listdir(d)):
        objs += [o for o in yamllite.load_file(os.path.join(d, name)) if isinstance(o, dict)]
    with open(os.path.join(ROOT, "tests", "fixtures", "legacy", "metallb-config.yaml"), encoding="utf-8") as f:
        legacy = f.read()
    objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "config", "namespace": "metallb-system", "resourceVersion": "7"},
                 "data": {"config": legacy}})
    objs.append({"apiVersion": "v1", "kind": "Node",
                 "metadata": {"name": "node-a", "resourceVersion": "12",
                              "labels": {"kubernetes.io/hostname": "node-a", "rack": "r1"}},
                 "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    return objs


def status(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


def kube_seeds(objs: list[dict]) -> list[tuple[str, bytes]]:
    out = []
    for i, o in enumerate(objs):
        k = KINDS.get(o.get("kind"), 0)
        out.append((f"added-{i}-{o.get('kind')}", bytes([k]) + dumps({"type": "ADDED", "object": o})))
    by_kind: dict[str, list[dict]] = {}
    for o in objs:
        by_kind.setdefault(o.get("kind"), []).append(o)
    for kind, items in sorted(by_kind.items()):
        out.append((f"list-{kind}", bytes([KINDS.get(kind, 0)]) + dumps(
            {"kind": kind + "List", "apiVersion": "v1", "metadata": {"resourceVersion": "42", "continue": "c1"},
             "items": items})))
    # Everything in one list: the CRD selection sees peers, pools, advertisements and the node.
    out.append(("list-all", bytes([0]) + dumps({"kind": "List", "metadata": {"resourceVersion": "42"}, "items": objs})))
    out.append(("list-null-items", bytes([1]) + dumps({"kind": "IPAddressPoolList", "metadata": {}, "items": None})))
    out.append(("bookmark", bytes([0]) + dumps({"type": "BOOKMARK", "object": {"kind": "BGPPeer",
                                                                             "metadata": {"resourceVersion": "99"}}})))
    out.append(("deleted", bytes([3]) + dumps({"type": "DELETED", "object": objs[-1]})))
    out.append(("error-410", bytes([0]) + dumps({"type": "ERROR", "object": status(410, "Expired", "too old resource version: 1 (5)")})))
    out.append(("status-429", bytes([0]) + dumps(status(429, "TooManyRequests", "slow down",
                                                        {"retryAfterSeconds": 3, "causes": [{"reason": "ResourceVersionTooLarge"}]}))))
    out.append(("selector", bytes([2]) + dumps({"type": "MODIFIED", "object": {
        "kind": "BGPAdvertisement", "metadata": {"name": "a", "namespace": "m", "labels": {"x": "y"}},
        "spec": {"ipAddressPools": ["p"], "peers": ["peer"], "ipAddressPoolSelectors": [
            {"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]},
                                                             {"key": "e", "operator": "Exists"},
                                                             {"key": "z", "operator": "Bogus"}]}]}}})))
    return out


# ------------------------------------------------------------ HTTP responses

def chunked(body: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        c = body[i:i + size]
        out += b"%x\r\n" % len(c) + c + b"\r\n"
    return out + b"0\r\n\r\n"


def http_seeds(objs: list[dict]) -> list[tuple[str, bytes]]:
    events = b"".join(dumps({"type": "ADDED", "object": o}) + b"\n" for o in objs[:3])
    events += dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}) + b"\n"
    lst = dumps({"kind": "BGPPeerList", "metadata": {"resourceVersion": "4"}, "items": objs[:2]})
    st = dumps(status(410, "Expired", "too old"))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAudit-Id: 1\r\n"
    out = [
        # byte 0: bit 0 watch, bit 1 small limits; byte 1: split seed
        ("watch-chunked", b"\x01\x07" + head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(events, 97)),
        ("watch-small-limits", b"\x03\x11" + head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(events[:300], 40)),
        ("list-length", b"\x00\x01" + head + b"Content-Length: %d\r\n\r\n" % len(lst) + lst),
        ("list-chunked-ext", b"\x00\x02" + head + b"Transfer-Encoding: gzip, chunked\r\n\r\n" +
         chunked(lst, 128).replace(b"\r\n", b";x=y\r\n", 1)[:-2] + b"X-Trailer: 1\r\n\r\n"),
        ("until-close", b"\x00\x03HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n" + lst[:200]),
        ("continue-then-410", b"\x01\x04HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 410 Gone\r\nContent-Length: %d\r\n\r\n" % len(st) + st),
        ("204-keepalive-leftover", b"\x00\x05HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\n"),
        ("429-warning", b"\x00\x06HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nWarning: 299 - \"x\"\r\n"
         b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"),
    ]
    for i, s in enumerate(raw_strings("tests/unit/test_kube_http.cpp")):
        if s.startswith("HTTP/"):
            out.append((f"unit-{i}", b"\x01\x09" + s.encode()))
    return out


# ------------------------------------------------------------ netlink (real kernel)

def netlink_seeds() -> list[tuple[str, bytes]]:
    """Rule and route dump replies of both families from a throwaway netns."""
    script = r"""
set -e
ip link set lo up
ip link add nra-f0 type veth peer name nra-f1
ip link set nra-f0 up; ip link set nra-f1 up
ip addr add 10.9.0.1/24 dev nra-f0
ip -6 addr add fd09::1/64 dev nra-f0 nodad
ip rule add from 10.1.0.0/16 lookup 20 pref 20
ip rule add from 10.2.0.1/24 to 192.0.2.0/24 fwmark 0x10/0xff iif lo oif nra-f0 lookup 1000 pref 21 protocol 99
ip rule add not from 10.3.0.0/16 ipproto tcp sport 1000-2000 dport 443 uidrange 10-20 tos 0x10 lookup 20 pref 22
ip rule add from all lookup 20 suppress_prefixlength 0 suppress_ifgroup 5 pref 23
ip rule add from 10.4.0.0/16 goto 30 pref 24
ip rule add from 10.5.0.0/16 blackhole pref 25
ip rule add from 10.6.0.0/16 realms 3/4 lookup 20 pref 26
ip rule add from 10.7.0.0/16 l3mdev pref 27 2>/dev/null || true
ip -6 rule add from fd00:1::/64 lookup 20 pref 20
ip -6 rule add from fd00:2::/64 to fd00:3::/48 fwmark 7 lookup 4000 pref 21 protocol 99
ip route add default table 20 proto 99 nexthop via 10.9.0.2 dev nra-f0 weight 100 nexthop via 10.9.0.3 dev nra-f0 weight 3
ip route add 192.0.2.0/24 via 10.9.0.4 dev nra-f0 table 1000 metric 5 tos 0x10
ip route add 198.51.100.0/24 via inet6 fd09::2 dev nra-f0 table 20
ip route add unreachable 203.0.113.0/24 table 20
ip -6 route add default table 20 proto 99 nexthop via fd09::2 dev nra-f0 weight 100 nexthop via fd09::3 dev nra-f0
ip -6 route add fd00:5::/64 from fd00:6::/64 via fd09::4 dev nra-f0 table 20 2>/dev/null || true
ip nexthop add id 7 via 10.9.0.5 dev nra-f0 2>/dev/null && ip route add 10.77.0.0/16 nhid 7 table 20 || true
"""
    helper = r"""
import socket, struct, sys
RTM_GETRULE, RTM_GETROUTE, NLM_F_REQUEST, NLM_F_DUMP = 34, 26, 1, 0x300
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.bind((0, 0))
out = []
for fam in (2, 10):
    for typ in (RTM_GETRULE, RTM_GETROUTE):
        body = struct.pack("BBBBBBBBI", fam, 0, 0, 0, 0, 0, 0, 0, 0) if typ == RTM_GETROUTE else struct.pack("BBBBBBBBI", fam, 0, 0, 0, 0, 0, 0, 0, 0)
        s.send(struct.pack("IHHII", 16 + len(body), typ, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body)
        done = False
        while not done:
            d = s.recv(65536)
            msgs, off = [], 0
            while off + 16 <= len(d):
                ln, t = struct.unpack_from("IH", d, off)
                if t == 3: done = True
                elif t in (24, 25, 32, 33): msgs.append(d[off:off + ((ln + 3) & ~3)])
                off += (ln + 3) & ~3
            out += msgs
sys.stdout.buffer.write(b"".join(struct.pack("I", len(m)) + m for m in out))
"""
    res = subprocess.run(["unshare", "-n", "sh", "-c", script + "\npython3 -c '" + helper.replace("'", "'\\''") + "'"],
                         capture_output=True, check=True)
    data, msgs, off = res.stdout, [], 0
    while off < len(data):
        (n,) = struct.unpack_from("I", data, off)
        msgs.append(data[off + 4: off + 4 + n])
        off += 4 + n
    out = []
    for i, m in enumerate(msgs):
        (t,) = struct.unpack_from("H", m, 4)
        fam = m[16]
        kind = {32: "rule", 33: "rule", 24: "route", 25: "route"}[t]
        # Skip the kernel's own local/main/default tables' routes: one of each family is enough.
        out.append((f"{kind}-{'v4' if fam == 2 else 'v6'}-{i:02d}", m))
    out.append(("datagram-all", b"".join(msgs)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--netlink", action="store_true", help="also dump rules/routes from the kernel (root)")
    args = ap.parse_args()

    objs = fixture_objects()
    for name, data in kube_seeds(objs):
        write("kube_objects", name, data)
    for name, data in http_seeds(objs):
        write("http_response", name, data)

    with open(os.path.join(ROOT, "tests", "fixtures", "legacy", "metallb-config.yaml"), encoding="utf-8") as f:
        write("yaml_legacy", "fixture", f.read())
    for i, s in enumerate(raw_strings("tests/unit/test_legacy.cpp")):
        write("yaml_legacy", f"unit-{i}", s)
    write("yaml_legacy", "anchors", "p: &p {peer-address: 10.0.0.1}\npeers: [*p, *p]\naddress-pools:\n"
          "- {protocol: bgp, addresses: [10.0.0.0/8, 'fd00::/64', 10.1.1.1-10.1.2.3]}\n")

    kc = ("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n"
          "    server: https://[fd00::1]:6443/prefix\n    certificate-authority-data: LS0tLS1CRUdJTg==\n"
          "    tls-server-name: api\nusers:\n- name: c\n  user:\n    token: abc\ncontexts:\n- name: c\n  context:\n"
          "    cluster: c\n    user: c\n    namespace: ns\n")
    write("kubeconfig", "token", kc)
    write("kubeconfig", "exec", kc.replace("    token: abc\n",
          "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: bin/get-token\n"
          "      args: [--cluster, c1]\n      env:\n      - {name: REGION, value: eu}\n      interactiveMode: Never\n"))
    write("kubeconfig", "files", kc.replace("    certificate-authority-data: LS0tLS1CRUdJTg==\n", "    certificate-authority: ca.crt\n")
          .replace("    token: abc\n", "    client-certificate: ~/c.crt\n    client-key-data: a2V5\n    tokenFile: missing\n"))
    write("kubeconfig", "two-files", kc.replace("current-context: c\n", "") + "\n---8<---\ncurrent-context: c\n"
          "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:8080', insecure-skip-tls-verify: true}\n")

    for i, s in enumerate(raw_strings("tests/unit/test_kube_config.cpp")):
        if "ExecCredential" in s or s.startswith("{"):
            write("exec_credential", f"unit-{i}", s)

    if args.netlink:
        for name, data in netlink_seeds():
            write("netlink_decode", name, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
