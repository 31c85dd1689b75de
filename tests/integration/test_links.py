"""Routes lost to link or address changes come back as soon as the kernel allows it (the agent
follows link and address events; the periodic tick is disabled here to prove it), and peers
that are local (loopback, the node's own addresses) are never put into the route."""

from __future__ import annotations

import datetime
import time

from netns import NetnsTestCase, figure_value, wait_until

P = ["10.0.0.1", "fd00::1"]
C1 = ["192.168.57.0/24", "fd20::/64"]
# Generous: the agent reacts within a millisecond of the event; the old agent waited for
# the next backoff retry (seconds) or the periodic tick (disabled here).
DEADLINE = 8.0


def _ts(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


class TestLinks(NetnsTestCase):
    def start(self, peers=P, cidrs=C1):
        self.cfg = self.write_config(peers, [("p", "bgp", cidrs)])
        self.ns.start_monitor()
        self.agent = self.ns.start_agent(self.base_env(self.cfg, MAX_RECONCILE_WAIT="0"))
        return self.agent

    def wait_back(self, what: str, t0: float, cidrs=C1, peers=P) -> None:
        wait_until(lambda: self.state_is(cidrs, peers), DEADLINE, interval=0.001, what=f"routes back after {what}")
        # The agent's own latency: from the last link/address event it logged (debug) to the end
        # of the successful reconcile that restored the route (the test's polling adds ~100 ms).
        logs = self.agent.json_logs()
        done = [i for i, l in enumerate(logs) if l.get("msg") == "reconciled" and l.get("trigger") == "link"
                and l.get("ok") and l.get("changes")]
        if done:
            i = done[-1]
            ev = [l for l in logs[:i] if l.get("msg") == "link or address change"]
            if ev:
                figure_value(f"route restored after {what}: event to reconciled (ms)",
                             (_ts(logs[i]["time"]) - _ts(ev[-1]["time"])) * 1000)

    def test_link_down_up_restores_routes(self):
        # Foreign routes via v0 go with the link (the kernel's doing): only rules are compared.
        before = self.seed_foreign()["rules"]
        agent = self.start()
        self.wait_state(C1, P)
        self.ns.ip("link", "set", "v0", "down")
        # The kernel drops the table's routes with the link (IPv4 without a notification).
        wait_until(lambda: not self.managed_routes(), 5, what="routes gone with the link")
        time.sleep(3)  # long enough for a refused re-add to be in backoff
        self.ns.ip("link", "set", "v0", "up")
        t0 = time.monotonic()
        # IPv4 comes back with the link; the kernel removed fd00::2 with the link
        # (keep_addr_on_down=0): IPv6 comes back when the node's network setup re-adds it.
        self.wait_back("link up", t0, cidrs=C1, peers=["10.0.0.1"])
        self.ns.ip("-6", "addr", "add", "fd00::2/64", "dev", "v0", "nodad")
        t0 = time.monotonic()
        self.wait_back("IPv6 address back after link up", t0)
        self.assertTrue(agent.alive())
        self.assertNotIn("reconcile failed; retrying", agent.stderr(),
                         "a route refused for want of a link went into backoff")
        self.assertEqual(self.ns.foreign_snapshot(self.TABLE)["rules"], before)
        self.assertEqual(agent.stop(), 0)

    def test_address_removed_and_readded_restores_route(self):
        before = self.seed_foreign()["rules"]
        agent = self.start()
        self.wait_state(C1, P)
        for _ in range(3):
            # Removing the address deletes the IPv4 route without any route notification.
            self.ns.run("ip addr del 10.0.0.2/24 dev v0; ip addr add 10.0.0.2/24 dev v0")
            t0 = time.monotonic()
            self.wait_back("address re-added", t0)
        self.ns.run("ip -6 addr del fd00::2/64 dev v0; ip -6 addr add fd00::2/64 dev v0 nodad")
        t0 = time.monotonic()
        self.wait_back("IPv6 address re-added", t0)
        self.assertTrue(agent.alive())
        self.assertEqual(self.ns.foreign_snapshot(self.TABLE)["rules"], before)
        self.assertEqual(agent.stop(), 0)

    def test_local_peers_are_skipped_and_follow_address_changes(self):
        peers = ["127.0.0.1", "::1", "10.0.0.2", "10.0.0.1", "fd00::2", "fd00::1"]
        agent = self.start(peers=peers)
        self.wait_state(C1, P)
        logs = agent.json_logs()
        for p, why in (("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.0.0.2", "own addresses"),
                       ("fd00::2", "own addresses")):
            self.assertTrue(any(f"peer {p} " in str(l.get("error", "")) and why in str(l.get("error", ""))
                                for l in logs), f"skip of {p} not logged")
        # 10.0.0.2 stops being local (moved to .5): it becomes a peer again.
        self.ns.run("ip addr del 10.0.0.2/24 dev v0; ip addr add 10.0.0.5/24 dev v0")
        self.wait_state(C1, ["10.0.0.1", "10.0.0.2", "fd00::1"], timeout=DEADLINE)
        agent.wait_log(lambda l: "no longer a local address" in str(l.get("msg")) and l.get("peer") == "10.0.0.2",
                       what="peer used again")
        # And local again: skipped again.
        self.ns.ip("addr", "add", "10.0.0.2/24", "dev", "v0")
        self.wait_state(C1, P, timeout=DEADLINE)
        agent.wait_log(lambda l: "now a local address" in str(l.get("msg")) and l.get("peer") == "10.0.0.2",
                       what="peer skipped again")
        self.assertEqual(agent.stop(), 0)

    def test_local_peers_oneshot(self):
        cfg = self.write_config(["127.0.0.1", "::1", "10.0.0.2", "10.0.0.1"], [("p", "bgp", C1)])
        r = self.oneshot(cfg)
        self.assert_state(["192.168.57.0/24"], ["10.0.0.1"])
        skipped = [l for l in r.json_logs() if l.get("msg") == "configuration entry skipped" and "cannot be a gateway" in str(l.get("error"))]
        self.assertEqual(len(skipped), 3, r.describe())

    def test_whole_space_pool_warns_every_load(self):
        cfg = self.write_config(P, [("all4", "bgp", ["0.0.0.0/0"]), ("all6", "bgp", ["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"])])
        r = self.oneshot(cfg)
        warns = [l for l in r.json_logs() if l.get("level") == "warn" and "whole" in str(l.get("warning", ""))]
        self.assertEqual(len(warns), 2, r.describe())
        self.assertTrue(any("0.0.0.0/0" in w["warning"] and "IPv4" in w["warning"] for w in warns))
        self.assertTrue(any("::-ffff" in w["warning"] and "IPv6" in w["warning"] for w in warns))
        self.assert_state(["0.0.0.0/0", "::/0"], P)  # the operator's choice: still applied
        # Every load: the daemon warns again after an edit.
        agent = self.ns.start_agent(self.base_env(cfg))
        agent.wait_log(lambda l: "0.0.0.0/0" in str(l.get("warning", "")), what="warning at start")
        cfg.write_text(cfg.read_text() + "\n")
        wait_until(lambda: sum("0.0.0.0/0" in str(l.get("warning", "")) for l in agent.json_logs()) >= 2, 10,
                   what="warning at reload")
        self.assertEqual(agent.stop(), 0)
