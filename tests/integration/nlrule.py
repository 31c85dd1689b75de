#!/usr/bin/env python3
"""Add a policy rule with raw rtnetlink, WITHOUT NLM_F_EXCL.

`ip rule add` always sends NLM_F_EXCL, so it cannot create an exact duplicate of an
existing rule; the kernel only checks for duplicates with EXCL. The tests use this
to plant exact duplicates (imposters the agent must delete). Run it inside the
namespace:
  ip netns exec NS python3 nlrule.py CIDR TABLE PRIORITY [proto=N] [fwmark=M[/K]] [not] [action=N]
                                    [dscp=N] [flowlabel=V/M]
dscp= (FRA_DSCP, IPv4) and flowlabel= (FRA_FLOWLABEL + _MASK, IPv6) are selectors
iproute2 6.1 cannot write (kernel 6.13+).
"""

import ipaddress
import os
import socket
import struct
import sys

RTM_NEWRULE = 32
NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE = 0x1, 0x4, 0x400
NLMSG_ERROR = 2
FRA_SRC, FRA_PRIORITY, FRA_FWMARK, FRA_TABLE, FRA_FWMASK, FRA_PROTOCOL = 2, 6, 10, 15, 16, 21
FR_ACT_TO_TBL = 1
FRA_DSCP, FRA_FLOWLABEL, FRA_FLOWLABEL_MASK = 25, 26, 27


def attr(t: int, payload: bytes) -> bytes:
    a = struct.pack("=HH", 4 + len(payload), t) + payload
    return a + b"\0" * ((4 - len(a) % 4) % 4)


FIB_RULE_INVERT = 0x2


def add_rule(cidr: str, table: int, priority: int, protocol: int = 245, fwmark: str | None = None,
             invert: bool = False, action: int = FR_ACT_TO_TBL, dscp: int | None = None,
             flowlabel: str | None = None) -> None:
    net = ipaddress.ip_network(cidr, strict=True)
    fam = socket.AF_INET if net.version == 4 else socket.AF_INET6
    hdr = struct.pack("=BBBBBBBBI", fam, 0, net.prefixlen, 0, table if table < 256 else 0, 0, 0, action,
                      FIB_RULE_INVERT if invert else 0)
    attrs = b""
    if net.prefixlen:
        attrs += attr(FRA_SRC, net.network_address.packed)
    attrs += attr(FRA_PRIORITY, struct.pack("=I", priority))
    attrs += attr(FRA_TABLE, struct.pack("=I", table))
    attrs += attr(FRA_PROTOCOL, struct.pack("=B", protocol))
    if fwmark:
        mark, _, mask = fwmark.partition("/")
        attrs += attr(FRA_FWMARK, struct.pack("=I", int(mark, 16)))
        if mask:
            attrs += attr(FRA_FWMASK, struct.pack("=I", int(mask, 16)))
    if dscp is not None:
        attrs += attr(FRA_DSCP, struct.pack("=B", dscp))
    if flowlabel:
        label, _, mask = flowlabel.partition("/")
        attrs += attr(FRA_FLOWLABEL, struct.pack(">I", int(label, 16)))
        attrs += attr(FRA_FLOWLABEL_MASK, struct.pack(">I", int(mask or "fffff", 16)))
    body = hdr + attrs
    msg = struct.pack("=IHHII", 16 + len(body), RTM_NEWRULE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, 1, 0) + body
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, 0))
    s.send(msg)
    resp = s.recv(65536)
    _, typ, _, _, _ = struct.unpack("=IHHII", resp[:16])
    if typ == NLMSG_ERROR:
        (err,) = struct.unpack("=i", resp[16:20])
        if err != 0:
            raise OSError(-err, os.strerror(-err))


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    kw: dict = {}
    for opt in argv[4:]:
        k, _, v = opt.partition("=")
        if k == "proto":
            kw["protocol"] = int(v)
        elif k == "fwmark":
            kw["fwmark"] = v
        elif k == "not":
            kw["invert"] = True
        elif k == "action":
            kw["action"] = int(v)
        elif k == "dscp":
            kw["dscp"] = int(v)
        elif k == "flowlabel":
            kw["flowlabel"] = v
        else:
            print(f"unknown option {opt!r}", file=sys.stderr)
            return 2
    add_rule(argv[1], int(argv[2]), int(argv[3]), **kw)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
