"""issue 8 items 1, 4, 6: what one netlink message can carry, rules with selectors the
codec does not model, routes using nexthop objects.

- Many peers: a route with more nexthops than one message the kernel can report back
  carries is refused with the limit named, nothing partial is installed and the earlier
  routing stays (used to abort with `malloc(): invalid size` or install a route truncated
  by the wrapped 16-bit RTA_MULTIPATH length).
- Twins of our rule carrying FRA_DSCP (IPv4) or FRA_FLOWLABEL (IPv6), which iproute2 6.1
  prints like ours: the twin goes, ours stays (ONESHOT, daemon, SIGHUP).
- An imposter route using a nexthop object (RTA_NH_ID) is removed; the object stays.
"""

from __future__ import annotations

import ipaddress
import json
import signal

from netns import HERE, NetnsTestCase, wait_until

TABLE = 20
PEERS = ["10.0.0.1", "10.0.0.3", "fd00::1", "fd00::3"]
CIDRS = ["192.168.57.0/24", "fd20::/64"]
POOLS = [("bgp", "bgp", CIDRS)]

# What one route message carries (docs/reliability/netlink.md; codec unit test).
MAX_HOPS = {4: 1973, 6: 1127}
FAMILY_NAME = {4: "inet", 6: "inet6"}

DUMP_SCRIPT = r'''
import json, socket, struct, sys
fam = socket.AF_INET if sys.argv[1] == "4" else socket.AF_INET6
typ = int(sys.argv[2])  # RTM_GETRULE 34 / RTM_GETROUTE 26
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
s.bind((0, 0))
# Warm the socket (the kernel sizes dump buffers by the largest read so far).
s.send(struct.pack("=IHHII", 16, 1, 0x1 | 0x4, 1, 0)); s.recv(1 << 16)
hdr = struct.pack("=BBBBBBBBI", fam, 0, 0, 0, 0, 0, 0, 0, 0)
s.send(struct.pack("=IHHII", 16 + len(hdr), typ, 0x1 | 0x300, 2, 0) + hdr)
out = []
while True:
    d = s.recv(1 << 16); off = 0; done = False
    while off < len(d):
        ln, t, fl, sq, pid = struct.unpack("=IHHII", d[off:off + 16])
        if t in (2, 3):
            done = True; break
        body = d[off + 16:off + ln]
        hl = 12
        attrs = {}; a = hl
        while a + 4 <= len(body):
            al, at = struct.unpack("=HH", body[a:a + 4]); at &= 0x3fff
            if al < 4: break
            attrs[at] = body[a + 4:a + al].hex(); a += (al + 3) & ~3
        table = int.from_bytes(bytes.fromhex(attrs[15]), "little") if 15 in attrs else body[4]
        nh = 0
        if typ == 26 and 9 in attrs:
            mp = bytes.fromhex(attrs[9]); p = 0
            while p + 8 <= len(mp):
                l, = struct.unpack("=H", mp[p:p + 2]); nh += 1; p += (l + 3) & ~3
        out.append({"table": table, "types": sorted(attrs), "nexthops": nh, "len": ln})
        off += (ln + 3) & ~3
    if done: break
print(json.dumps(out))
'''


class NetlinkLimitsBase(NetnsTestCase):
    def raw_dump(self, family: int, typ: int) -> list[dict]:
        r = self.ns.run(["python3", "-c", DUMP_SCRIPT, str(family), str(typ)])
        return [o for o in json.loads(r.stdout) if o["table"] == TABLE]

    def nl(self, *args: str) -> None:
        self.ns.run(["python3", str(HERE / "nlrule.py"), *args])


def many_peers(family: int, n: int) -> list[str]:
    base = ipaddress.ip_address("10.1.0.0" if family == 4 else "fd00::1:0")
    return [str(base + 1 + i) for i in range(n)]


class TestManyPeers(NetlinkLimitsBase):
    """Too many peers of one family: refused with the limit, nothing partial installed."""

    def setUp(self) -> None:
        super().setUp()
        self.ns.ip("addr", "add", "10.1.255.254/16", "dev", "v0")  # on-link for thousands of IPv4 peers (and not one of them: a local address is never a nexthop)

    def check_refused(self, family: int, n: int, daemon: bool = False) -> None:
        cfg = self.write_config(PEERS, POOLS)
        self.oneshot(cfg)
        self.assert_state(CIDRS, PEERS)
        before = self.managed_routes()
        self.write_config(PEERS + many_peers(family, n), POOLS)
        limit = f"at most {MAX_HOPS[family]} {FAMILY_NAME[family]} nexthops"
        if daemon:
            agent = self.ns.start_agent(self.base_env(cfg))
            line = agent.wait_log(lambda l: limit in json.dumps(l), 30, what="refusal naming the limit")
            self.assertIn(f"route has {n + 2} {FAMILY_NAME[family]} nexthops", json.dumps(line))
            self.assertTrue(agent.alive(), "agent died")
            self.assertEqual(self.managed_routes(), before, "earlier routing must stay")
            self.assertEqual(agent.stop(), 0)
        else:
            r = self.oneshot(cfg, expect_rc=None)
            self.assertEqual(r.returncode, 1, "refused op: exit 1, no abort\n" + r.describe())
            self.assertIn(limit, r.stderr + r.stdout)
        # nothing partial: the route of that family is still the earlier one (2 hops)
        self.assertEqual(self.managed_routes(), before, "earlier routing must stay")
        for fam in (4, 6):
            routes = self.raw_dump(fam, 26)
            self.assertEqual(len(routes), 1, f"one route per family, read back in full ({fam})")
            self.assertEqual(routes[0]["nexthops"], 2)
        self.assertEqual(self.managed_rules(), self.want_rules(CIDRS))

    def test_v6_2400(self): self.check_refused(6, 2400)
    def test_v6_3000(self): self.check_refused(6, 3000)
    def test_v6_5000(self): self.check_refused(6, 5000)
    def test_v4_2400(self): self.check_refused(4, 2400)
    def test_v4_3000(self): self.check_refused(4, 3000)
    def test_v4_5000(self): self.check_refused(4, 5000)
    def test_v6_5000_daemon(self): self.check_refused(6, 5000, daemon=True)

    def check_at_limit(self, family: int) -> None:
        """The limit itself is installed, read back whole, and one more is refused."""
        n = MAX_HOPS[family]
        peers = many_peers(family, n)
        cfg = self.write_config(peers, [("bgp", "bgp", CIDRS)])
        self.oneshot(cfg)
        routes = self.raw_dump(family, 26)
        self.assertEqual([r["nexthops"] for r in routes], [n])
        # ONESHOT again: reads it back (exact, nothing to do)
        r = self.oneshot(cfg)
        self.assertNotIn("refused", r.stderr)
        self.write_config(many_peers(family, n + 1), [("bgp", "bgp", CIDRS)])
        r = self.oneshot(cfg, expect_rc=1)
        self.assertIn(f"at most {n} {FAMILY_NAME[family]} nexthops", r.stderr + r.stdout)
        self.assertEqual([r["nexthops"] for r in self.raw_dump(family, 26)], [n])

    def test_v4_at_limit(self): self.check_at_limit(4)
    def test_v6_at_limit(self): self.check_at_limit(6)


class TestTwins(NetlinkLimitsBase):
    """Twins of our rules with a selector iproute2 6.1 and the old codec do not decode."""

    TWINS = [("192.168.57.0/24", "dscp=10"), ("fd20::/64", "flowlabel=12345/fffff")]

    def plant_twins(self) -> None:
        for cidr, sel in self.TWINS:
            self.nl(cidr, str(TABLE), "20", sel)

    def assert_ours_only(self) -> None:
        self.assert_state(CIDRS, PEERS)
        types = self.raw_dump(4, 34) + self.raw_dump(6, 34)
        self.assertEqual(len(types), 2, types)
        for r in types:
            self.assertFalse({25, 26, 27} & set(r["types"]), f"a twin is left: {r}")

    def test_twins_planted(self):
        self.plant_twins()
        self.assertEqual(len(self.raw_dump(4, 34)), 1)
        self.assertEqual(len(self.raw_dump(6, 34)), 1)

    def test_oneshot_twins_only(self):
        cfg = self.write_config(PEERS, POOLS)
        self.plant_twins()
        self.oneshot(cfg)
        self.assert_ours_only()

    def test_oneshot_twins_next_to_ours(self):
        cfg = self.write_config(PEERS, POOLS)
        self.oneshot(cfg)
        self.plant_twins()
        self.assertEqual(len(self.raw_dump(4, 34)), 2)
        self.oneshot(cfg)
        self.assert_ours_only()

    def test_daemon_and_sighup(self):
        cfg = self.write_config(PEERS, POOLS)
        before = self.seed_foreign()
        agent = self.ns.start_agent(self.base_env(cfg))
        self.wait_state(CIDRS, PEERS)
        self.plant_twins()
        wait_until(lambda: len(self.raw_dump(4, 34)) == 1 and len(self.raw_dump(6, 34)) == 1, 10,
                   what="twins removed")
        self.assert_ours_only()
        self.plant_twins()
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: len(self.raw_dump(4, 34)) == 1 and len(self.raw_dump(6, 34)) == 1, 10,
                   what="twins removed after SIGHUP")
        self.assert_ours_only()
        self.assertTrue(agent.alive())
        self.assert_foreign_unchanged(before)
        self.assertEqual(agent.stop(), 0)


class TestNexthopObjectImposter(NetlinkLimitsBase):
    """`ip route add ... nhid N` in the managed table: removed by key and id; the object stays."""

    def plant(self) -> None:
        self.ns.ip("nexthop", "add", "id", "7", "via", "10.0.0.4", "dev", "v0")
        self.ns.ip("-6", "nexthop", "add", "id", "8", "via", "fd00::4", "dev", "v0")
        self.ns.ip("route", "add", "10.50.0.0/16", "table", str(TABLE), "nhid", "7")
        self.ns.ip("-6", "route", "add", "fd50::/64", "table", str(TABLE), "nhid", "8")

    def nexthops(self) -> list:
        return sorted(n["id"] for n in self.ns.ipj("nexthop", "show"))

    def test_oneshot(self):
        cfg = self.write_config(PEERS, POOLS)
        self.plant()
        r = self.oneshot(cfg)
        self.assertNotIn("mutually exclusive", r.stderr)
        self.assert_state(CIDRS, PEERS)
        self.assertEqual(self.nexthops(), [7, 8])

    def test_daemon(self):
        cfg = self.write_config(PEERS, POOLS)
        agent = self.ns.start_agent(self.base_env(cfg))
        self.wait_state(CIDRS, PEERS)
        self.plant()
        wait_until(lambda: self.state_is(CIDRS, PEERS), 10, what="nhid imposters removed")
        self.assertEqual(self.nexthops(), [7, 8])
        self.assertNotIn("mutually exclusive", agent.stderr())
        self.assertEqual(agent.stop(), 0)
