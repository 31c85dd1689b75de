"""Kubernetes resilience and wire behaviour: the API server going away (listener down,
process restart on the same port, unreachable at start), 410 -> re-list, watch
parameters (list resourceVersion, bookmarks), framing (byte-by-byte chunks, cuts
mid-object), and authentication/TLS (token file rotation after 401, client
certificates, wrong CA). Routing is never wiped for lack of data; imposters are
still removed while the API server is away."""

from __future__ import annotations

import json
import secrets
import signal

from kube_harness import (MNS, FakeApi, KubeTestCase, advertisement, bgppeer, configmap, legacy_config, node, pool,
                          wait_until, write_token_file)

P = ["10.0.0.1", "10.0.0.3", "fd00::1"]
C1 = ["192.168.57.0/24", "fd20::/64"]
P2 = ["10.0.0.4", "fd00::3"]
C2 = ["192.168.60.0/24", "fd22::/64"]
CM_PATH = f"/api/v1/namespaces/{MNS}/configmaps"


def cfg(peers, cidrs):
    return legacy_config(peers, [("p", "bgp", cidrs)])


def crd_objects(peers, cidrs):
    return [advertisement("all"), pool("p", cidrs)] + [bgppeer(f"peer{i}", a) for i, a in enumerate(peers)]


class ResilienceBase(KubeTestCase):
    def plant_imposters(self):
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "to", "8.8.8.8", "lookup", "20", "priority", "20")
        self.ns.ip("rule", "add", "from", "192.168.99.0/24", "lookup", "20", "priority", "20", "proto", "245")
        self.ns.ip("route", "add", "10.99.0.0/16", "via", "10.0.0.1", "table", "20")

    def plant_managed_looking_state(self):
        """Rules and a route in the table, as a previous run would have left them."""
        self.ns.ip("rule", "add", "from", "192.168.57.0/24", "lookup", "20", "priority", "20", "proto", "245")
        self.ns.ip("-6", "rule", "add", "from", "fd20::/64", "lookup", "20", "priority", "20", "proto", "245")
        self.ns.ip("route", "add", "default", "via", "10.0.0.1", "table", "20", "proto", "245")

    def warned_since(self, agent, n: int) -> list[dict]:
        return [l for l in agent.json_logs()[n:] if l.get("level") in ("warn", "error")]

    def wait_new_watch(self, api: FakeApi, path: str, since: int, timeout: float = 20) -> dict:
        return self.first_request(api, path, "watch", since, lambda r: r.get("status") == 200, timeout)


class TestOutage(ResilienceBase):
    def test_outage_keeps_routing_and_removes_imposters(self):
        """Listener down and every watch reset: the agent keeps enforcing the last good configuration
        (imposters removed), logs the problem, stays up; when the API returns, a change made meanwhile
        converges."""
        before = self.seed_foreign()
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        self.ns.start_monitor()
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        api.wait_for_watch("/configmaps")
        n = len(agent.json_logs())
        api.set_listener(False)
        self.assertGreaterEqual(api.close_watches("", mode="reset"), 1)
        wait_until(lambda: self.warned_since(agent, n), 15, what="a warning about the lost API server")
        self.plant_imposters()
        self.wait_state(C1, P)
        self.assert_alive(agent)
        api.put_object(configmap(cfg(P2, C2)))  # changed while the agent cannot see it
        self.assert_state(C1, P)
        mark = api.last_request_id()
        api.set_listener(True)
        self.wait_state(C2, P2, timeout=40)  # reconnect backoff is capped at 30 s (plus jitter)
        self.wait_new_watch(api, "/configmaps", mark)
        self.assert_foreign_unchanged(before)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)

    def test_server_restart_same_port_keeps_routing(self):
        """The API server process stops; routing is kept (imposters still removed) while it is gone.
        A new process starts on the same port with the same CA and a changed store whose
        resourceVersion is behind the agent's (the agent's watch gets 504 ResourceVersionTooLarge and
        must re-list): the agent follows the new server."""
        api_dir = self.ns.root / "api"
        api_dir.mkdir()
        api = self.start_api(workdir=str(api_dir))
        port = api.port
        api.put_object(*crd_objects(P, C1))  # 5 objects
        agent = self.start_kube_agent(api, crds=True)
        self.wait_state(C1, P)
        for p in ("/bgppeers", "/ipaddresspools", "/bgpadvertisements"):
            api.wait_for_watch(p)
        n = len(agent.json_logs())
        api.stop()
        wait_until(lambda: self.warned_since(agent, n), 15, what="a warning about the lost API server")
        self.plant_imposters()
        self.wait_state(C1, P)
        self.assert_alive(agent)
        fixture = self.ns.root / "restart.json"
        fixture.write_text(json.dumps(crd_objects(P2, C2)))  # 4 objects: a lower resourceVersion
        api2 = self.start_api(workdir=str(api_dir), port=port, fixtures=[str(fixture)])
        self.assertEqual(api2.port, port)
        self.wait_state(C2, P2, timeout=40)
        for p in ("/bgppeers", "/ipaddresspools", "/bgpadvertisements"):
            api2.wait_for_watch(p, timeout=40)
        api2.put_object(bgppeer("late", "10.0.0.1"))
        self.wait_state(C2, P2 + ["10.0.0.1"])
        self.assert_alive(agent)

    def test_daemon_started_while_api_unreachable(self):
        """Daemon started while connections are refused: nothing is touched (no wipe for lack of data),
        the agent stays up and retries; once the API answers it converges."""
        self.plant_managed_looking_state()
        before = self.seed_foreign()
        api = self.start_api()
        api.put_object(configmap(cfg(P2, C2)))
        api.set_listener(False)
        snap = self.ns.full_snapshot()
        agent = self.start_kube_agent(api)
        wait_until(lambda: self.warned_since(agent, 0), 15, what="a warning about the unreachable API server")
        self.assertEqual(self.ns.full_snapshot(), snap, "routing changed without any configuration")
        self.assert_alive(agent)
        api.set_listener(True)
        self.wait_state(C2, P2, timeout=40)
        self.assert_foreign_unchanged(before)

    def test_oneshot_unreachable_exits_nonzero_untouched(self):
        """ONESHOT with the API server refusing connections: exit 1 once SYNC_TIMEOUT passes (not the
        30 s default), routing untouched, the problem logged."""
        self.plant_managed_looking_state()
        self.seed_foreign()
        api = self.start_api()
        api.put_object(configmap(cfg(P2, C2)))
        api.set_listener(False)
        snap = self.ns.full_snapshot()
        for crds in (False, True):
            with self.subTest(crds=crds):
                r = self.kube_oneshot(api, crds=crds, expect_rc=None, SYNC_TIMEOUT="1500", timeout=25)
                self.assertEqual(r.returncode, 1, r.describe())
                self.assertLess(r.elapsed, 20, "SYNC_TIMEOUT=1500 not honoured\n" + r.describe())
                self.assertTrue([l for l in r.json_logs() if l.get("level") in ("warn", "error")], r.describe())
                self.assertEqual(self.ns.full_snapshot(), snap, "routing changed")

    def test_oneshot_silent_server_exits_nonzero(self):
        """TCP accepted but no TLS handshake ever: ONESHOT still gives up after SYNC_TIMEOUT."""
        self.plant_managed_looking_state()
        api = self.start_api()
        api.put_object(configmap(cfg(P2, C2)))
        api.add_fault(stage="connect", action="silence", silence_seconds=60)
        snap = self.ns.full_snapshot()
        r = self.kube_oneshot(api, expect_rc=None, SYNC_TIMEOUT="1500", timeout=25)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertLess(r.elapsed, 20, "SYNC_TIMEOUT=1500 not honoured\n" + r.describe())
        self.assertEqual(self.ns.full_snapshot(), snap, "routing changed")


class TestRelist(ResilienceBase):
    def start_converged(self, api):
        api.put_object(configmap(cfg(P, C1)))
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        api.wait_for_watch("/configmaps")
        return agent

    def test_410_error_event_relists(self):
        """An ERROR 410 Expired on the open watch makes the agent re-list (a new LIST in the request
        log) and watch again from the new list's resourceVersion; a change the watch never delivered
        (made silently) is picked up by that list."""
        api = self.start_api()
        agent = self.start_converged(api)
        mark = api.last_request_id()
        api.put_object(configmap(cfg(P2, C2)), silent=True)
        rv = api.bump(2)
        self.assertEqual(api.inject("/configmaps", error={"code": 410, "reason": "Expired",
                                                           "message": "too old resource version"}), 1)
        lst = self.first_request(api, "/configmaps", "list", mark, timeout=20)
        self.assertEqual(lst["status"], 200)
        self.assertNotIn("continue", lst["params"])
        self.wait_state(C2, P2)
        w = self.wait_new_watch(api, "/configmaps", lst["id"])
        self.assertEqual(w["params"].get("resourceVersion"), rv, "watch not from the re-list's resourceVersion")
        self.assert_alive(agent)

    def test_410_on_watch_open_relists(self):
        """History compacted while the watch was down: re-watching from the old resourceVersion gets
        HTTP 410, and the agent re-lists instead of retrying the watch forever."""
        api = self.start_api()
        api.set_config(expired_watch_mode="http")
        agent = self.start_converged(api)
        mark = api.last_request_id()
        api.put_object(configmap(cfg(P2, C2)), silent=True)
        api.compact()
        api.close_watches("/configmaps", mode="clean")
        gone = self.first_request(api, "/configmaps", "watch", mark, timeout=20)
        self.assertEqual(gone["status"], 410)
        lst = self.first_request(api, "/configmaps", "list", gone["id"], timeout=20)
        self.assertEqual(lst["status"], 200)
        self.wait_state(C2, P2)
        self.wait_new_watch(api, "/configmaps", lst["id"])
        self.assert_alive(agent)

    def test_410_fault_on_watch_open_relists(self):
        """A fault rule answering the next watch with 410 Gone: re-list, then watch again."""
        api = self.start_api()
        agent = self.start_converged(api)
        mark = api.last_request_id()
        api.add_fault(path="/configmaps", type="watch", status=410, reason="Gone", times=1)
        api.close_watches("/configmaps", mode="abrupt")
        lst = self.first_request(api, "/configmaps", "list", mark, timeout=20)
        w410 = api.requests_log(path="/configmaps", type="watch", since=mark)
        self.assertTrue(w410 and w410[0]["status"] == 410 and w410[0]["id"] < lst["id"], w410)
        self.wait_new_watch(api, "/configmaps", lst["id"])
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2)
        self.assert_alive(agent)


class TestWatchProtocol(ResilienceBase):
    def test_watch_uses_list_resource_version_and_bookmarks(self):
        """Every watch (CRDs and this node) starts at its list's resourceVersion -- here newer than any
        item's -- with allowWatchBookmarks=true and a timeoutSeconds in [300, 600); the node watch is
        limited to this node by an encoded field selector."""
        api = self.start_api()
        api.put_object(*crd_objects(P, C1))
        api.put_object(node("n1", {"a": "b"}), node("n2"))
        rv = api.bump(5)
        agent = self.start_kube_agent(api, crds=True, node="n1")
        self.wait_state(C1, P)
        for path in ("/bgppeers", "/ipaddresspools", "/bgpadvertisements", "/nodes"):
            with self.subTest(stream=path):
                w = self.first_request(api, path, "watch")
                lists = api.requests_log(path=path, type="list")
                self.assertTrue(lists and lists[-1]["id"] < w["id"], "no list before the watch")
                q = w["params"]
                self.assertIn(q.get("watch"), ("1", "true"))
                self.assertEqual(q.get("resourceVersion"), rv, "watch not from the list's resourceVersion")
                self.assertEqual(q.get("allowWatchBookmarks"), "true")
                self.assertTrue(300 <= int(q.get("timeoutSeconds", "0")) < 600, q)
                if path == "/nodes":
                    self.assertIn("fieldSelector=metadata.name%3Dn1", w["query"])
                    self.assertEqual(lists[-1]["params"].get("fieldSelector"), "metadata.name=n1")
        self.assert_alive(agent)

    def test_bookmark_then_clean_close_rewatches_without_relist(self):
        """A BOOKMARK advances the resourceVersion; a clean end of the stream re-watches from it at
        once, without a new LIST."""
        api = self.start_api()
        api.set_config(bookmark_interval=0.2)
        api.put_object(configmap(cfg(P, C1)))
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        stream = api.wait_for_watch("/configmaps")[0]
        rv = api.bump(3)  # no configmap event: only a bookmark can carry this RV
        wait_until(lambda: any(w["id"] == stream["id"] and w["rv"] == rv for w in api.watches()), 10,
                   what="bookmark with the bumped resourceVersion sent")
        mark = api.last_request_id()
        self.assertEqual(api.close_watches("/configmaps", mode="clean"), 1)
        w = self.wait_new_watch(api, "/configmaps", mark)
        self.assertEqual(w["params"].get("resourceVersion"), rv, "re-watch not from the bookmark's resourceVersion")
        self.assertEqual(api.requests_log(path="/configmaps", type="list", since=mark), [],
                         "a clean close must not cause a re-list")
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2)
        self.assert_alive(agent)

    def test_watch_split_byte_by_byte(self):
        """Every byte of every watch stream in its own HTTP chunk (and TLS record): events still apply."""
        api = self.start_api()
        api.add_fault(type="watch", chunk_size=1)
        api.put_object(*crd_objects(P, C1))
        api.put_object(node("n1", {"zone": "a"}))
        agent = self.start_kube_agent(api, crds=True, node="n1")
        self.wait_state(C1, P)
        api.wait_for_watch("/bgppeers")
        api.put_object(bgppeer("peer0", "10.0.0.4"), pool("p", C2))
        self.wait_state(C2, ["10.0.0.4", "10.0.0.3", "fd00::1"])
        api.put_object(bgppeer("zoned", "fd00::3", node_selectors=[{"matchLabels": {"zone": "b"}}]))
        api.put_object(node("n1", {"zone": "b"}))
        self.wait_state(C2, ["10.0.0.4", "10.0.0.3", "fd00::1", "fd00::3"])
        api.delete_object("BGPPeer", "peer1")
        self.wait_state(C2, ["10.0.0.4", "fd00::1", "fd00::3"])
        self.assertTrue(all(r["fault"] for r in api.requests_log(type="watch")), "fault rule not applied")
        self.assert_alive(agent)

    def test_watch_framing_variants(self):
        """Several events per chunk, chunk extensions, trailers, CRLF line endings and blank lines."""
        api = self.start_api()
        api.add_fault(type="watch", events_per_chunk=3, chunk_ext=";x=y", trailers={"X-Trailer": "1"},
                      line_ending="\r\n", blank_lines=True)
        api.put_object(configmap(cfg(P, C1)))
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        api.wait_for_watch("/configmaps")
        for i in range(5):
            api.put_object(configmap(cfg(P, [f"192.168.{70 + 2 * i}.0/24"])))
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2)
        self.assert_alive(agent)

    def test_cut_mid_object_resumes(self):
        """The stream is cut in the middle of an event: the half object is discarded, the agent
        re-watches from the last complete event and gets the change again."""
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        agent = self.start_kube_agent(api)
        self.wait_state(C1, P)
        api.wait_for_watch("/configmaps")
        mark = api.last_request_id()
        api.add_fault(path="/configmaps", type="watch", cut_after_events=0, cut_mid_object=True, times=1)
        api.close_watches("/configmaps", mode="clean")
        cut = self.first_request(api, "/configmaps", "watch", mark, lambda r: r.get("fault"), timeout=20)
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2, timeout=40)
        w = self.wait_new_watch(api, "/configmaps", cut["id"], timeout=40)
        self.assertIsNone(w.get("fault"))
        self.assert_alive(agent)


class TestAuth(ResilienceBase):
    def test_401_until_token_file_rotates(self):
        """kubeconfig tokenFile holding a token the server refuses: 401s, nothing applied; once the file
        is rotated (atomically, with a trailing newline) the agent re-reads it and converges. Tokens never
        appear in the logs."""
        old, new = f"old-{secrets.token_hex(8)}", f"new-{secrets.token_hex(8)}"
        self.plant_managed_looking_state()
        api = self.start_api(tokens=[new])
        api.put_object(configmap(cfg(P2, C2)))
        token_file = str(self.ns.root / "token")
        write_token_file(token_file, old)
        kc = self.kubeconfig(api, token=False, token_file=token_file)
        snap = self.ns.full_snapshot()
        agent = self.start_kube_agent(kubeconfig=kc)
        api.wait_for_request(predicate=lambda r: r.get("status") == 401, timeout=15)
        self.assertEqual(self.ns.full_snapshot(), snap, "routing changed without a configuration")
        self.assert_alive(agent)
        mark = api.last_request_id()
        write_token_file(token_file, new)
        self.wait_state(C2, P2, timeout=40)
        ok = api.requests_log(since=mark)
        self.assertTrue(any(r.get("user") == "token:" + new[:8] for r in ok), "no request with the new token")
        text = agent.stderr()
        self.assertNotIn(old, text)
        self.assertNotIn(new, text)

    def test_exec_credential_plugin_rerun_after_401(self):
        """kubeconfig `exec` plugin: its ExecCredential token authenticates; when the server stops
        accepting it (401) the plugin is run again and its new token is used. The plugin sees
        KUBERNETES_EXEC_INFO and its configured args/env; tokens never appear in the logs."""
        first, second = f"exec1-{secrets.token_hex(8)}", f"exec2-{secrets.token_hex(8)}"
        api = self.start_api(tokens=[first])
        api.put_object(configmap(cfg(P, C1)))
        current = self.ns.root / "current-token"
        current.write_text(first)
        seen = self.ns.root / "plugin-saw"
        plugin = self.ns.root / "plugin.sh"
        plugin.write_text(
            "#!/bin/sh\n"
            f"printf '%s %s %s\\n' \"$1\" \"$REGION\" \"$KUBERNETES_EXEC_INFO\" >> {seen}\n"
            "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
            f"\"status\":{{\"token\":\"%s\"}}}}' \"$(cat {current})\"\n")
        plugin.chmod(0o755)
        kc = self.kubeconfig(api, token=False, extra_user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "args": ["--cluster=c1"],
            "env": [{"name": "REGION", "value": "eu"}], "interactiveMode": "Never"}})
        agent = self.start_kube_agent(kubeconfig=kc)
        self.wait_state(C1, P, timeout=30)
        runs = seen.read_text().splitlines()
        self.assertTrue(runs and runs[0].startswith("--cluster=c1 eu "), runs)
        self.assertIn('"kind":"ExecCredential"', runs[0])
        self.assertIn('"interactive":false', runs[0])
        # The server rotates: only the plugin's next token is accepted.
        current.write_text(second)
        api.set_tokens([second])
        mark = api.last_request_id()
        api.close_watches()
        # Change the object only once the old token was refused: an event queued on the old watch
        # before it closed could otherwise deliver the change without any new authentication.
        api.wait_for_request(since=mark, predicate=lambda r: r.get("status") == 401, timeout=20)
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2, timeout=40)
        self.assertGreaterEqual(len(seen.read_text().splitlines()), 2, "the plugin was not run again after a 401")
        ok = api.requests_log(since=mark)
        self.assertTrue(any(r.get("user") == "token:" + second[:8] for r in ok), "no request with the new token")
        text = agent.stderr()
        self.assertNotIn(first, text)
        self.assertNotIn(second, text)

    def test_client_certificate_auth(self):
        """No token: a client certificate (file paths, then inline *-data) authenticates."""
        api = self.start_api(tokens=[])
        api.put_object(configmap(cfg(P, C1)))
        self.kube_oneshot(api, kubeconfig_kw={"token": False, "client_cert": True})
        self.assert_state(C1, P)
        users = {r.get("user") for r in api.requests_log() if r.get("type") in ("list", "get", "discovery")}
        self.assertTrue(users and all(u and u.startswith("cert:") for u in users), users)
        api.put_object(configmap(cfg(P2, C2)))
        self.kube_oneshot(api, kubeconfig_kw={"token": False, "client_cert": True, "cert_data": True, "ca": "data"})
        self.assert_state(C2, P2)

    def test_wrong_ca_applies_nothing(self):
        """A kubeconfig trusting another CA: the server is not trusted, nothing is applied, the TLS
        failure is logged; ONESHOT exits 1 after SYNC_TIMEOUT; the daemon stays up without touching
        routing."""
        self.plant_managed_looking_state()
        api = self.start_api()
        api.put_object(configmap(cfg(P2, C2)))
        kc = self.kubeconfig(api, ca=api.files["other_ca"])
        snap = self.ns.full_snapshot()
        r = self.kube_oneshot(kubeconfig=kc, expect_rc=None, SYNC_TIMEOUT="1500", timeout=25)
        self.assertEqual(r.returncode, 1, r.describe())
        self.assertEqual(self.ns.full_snapshot(), snap, "routing changed")
        self.assertRegex(r.stderr.lower(), r"certificate|verif|tls|ssl", "TLS failure not logged")
        self.assertFalse([q for q in api.requests_log() if q.get("type") in ("list", "watch", "get", "discovery")],
                         "a request was sent over an untrusted connection")
        agent = self.start_kube_agent(kubeconfig=kc)
        wait_until(lambda: [l for l in agent.json_logs() if l.get("level") in ("warn", "error")
                            and any(w in str(l).lower() for w in ("certificate", "verif", "tls", "ssl"))],
                   15, what="a TLS verification error in the daemon's log")
        self.assertEqual(self.ns.full_snapshot(), snap, "routing changed")
        self.assert_alive(agent)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)
