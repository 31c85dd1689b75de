"""Every kind of imposter in the managed table is removed, in ONESHOT (planted before
the run) and in the daemon (added with `ip` while it runs), and nothing outside the
table changes."""

from __future__ import annotations

import re
import time

from netns import HERE, NetnsTestCase, figure_value, wait_until

PEERS = ["10.0.0.1", "10.0.0.3", "fd00::1", "fd00::3"]
CIDRS = ["192.168.57.0/24", "192.168.58.0/24", "fd20::/64"]
POOLS = [("bgp", "bgp", CIDRS)]

S = "192.168.57.0/24"
S6 = "fd20::/64"

# name -> list of commands; ("ip", args...) runs `ip -n NS args`, ("nl", args...) runs nlrule.py.
RULE_IMPOSTERS: dict[str, list[tuple[str, ...]]] = {
    "extra_to": [("ip", "rule", "add", "from", S, "to", "8.8.8.8", "lookup", "20", "priority", "20", "proto", "245")],
    "extra_to_no_proto": [("ip", "rule", "add", "from", S, "to", "8.8.8.8", "lookup", "20", "priority", "20")],
    "extra_iif": [("ip", "rule", "add", "from", S, "iif", "v0", "lookup", "20", "priority", "20", "proto", "245")],
    "extra_oif": [("ip", "rule", "add", "from", S, "oif", "v0", "lookup", "20", "priority", "20", "proto", "245")],
    "extra_tos": [("ip", "rule", "add", "from", S, "tos", "0x10", "lookup", "20", "priority", "20", "proto", "245")],
    "extra_ipproto": [("ip", "rule", "add", "from", S, "ipproto", "tcp", "lookup", "20", "priority", "20", "proto", "245")],
    "extra_sport": [("ip", "rule", "add", "from", S, "sport", "80", "lookup", "20", "priority", "20", "proto", "245")],
    "extra_uidrange": [("ip", "rule", "add", "from", S, "uidrange", "1-2", "lookup", "20", "priority", "20", "proto", "245")],
    "extra_suppress_prefixlength": [("ip", "rule", "add", "from", S, "lookup", "20", "priority", "20",
                                     "suppress_prefixlength", "0", "proto", "245")],
    "other_priority": [("ip", "rule", "add", "from", S, "lookup", "20", "priority", "21", "proto", "245")],
    "other_fwmark": [("ip", "rule", "add", "from", S, "fwmark", "0x5/0xff", "lookup", "20", "priority", "20", "proto", "245")],
    "invert_not": [("nl", S, "20", "20", "not")],
    "action_prohibit": [("ip", "rule", "add", "from", S, "table", "20", "prohibit", "priority", "20", "proto", "245")],
    "action_blackhole": [("ip", "rule", "add", "from", S, "table", "20", "blackhole", "priority", "20", "proto", "245")],
    "exact_duplicate": [("nl", S, "20", "20"), ("nl", S, "20", "20")],
    "wrong_protocol_static": [("ip", "rule", "add", "from", S, "lookup", "20", "priority", "20", "proto", "static")],
    "wrong_protocol_unspec": [("nl", S, "20", "20", "proto=0")],
    "stale_cidr": [("ip", "rule", "add", "from", "10.99.0.0/16", "lookup", "20", "priority", "20", "proto", "245")],
    "narrower_cidr": [("ip", "rule", "add", "from", "192.168.57.128/25", "lookup", "20", "priority", "20", "proto", "245")],
    # `ip rule add from all ...` would be refused (EEXIST) next to a rule with a source: plant it raw
    "from_all": [("nl", "0.0.0.0/0", "20", "20")],
    "v6_extra_to": [("ip", "-6", "rule", "add", "from", S6, "to", "fd99::1", "lookup", "20", "priority", "20", "proto", "245")],
    "v6_extra_iif": [("ip", "-6", "rule", "add", "from", S6, "iif", "v1", "lookup", "20", "priority", "20", "proto", "245")],
    "v6_other_priority": [("ip", "-6", "rule", "add", "from", S6, "lookup", "20", "priority", "30", "proto", "245")],
    "v6_other_fwmark": [("ip", "-6", "rule", "add", "from", S6, "fwmark", "0x7", "lookup", "20", "priority", "20", "proto", "245")],
    "v6_invert_not": [("nl", S6, "20", "20", "not")],
    "v6_exact_duplicate": [("nl", S6, "20", "20"), ("nl", S6, "20", "20")],
    "v6_wrong_protocol": [("ip", "-6", "rule", "add", "from", S6, "lookup", "20", "priority", "20", "proto", "static")],
    "v6_stale_cidr": [("ip", "-6", "rule", "add", "from", "fd21::/64", "lookup", "20", "priority", "20", "proto", "245")],
    "v6_action_unreachable": [("ip", "-6", "rule", "add", "from", S6, "table", "20", "unreachable", "priority", "20",
                               "proto", "245")],
}

NH = ("nexthop", "via", "10.0.0.1", "weight", "100", "nexthop", "via", "10.0.0.3", "weight", "100")
NH6 = ("nexthop", "via", "fd00::1", "weight", "100", "nexthop", "via", "fd00::3", "weight", "100")
ROUTE_IMPOSTERS: dict[str, list[tuple[str, ...]]] = {
    "route_extra_prefix": [("ip", "route", "add", "10.50.0.0/16", "via", "10.0.0.1", "table", "20", "proto", "245")],
    "route_unreachable": [("ip", "route", "add", "unreachable", "10.60.0.0/16", "table", "20")],
    "route_default_other_metric": [("ip", "route", "add", "default", "via", "10.0.0.4", "table", "20", "metric", "7")],
    "route_default_tos": [("ip", "route", "add", "default", "tos", "0x10", "via", "10.0.0.4", "table", "20")],
    "route_wrong_nexthop": [("ip", "route", "replace", "default", "table", "20", "proto", "245", "via", "10.0.0.4")],
    "route_missing_nexthop": [("ip", "route", "replace", "default", "table", "20", "proto", "245", "via", "10.0.0.1")],
    "route_extra_nexthop": [("ip", "route", "replace", "default", "table", "20", "proto", "245", *NH,
                             "nexthop", "via", "10.0.0.4", "weight", "100")],
    "route_wrong_weights": [("ip", "route", "replace", "default", "table", "20", "proto", "245",
                             "nexthop", "via", "10.0.0.1", "weight", "5", "nexthop", "via", "10.0.0.3", "weight", "100")],
    "route_wrong_protocol": [("ip", "route", "replace", "default", "table", "20", "proto", "static", *NH)],
    "v6_route_extra_prefix": [("ip", "-6", "route", "add", "fd50::/64", "via", "fd00::1", "table", "20")],
    "v6_route_blackhole": [("ip", "-6", "route", "add", "blackhole", "fd60::/64", "table", "20")],
    "v6_route_default_other_metric": [("ip", "-6", "route", "add", "default", "via", "fd00::3", "table", "20", "metric", "5")],
    "v6_route_wrong_nexthop": [("ip", "-6", "route", "replace", "default", "table", "20", "proto", "245", "via", "fd00::3")],
    "v6_route_wrong_weights": [("ip", "-6", "route", "replace", "default", "table", "20", "proto", "245",
                                "nexthop", "via", "fd00::1", "weight", "3", "nexthop", "via", "fd00::3", "weight", "100")],
    "v6_route_wrong_protocol": [("ip", "-6", "route", "replace", "default", "table", "20", "proto", "static", *NH6)],
}

ALL = {**RULE_IMPOSTERS, **ROUTE_IMPOSTERS}

class ImposterBase(NetnsTestCase):
    def plant(self, cmds: list[tuple[str, ...]]) -> None:
        for c in cmds:
            if c[0] == "ip":
                self.ns.ip(*c[1:])
            else:
                self.ns.run(["python3", str(HERE / "nlrule.py"), *c[1:]])


class TestImpostersOneshot(ImposterBase):
    """Imposters planted next to (or instead of) the desired state, then ONESHOT."""

    def check(self, kind: str) -> None:
        before = self.seed_foreign()
        cfg = self.write_config(PEERS, POOLS)
        # half of the desired state already there, as a previous run would have left it
        self.ns.ip("route", "replace", "default", "table", "20", "proto", "245", *NH)
        self.ns.run(["python3", str(HERE / "nlrule.py"), "192.168.58.0/24", "20", "20"])
        self.plant(ALL[kind])
        self.assertNotEqual(self.managed_rules() + self.managed_routes(),
                            self.want_rules(CIDRS) + self.want_routes(PEERS), "imposter not planted")
        self.oneshot(cfg)
        self.assert_state(CIDRS, PEERS)
        self.assert_foreign_unchanged(before)


class TestImpostersDaemon(ImposterBase):
    """The daemon converges; an imposter added with `ip` disappears (polled, not timed)."""

    def check(self, kind: str) -> None:
        before = self.seed_foreign()
        cfg = self.write_config(PEERS, POOLS)
        self.ns.start_monitor()
        agent = self.ns.start_agent(self.base_env(cfg))
        self.wait_state(CIDRS, PEERS)
        n0 = len(agent.json_logs())
        self.plant(ALL[kind])
        t0 = time.monotonic()
        wait_until(lambda: self.state_is(CIDRS, PEERS) or not agent.alive(), 10, interval=0.002,
                   what=f"imposter {kind} removed")
        dt = (time.monotonic() - t0) * 1000
        self.assertTrue(agent.alive(), "agent died")
        figure_value("daemon imposter correction, ms from the `ip` ack until the table reads exact again "
                     "(resolution ~ one state read)", dt)
        self.assert_state(CIDRS, PEERS)
        self.assert_foreign_unchanged(before)
        # the removal is logged at info with what was removed
        wait_until(lambda: [l for l in agent.json_logs()[n0:] if l.get("level") == "info"
                            and re.search(r"(?i)imposter|replac|remov|delet", str(l.get("msg", "")))], 5,
                   what="an info log line about the correction (after the imposter was added)")
        self.assertEqual(agent.stop(), 0)


def _add(cls, kind):
    def t(self):
        self.check(kind)
    t.__name__ = f"test_{kind}"
    t.__doc__ = f"{cls.__name__}: {kind}: " + " ; ".join(" ".join(c) for c in ALL[kind])
    setattr(cls, t.__name__, t)


for _k in ALL:
    _add(TestImpostersOneshot, _k)
    _add(TestImpostersDaemon, _k)
