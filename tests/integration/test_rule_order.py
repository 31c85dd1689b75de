"""A "from all" imposter at our priority: the kernel deletes the first rule a
delete request matches, so removing it must never remove one of our rules
without an identical copy left (issue 8 item 5). ONESHOT over 5,000 rules, and
a daemon fighting a process that re-adds the imposter every 2 ms."""

from __future__ import annotations

import re
import subprocess
import time

from netns import HERE, NetnsTestCase, wait_until

PEERS = ["10.0.0.1", "10.0.0.3"]
IMPOSTER = ("0.0.0.0/0", "20", "20", "proto=0")
LINE = re.compile(r"^(Deleted )?(\d+):\s+(.*)$")


def cidrs(n: int) -> list[str]:
    # Lower /25 halves only: nothing aggregates, one rule each.
    return [f"10.{100 + i // 256}.{i % 256}.0/25" for i in range(n)]


class RuleOrderBase(NetnsTestCase):
    def start_rule_monitor(self) -> subprocess.Popen:
        # A large receive buffer: thousands of events arrive in one burst.
        p = subprocess.Popen(["stdbuf", "-oL", "ip", "-rcvbuf", str(64 << 20), "-n", self.ns.name, "monitor", "rule"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        time.sleep(0.3)  # subscribed before anything happens
        return p

    def stop_rule_monitor(self, p: subprocess.Popen) -> list[str]:
        time.sleep(0.5)
        p.terminate()
        out, _ = p.communicate(timeout=10)
        return out.splitlines()

    def check_never_missing(self, lines: list[str], ours: set[str]) -> int:
        """Replays the monitor: our rules start with one copy each and must never
        drop to none. Returns how many of our rules' deletions were seen."""
        copies = {r: 1 for r in ours}
        deletions = 0
        for line in lines:
            m = LINE.match(line.strip())
            if not m:
                continue
            text = re.sub(r"\s+", " ", m.group(3)).strip()
            if text not in copies:
                continue
            if m.group(1):
                copies[text] -= 1
                deletions += 1
                self.assertGreater(copies[text], 0, f"our rule '{text}' was missing from the kernel\n" + self.diagnostics())
            else:
                copies[text] += 1
        return deletions

    def our_rule_texts(self) -> set[str]:
        out = self.ns.ip("rule", "show", "table", "20").stdout
        texts = set()
        for line in out.splitlines():
            m = LINE.match(line.strip())
            if m and "proto 245" in m.group(3):
                texts.add(re.sub(r"\s+", " ", m.group(3)).strip())
        return texts

    def imposters(self) -> list[dict]:
        return [r for r in self.ns.table_rules(20) if r.get("src") in (None, "all") and r.get("protocol") != "245"]


class TestOneshotWildcardImposter(RuleOrderBase):
    def test_5000_rules_from_all_imposter(self):
        n = 5000
        cfg = self.write_config(PEERS, [("bgp", "bgp", cidrs(n))])
        self.oneshot(cfg)
        ours = self.our_rule_texts()
        self.assertEqual(len(ours), n)
        self.ns.run(["python3", str(HERE / "nlrule.py"), *IMPOSTER])
        self.assertEqual(len(self.imposters()), 1)
        mon = self.start_rule_monitor()
        r = self.oneshot(cfg, LOG_LEVEL="info")
        lines = self.stop_rule_monitor(mon)
        self.assertEqual(self.imposters(), [], "imposter still there\n" + r.describe())
        self.assertEqual(self.our_rule_texts(), ours)
        self.assertEqual(len(self.ns.table_rules(20)), n)
        (self.ns.out / "rule-monitor.txt").write_text("\n".join(lines))
        # `ip monitor` cannot raise its buffer past rmem_max and drops the
        # rest of a 10,000-event burst (ENOBUFS): the invariant is checked on
        # the part it saw, which must include moves (add, then delete).
        deleted = self.check_never_missing(lines, ours)
        self.assertGreater(deleted, 100)
        self.assertTrue(any("moving our rules" in l.get("msg", "") for l in r.json_logs()), r.describe())


class TestDaemonFight(RuleOrderBase):
    def test_readded_every_2ms_is_rate_limited(self):
        n = 200
        cfg = self.write_config(PEERS, [("bgp", "bgp", cidrs(n))])
        agent = self.ns.start_agent(self.base_env(cfg, LOG_LEVEL="info"))
        wait_until(lambda: len(self.our_rule_texts()) == n, 20, what="rules installed")
        ours = self.our_rule_texts()
        mon = self.start_rule_monitor()
        seconds = 4
        script = (f"import sys, time; sys.path.insert(0, {str(HERE)!r}); from nlrule import add_rule\n"
                  f"end = time.monotonic() + {seconds}\n"
                  "n = 0\n"
                  "while time.monotonic() < end:\n"
                  "    add_rule('0.0.0.0/0', 20, 20, protocol=0)\n"
                  "    n += 1\n"
                  "    time.sleep(0.002)\n"
                  "print(n)\n")
        adds = int(self.ns.run(["python3", "-c", script]).stdout.strip())
        wait_until(lambda: self.imposters() == [], 15, what="imposters removed after the fight")
        lines = self.stop_rule_monitor(mon)
        self.assertTrue(agent.alive())
        self.assertEqual(self.our_rule_texts(), ours)
        deleted = self.check_never_missing(lines, ours)
        logs = agent.json_logs()
        warned = [l for l in logs if "rate-limiting corrections" in l.get("msg", "")]
        self.assertTrue(warned, "fight not detected\n" + self.diagnostics())
        # Unbounded, every re-add (about 1,500 in 4 s) would move all 200 rules
        # (300,000 deletions); rate-limited, a fighting round costs tokens in
        # proportion to its ops: at most a few dozen rounds.
        self.assertGreater(adds, 100, "the re-adder did not run")
        self.assertLess(deleted, 30 * n, f"{deleted} deletions of our rules for {adds} re-adds")
        moving = [l for l in logs if "moving our rules" in l.get("msg", "")]
        self.assertLess(len(moving), adds / 5, f"{len(moving)} correcting rounds for {adds} re-adds")
        # Logs stay bounded: one line per imposter copy removed (each re-add is
        # one), and a few lines per rate-limited round (the 200 moves of a round
        # are one line, not 200).
        removed = [l for l in logs if l.get("msg") == "removing imposter rule"]
        self.assertLessEqual(len(removed), adds + 10)
        self.assertLess(len(logs) - len(removed), adds / 2, f"{len(logs)} log lines for {adds} re-adds")
