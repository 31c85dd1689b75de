"""Pre/post reconcile scripts never stop the loop: they run as children around the
reconciles that establish a state (configuration, periodic, resync, ONESHOT), in order,
while other writers' changes are corrected at once, restoring the established state."""

from __future__ import annotations

import os
import time

from netns import NetnsTestCase, figure_value, legacy_yaml, wait_until

P = ["10.0.0.1", "fd00::1"]
C1 = ["192.168.57.0/24", "fd20::/64"]
C2 = ["192.168.59.0/24", "fd20::/64"]


class TestScriptsOnTheLoop(NetnsTestCase):
    def script(self, name: str, body: str):
        return self.ns.write(name, "#!/bin/sh\n" + body, mode=0o755)

    def start(self, **env):
        self.cfg = self.write_config(P, [("p", "bgp", C1)])
        self.agent = self.ns.start_agent(self.base_env(self.cfg, **env))
        return self.agent

    def imposter_lifetime(self, src: str) -> float:
        t0 = time.monotonic()
        self.ns.ip("rule", "add", "from", src, "lookup", "20", "priority", "20")
        wait_until(lambda: not any(r.get("src") == src.split("/")[0] for r in self.ns.table_rules(20)), 5,
                   interval=0.005, what=f"imposter {src} removed")
        return time.monotonic() - t0

    def test_hanging_pre_script_never_delays_corrections(self):
        gate = self.ns.out / "gate"
        # The first pre script passes at once; later ones hang until the gate file appears.
        pre = self.script("pre.sh", f"[ -e {self.ns.out}/first ] || {{ touch {self.ns.out}/first; exit 0; }}\n"
                                    f"while [ ! -e {gate} ]; do sleep 0.05; done\n")
        agent = self.start(PRE_RECONCILE_SCRIPT_PATH=str(pre))
        self.wait_state(C1, P)
        # A new configuration: its reconcile waits for the (hanging) pre script...
        tmp = self.ns.write("new.tmp", legacy_yaml(P, [("p", "bgp", C2)]))
        os.rename(tmp, self.cfg)
        agent.wait_log(lambda l: l.get("msg") == "configuration loaded" and l.get("path") == str(self.cfg), 5,
                       what="the new configuration loaded")
        time.sleep(0.3)
        self.assert_state(C1, P)  # not applied before the pre script has finished
        # ...while imposters are removed at once, restoring the established state (C1).
        for i in range(5):
            took = self.imposter_lifetime(f"10.77.{i}.0/24")
            figure_value("imposter lifetime while a pre script hangs (s, incl. polling)", took)
            self.assertLess(took, 2.0)
        self.assert_state(C1, P)
        gate.touch()
        self.wait_state(C2, P, timeout=10)  # the pre script ended: the new configuration applies
        self.assertEqual(agent.stop(), 0)

    def test_script_forking_a_daemon_does_not_block(self):
        post = self.script("post.sh", "(sleep 30; echo late) &\necho post-done\n")
        agent = self.start(POST_RECONCILE_SCRIPT_PATH=str(post))
        self.wait_state(C1, P)
        line = agent.wait_log(lambda l: l.get("msg") == "reconcile script finished", 5, what="post script result")
        self.assertIn("post-done", line.get("stdout", ""))
        self.assertLess(self.imposter_lifetime("10.78.0.0/24"), 2.0)
        self.assertEqual(agent.stop(), 0)

    def test_script_printing_10_mb(self):
        pre = self.script("pre.sh", "head -c 10485760 /dev/zero | tr '\\0' x\n")
        r = self.oneshot(self.write_config(P, [("p", "bgp", C1)]), PRE_RECONCILE_SCRIPT_PATH=str(pre))
        self.assert_state(C1, P)
        line = [l for l in r.json_logs() if l.get("msg") == "reconcile script finished"][0]
        self.assertLessEqual(len(line["stdout"]), 65536)
        self.assertEqual(int(line["output_bytes_dropped"]) + len(line["stdout"]), 10485760)

    def test_oneshot_runs_pre_then_post(self):
        out = self.ns.out
        pre = self.script("pre.sh", f"ip -N -j rule show > {out}/pre.json; echo pre >> {out}/order\n")
        post = self.script("post.sh", f"ip -N -j rule show > {out}/post.json; echo post >> {out}/order\n")
        self.oneshot(self.write_config(P, [("p", "bgp", C1)]), PRE_RECONCILE_SCRIPT_PATH=str(pre),
                     POST_RECONCILE_SCRIPT_PATH=str(post))
        self.assertEqual((out / "order").read_text().split(), ["pre", "post"])
        self.assertNotIn('"table":"20"', (out / "pre.json").read_text())
        self.assertIn('"table":"20"', (out / "post.json").read_text())
