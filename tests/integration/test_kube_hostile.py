"""Hostile API servers (issue 8, items 9, 10, 11 and the metadata part of 13): endless header
blocks and endless `continue` chains are cut at a bound with bounded memory and routing kept; a
watch that goes silent after its headers is restarted; credentials echoed by the server never reach
the log; an object whose metadata.labels is not a map is reported by name and kind."""

from __future__ import annotations

import secrets
import signal

from netns import SANITIZED

from kube_harness import (MNS, KubeTestCase, advertisement, bgppeer, configmap, legacy_config, pool, wait_until)

P = ["10.0.0.1", "fd00::1"]
C1 = ["192.168.57.0/24", "fd20::/64"]
P2 = ["10.0.0.3"]
C2 = ["192.168.60.0/24"]
CM_PATH = f"/api/v1/namespaces/{MNS}/configmaps"


def cfg(peers, cidrs):
    return legacy_config(peers, [("p", "bgp", cidrs)])


def crd_objects(peers, cidrs):
    return [advertisement("all"), pool("p", cidrs)] + [bgppeer(f"peer{i}", a) for i, a in enumerate(peers)]


def vm_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class HostileBase(KubeTestCase):
    def plant_imposter(self):
        self.ns.ip("route", "add", "10.99.0.0/16", "via", "10.0.0.1", "table", "20")

    def assert_memory_bounded(self, agent, baseline_kib: int, what: str, bound_mib: int = 48):
        # AddressSanitizer's redzones and quarantine roughly triple the heap of
        # 30,000 decoded objects; the bound scales with it (the unbounded agent
        # grew by 300 MB unsanitized).
        if SANITIZED:
            bound_mib *= 3
        hwm = vm_kib(agent.proc.pid, "VmHWM")
        self.assertLess(hwm - baseline_kib, bound_mib * 1024,
                        f"{what}: peak RSS grew from {baseline_kib} KiB to {hwm} KiB\n" + agent.describe())


class TestHostileBounds(HostileBase):
    def test_endless_header_lines_are_cut_at_the_head_limit(self):
        """A watch answered with a status line and then header lines forever (4 KiB each, 200 MiB
        offered): the agent drops the connection at the 64 KiB head limit, logs it, keeps enforcing
        the last good configuration, and its peak RSS stays far below what the server offered."""
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        api.wait_for_watch("/configmaps")
        baseline = vm_kib(agent.proc.pid, "VmHWM")
        api.add_fault(path="/configmaps", type="watch", action="endless_headers", endless_bytes=200 << 20)
        api.close_watches("/configmaps", mode="abrupt")
        self.wait_agent_log(agent, "response head exceeds the 64 KiB limit", level="warn", timeout=20)
        self.plant_imposter()
        self.wait_state(C1, P)  # still routing: the imposter is removed, nothing else changed
        self.assert_alive(agent)
        flood = [r for r in api.requests_log("/configmaps", "watch") if r.get("status") == "endless_headers"]
        self.assertTrue(flood)
        self.assert_memory_bounded(agent, baseline, "endless header lines")
        # The agent keeps retrying with backoff; once the server behaves it follows changes again.
        api.clear_faults()
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2, timeout=40)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)

    def test_endless_continue_chain_is_stopped(self):
        """A relist answered by an endless `continue` chain (new objects on every page) stops at the
        bound (30,000 objects; then, with one object a page, 100 pages), logs why, keeps the previous
        objects and configuration, and memory stays bounded. When the server behaves, the next relist
        applies a change made meanwhile."""
        api = self.start_api()
        api.put_object(*crd_objects(P, C1))
        agent = self.start_kube_agent(api, crds=True)
        self.wait_state(C1, P)
        api.wait_for_watch("/ipaddresspools")
        baseline = vm_kib(agent.proc.pid, "VmHWM")
        path = "/ipaddresspools"
        for per_page, words in ((500, "list stopped: more than 30000 objects"),
                                (1, "still sending continue tokens after 100 pages")):
            with self.subTest(per_page=per_page):
                api.clear_faults()
                api.add_fault(path=path, type="list", endless_continue=per_page)
                n = len(agent.json_logs())
                api.inject(path, error={"code": 410, "reason": "Expired", "message": "too old resource version"})
                line = self.wait_agent_log(agent, words, level="warn", timeout=40, since=n)
                self.assertIn("keeping the previous objects", line["msg"])
                self.assert_state(C1, P)
                self.assert_alive(agent)
        self.assert_memory_bounded(agent, baseline, "endless continue chain")
        pages = [r for r in api.requests_log(path, "list")]
        self.assertGreater(len(pages), 100)
        api.clear_faults()
        api.put_object(pool("p", C2))
        self.wait_state(C2, P, timeout=40)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)


class TestSilentWatch(HostileBase):
    def test_watch_silent_after_headers_is_reopened(self):
        """The watch gets 200 + chunked headers and then nothing (no event, no bookmark). With
        KUBE_WATCH_SILENCE_TIMEOUT=2 the agent reopens it after 2 s from the list's resourceVersion
        (no relist), and a change made during the silence is applied."""
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        api.add_fault(path="/configmaps", type="watch", action="headers_then_silence", times=1)
        agent = self.start_kube_agent(api, KUBE_WATCH_SILENCE_TIMEOUT="2")
        self.wait_state(C1, P)
        first = self.first_request(api, "/configmaps", "watch")
        self.assertEqual(first.get("fault") is not None, True, "the first watch was not the silent one")
        api.put_object(configmap(cfg(P2, C2)))  # the silent watch never delivers this
        self.wait_agent_log(agent, "watch silent for 2 s", level="warn", timeout=15)
        self.wait_state(C2, P2, timeout=10)
        watches = [r for r in api.requests_log("/configmaps", "watch")]
        lists = [r for r in api.requests_log("/configmaps", "list")]
        self.assertGreaterEqual(len(watches), 2)
        self.assertEqual(len(lists), 1, "a silent watch must be reopened, not relisted")
        self.assertEqual(watches[1]["params"].get("resourceVersion"), first["params"].get("resourceVersion"))
        self.assert_alive(agent)

    def test_bad_silence_setting_is_refused(self):
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        r = self.kube_oneshot(api, expect_rc=None, KUBE_WATCH_SILENCE_TIMEOUT="soon")
        self.assertEqual(r.returncode, 2, "an invalid setting is refused at start\n" + r.describe())
        self.assertIn("KUBE_WATCH_SILENCE_TIMEOUT", r.stderr, r.describe())


class TestRedaction(HostileBase):
    def test_echoed_token_never_logged(self):
        """At debug level, a server that echoes the bearer token in Warning headers, in Status
        messages and reasons (HTTP errors and a watch ERROR event), in a JWT-shaped string and after
        the word Bearer: the token never appears on stderr, the rest of the message does."""
        tok = "tok-" + secrets.token_hex(20)
        jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJl"
        other = "opaque" + secrets.token_hex(8)
        api = self.start_api(tokens=(tok,))
        api.put_object(configmap(cfg(P, C1)))
        api.add_fault(path="/configmaps", type="list", times=2, status=500, reason=f"Reason{tok}",
                      message=f"token {tok} rejected; Authorization: Bearer {other}; sa {jwt}",
                      headers={"Warning": f'299 - "your token is {tok}"'})
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P, timeout=20)
        api.wait_for_watch("/configmaps")
        api.inject("/configmaps", error={"code": 500, "reason": "InternalError", "message": f"echo {tok} Bearer {other}"})
        self.wait_agent_log(agent, "watch ERROR event", timeout=15)
        err = agent.stderr()
        for secret in (tok, other, jwt, "eyJzdWIiOiJzeXN0ZW0ifQ"):
            self.assertNotIn(secret, err)
        self.assertIn("[REDACTED]", err)
        self.assertTrue(self.logs_matching(agent.json_logs(), "token [REDACTED] rejected"))
        self.assertTrue(self.logs_matching(agent.json_logs(), "API server warning", "your token is [REDACTED]"))


class TestMalformedMetadata(HostileBase):
    def test_labels_not_a_map_names_the_object(self):
        """A pool whose metadata.labels is a list (in the list) and a peer whose labels are a string
        (from the watch) are skipped with their namespace/name, kind and the real problem, never as
        "object without metadata.name"."""
        api = self.start_api()
        bad_pool = pool("badpool", ["192.168.70.0/24"])
        bad_pool["metadata"]["labels"] = ["a", "b"]
        api.put_object(*crd_objects(P, C1), bad_pool)
        agent = self.start_kube_agent(api, crds=True)
        self.wait_state(C1, P)
        line = self.wait_agent_log(agent, "malformed object skipped", f"{MNS}/badpool", level="warn")
        self.assertEqual(line.get("kind"), "IPAddressPool")
        self.assertEqual(line.get("error"), "metadata.labels is not a map of strings")
        api.wait_for_watch("/bgppeers")
        bad_peer = bgppeer("badpeer", "10.0.0.3")
        bad_peer["metadata"]["labels"] = "zone=a"
        api.put_object(bad_peer)
        line = self.wait_agent_log(agent, "malformed object skipped", f"{MNS}/badpeer", level="warn")
        self.assertEqual(line.get("kind"), "BGPPeer")
        self.assertEqual(line.get("error"), "metadata.labels is not a map of strings")
        self.assertFalse(self.logs_matching(agent.json_logs(), "without metadata.name"))
        self.assert_state(C1, P)
        self.assert_alive(agent)
