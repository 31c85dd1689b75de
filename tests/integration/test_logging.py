"""Log output: a stderr pipe nobody reads never stops enforcement (lines are queued, then
dropped and counted, and the count is reported once the reader returns); script output
that is not UTF-8 is escaped so every line stays valid UTF-8 and JSON."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import time

from netns import AGENT, NetnsTestCase, Result, agent_env, figure_value, parse_json_lines, wait_until

P = ["10.0.0.1", "fd00::1"]
C1 = ["192.168.57.0/24", "fd20::/64"]
F_GETPIPE_SZ = 1032


class TestLogging(NetnsTestCase):
    def _read_pipe(self, fd: int, until: float) -> bytes:
        out = b""
        while time.monotonic() < until:
            r, _, _ = select.select([fd], [], [], 0.2)
            if not r:
                if out:
                    break
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            out += chunk
        return out

    def test_stderr_pipe_nobody_reads_does_not_stop_enforcement(self):
        cfg = self.write_config(P, [("p", "bgp", C1)])
        rd, wr = os.pipe()
        # stdout and stderr both the unread pipe (logs go to stderr; stdout must not matter either)
        argv = ["ip", "netns", "exec", self.ns.name, AGENT]
        env = self.base_env(cfg, LOG_LEVEL="debug")
        proc = subprocess.Popen(argv, env=agent_env(env), stdin=subprocess.DEVNULL, stdout=wr, stderr=wr,
                                start_new_session=True)
        os.close(wr)
        self.ns.extra.append(proc)  # killed at cleanup whatever happens
        captured = b""
        try:
            self.wait_state(C1, P)
            # Fill the pipe: thousands of distinct imposters, each removal logged at info and debug.
            n = 4000
            batch = "\n".join(f"rule add from 192.168.57.0/24 to 10.{i // 250}.{i % 250}.0/24 lookup 20 priority 20"
                              for i in range(n)) + "\n"
            self.ns.run(["ip", "-batch", "-"], input=batch, timeout=120)
            pipe_size = fcntl.fcntl(rd, F_GETPIPE_SZ)
            self.wait_state(C1, P, timeout=60)
            # More after the pipe is surely full: still enforced.
            self.ns.run(["ip", "-batch", "-"], input=batch, timeout=120)
            self.wait_state(C1, P, timeout=60)
            self.assertIsNone(proc.poll(), "agent exited")
            # Now read: the queue drains and the number of dropped lines is reported.
            t0 = time.monotonic()
            deadline = t0 + 20
            while time.monotonic() < deadline and b"log lines dropped" not in captured:
                captured += self._read_pipe(rd, min(deadline, time.monotonic() + 1))
            figure_value("stderr pipe: bytes read after the flood", len(captured))
            logs = parse_json_lines(captured.decode(errors="replace"))
            reports = [l for l in logs if "log lines dropped" in str(l.get("msg"))]
            self.assertTrue(reports, f"no dropped-lines report in {len(captured)} bytes read "
                                     f"(pipe {pipe_size} bytes)")
            self.assertGreater(sum(int(r["dropped"]) for r in reports), 0)
            # The stream is whole lines of valid JSON.
            text = captured.decode()
            bad = [l for l in text.splitlines() if l.strip() and not l.startswith("{")]
            self.assertEqual(bad, [], "partial or non-JSON lines")
            # Writing works again: SIGHUP is logged and reaches the reader.
            proc.send_signal(signal.SIGHUP)
            more = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and b"SIGHUP" not in more:
                more += self._read_pipe(rd, min(deadline, time.monotonic() + 1))
            captured += more
            self.assertIn(b"SIGHUP", more)
            proc.send_signal(signal.SIGTERM)
            captured += self._read_pipe(rd, time.monotonic() + 10)
            self.assertEqual(proc.wait(10), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            os.close(rd)
            self.ns.results.append(Result(argv, env, proc.returncode if proc.returncode is not None else -1,
                                          "", captured.decode(errors="replace"), 0.0))

    def test_script_output_not_utf8_is_escaped(self):
        """A post script printing Latin-1 and a cut UTF-8 sequence: the log lines stay valid UTF-8
        JSON, the bytes show as \\xNN, valid UTF-8 is kept."""
        script = self.ns.write("post.sh", "#!/bin/sh\nprintf 'caf\\351 \\342\\202 ok \\303\\251\\n'\n", mode=0o755)
        cfg = self.write_config(P, [("p", "bgp", C1)])
        for fmt in ("json", "text"):
            env = self.base_env(cfg, ONESHOT="1", LOG_FORMAT=fmt, LOG_LEVEL="info",
                                POST_RECONCILE_SCRIPT_PATH=str(script))
            argv = ["ip", "netns", "exec", self.ns.name, AGENT]
            p = subprocess.run(argv, env=agent_env(env), stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            err_text = p.stderr.decode("utf-8", errors="replace")
            self.ns.results.append(Result(argv, env, p.returncode, p.stdout.decode(errors="replace"), err_text, 0.0))
            self.assertEqual(p.returncode, 0, err_text)
            p.stderr.decode("utf-8")  # strict: raises on invalid UTF-8
            if fmt == "json":
                lines = [l for l in parse_json_lines(err_text) if l.get("msg") == "reconcile script finished"]
                self.assertEqual(len(lines), 1, err_text)
                self.assertEqual(lines[0]["stdout"], "caf\\xe9 \\xe2\\x82 ok \u00e9\n")
            else:
                self.assertIn("stdout=\"caf\\xe9 \\xe2\\x82 ok \u00e9\\n\"", err_text)
