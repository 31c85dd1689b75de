"""Kubernetes client gaps closed in issue 11: HTTP proxies (HTTPS_PROXY / NO_PROXY as client-go
honours them, CONNECT tunnels, a proxy's refusal), CA / client certificate files re-read when they
change, --context, the User-Agent, and discovery re-run when a discovered version answers 404."""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import sys
import time

from kube_harness import MNS, REPO, KubeTestCase, bgppeer, configmap, legacy_config, pool, advertisement, wait_until

sys.path.insert(0, str(REPO / "tests" / "fakeapi"))
import pki  # noqa: E402

P = ["10.0.0.1", "fd00::1"]
C1 = ["192.168.57.0/24", "fd20::/64"]
P2 = ["10.0.0.3"]
C2 = ["192.168.60.0/24"]
API_IP = "10.77.0.1"  # not loopback: Go (and the agent) never proxy loopback or localhost


def cfg(peers, cidrs):
    return legacy_config(peers, [("p", "bgp", cidrs)])


class TestKubeProxy(KubeTestCase):
    def start_proxied_api(self, **kw):
        self.ns.ip("addr", "add", API_IP + "/32", "dev", "lo")
        api = self.start_api(host=API_IP, proxy=True, **kw)
        # the server certificate names localhost, not API_IP
        self.kc = self.kubeconfig(api, tls_server_name="localhost")
        return api

    def proxy_url(self, api, userinfo=""):
        port = api.proxy_url.rsplit(":", 1)[1]
        return f"http://{userinfo}{API_IP}:{port}"

    def tunnels(self, api):
        return [r for r in api.requests_log(type="proxy")]

    def test_https_proxy_with_credentials(self):
        """HTTPS_PROXY with user:password: every connection is a CONNECT tunnel to the API server carrying
        Proxy-Authorization; the proxy (requiring those credentials) lets it through and the
        configuration applies; the password appears in no log line."""
        api = self.start_proxied_api(config={"proxy_auth": "agent:s3cr%t"})
        api.put_object(configmap(cfg(P, C1)))
        agent = self.start_kube_agent(kubeconfig=self.kc,
                                      HTTPS_PROXY=self.proxy_url(api, "agent:s3cr%25t@"), NO_PROXY="example.com")
        self.wait_state(C1, P)
        api.wait_for_watch("/configmaps")
        tunnels = self.tunnels(api)
        self.assertTrue(tunnels, "no CONNECT reached the proxy")
        want = "Basic " + base64.b64encode(b"agent:s3cr%t").decode()
        for t in tunnels:
            self.assertEqual(t["method"], "CONNECT")
            self.assertEqual(t["target"], f"{API_IP}:{api.port}")
            self.assertEqual(t["headers"].get("Proxy-Authorization"), want)
            self.assertEqual(t["status"], 200)
        conns = {r["conn"] for r in api.requests_log() if r.get("type") in ("list", "watch", "get")}
        self.assertLessEqual(len(conns), len(tunnels), "API connections that did not go through the proxy")
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2)
        text = agent.stdout() + agent.stderr()
        self.assertNotIn("s3cr", text)
        self.assertTrue(self.logs_matching(agent.json_logs(), "through a proxy", "***"), "proxy use not logged")
        self.assert_alive(agent)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)

    def test_no_proxy_bypasses(self):
        """NO_PROXY naming the server (a CIDR here) bypasses the proxy: no tunnel at all."""
        api = self.start_proxied_api()
        api.put_object(configmap(cfg(P, C1)))
        self.kube_oneshot(kubeconfig=self.kc, HTTPS_PROXY=self.proxy_url(api), NO_PROXY="foo.example,10.77.0.0/16")
        self.assert_state(C1, P)
        self.assertEqual(self.tunnels(api), [], "NO_PROXY ignored")
        # lower-case variables work the same; without NO_PROXY the proxy is used
        api.put_object(configmap(cfg(P2, C2)))
        self.kube_oneshot(kubeconfig=self.kc, https_proxy=self.proxy_url(api))
        self.assert_state(C2, P2)
        self.assertTrue(self.tunnels(api), "https_proxy ignored")

    def test_kubeconfig_proxy_url(self):
        """A cluster's proxy-url is used (and NO_PROXY does not apply to it, as in client-go)."""
        api = self.start_proxied_api()
        api.put_object(configmap(cfg(P, C1)))
        kc = self.kubeconfig(api, name="kc-proxy", tls_server_name="localhost",
                             extra_cluster={"proxy-url": self.proxy_url(api)})
        self.kube_oneshot(kubeconfig=kc, NO_PROXY="*")
        self.assert_state(C1, P)
        self.assertTrue(self.tunnels(api), "proxy-url ignored")

    def test_proxy_refusal_logged_and_retried(self):
        """A proxy refusing CONNECT (407): an error naming the proxy (password redacted) and the status;
        retried with growing delays; once the proxy lets it through, the configuration applies."""
        api = self.start_proxied_api(config={"proxy_refuse": {"status": 407,
                                                             "reason": "Proxy Authentication Required"}})
        api.put_object(configmap(cfg(P, C1)))
        agent = self.start_kube_agent(kubeconfig=self.kc, HTTPS_PROXY=self.proxy_url(api, "u:hunter2@"))
        line = self.wait_agent_log(agent, "refused CONNECT", "407", timeout=15)
        self.assertIn(f"http://u:***@{API_IP}", str(line))
        wait_until(lambda: len(self.tunnels(api)) >= 4, 20, what="four CONNECT attempts")
        times = [t["time"] for t in self.tunnels(api)[:4]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertGreater(gaps[-1], gaps[0], f"no backoff between the attempts: {gaps}")
        self.assert_state([], [])
        api.set_config(proxy_refuse=None)
        self.wait_state(C1, P, timeout=30)
        self.assertNotIn("hunter2", str(agent.json_logs()))
        self.assert_alive(agent)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)

    def test_http_server_through_http_proxy(self):
        """An http:// server with HTTP_PROXY: requests go to the proxy in absolute form (no CONNECT),
        with Proxy-Authorization; HTTPS_PROXY does not apply to it."""
        api = self.start_proxied_api(auth=False)
        api.put_object(configmap(cfg(P, C1)))
        kc = self.kubeconfig(api, name="kc-http", server=f"http://{API_IP}:{api.port}", ca=None, token=False)
        self.kube_oneshot(kubeconfig=kc, HTTP_PROXY=self.proxy_url(api, "user:passw0rd@"),
                          HTTPS_PROXY="http://192.0.2.1:9")
        self.assert_state(C1, P)
        fwd = self.tunnels(api)
        self.assertTrue(fwd and all(t.get("forwarded") and t["method"] == "GET" for t in fwd), fwd)
        self.assertTrue(all(t["target"].startswith(f"http://{API_IP}:{api.port}/api/v1/") for t in fwd), fwd)
        want = "Basic " + base64.b64encode(b"user:passw0rd").decode()
        self.assertTrue(all(t["headers"].get("Proxy-Authorization") == want for t in fwd), fwd)

    def test_https_proxy_url_refused_clearly(self):
        """An https:// proxy (TLS to the proxy) is not supported: a clear start-up error."""
        api = self.start_proxied_api()
        r = self.kube_oneshot(kubeconfig=self.kc, expect_rc=1, HTTPS_PROXY=f"https://{API_IP}:3129")
        self.assertIn("HTTPS_PROXY: https:// proxies are not supported", r.stderr)


class TestKubeClientMisc(KubeTestCase):
    def test_tls_files_reread_when_changed(self):
        """The CA, client certificate and key files are re-read before a new connection when they
        change: a broken CA file is logged and the last good one kept; after a rotation of the server's
        certificate and the client's (new CA for both), the agent reconnects with the new files."""
        api = self.start_api(tokens=[])
        api.put_object(configmap(cfg(P, C1)))
        d = self.ns.root / "tls"
        d.mkdir()
        files = {k: str(d / (k + ".pem")) for k in ("ca", "cert", "key")}
        for k, src in (("ca", api.files["ca"]), ("cert", api.files["client_cert"]), ("key", api.files["client_key"])):
            shutil.copy(src, files[k])
        kc = self.kubeconfig(api, ca=files["ca"], token=False, client_cert=(files["cert"], files["key"]))
        agent = self.start_kube_agent(kubeconfig=kc)
        self.wait_state(C1, P)
        api.wait_for_watch("/configmaps")

        def replace(path, data):
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)

        # a broken CA file: logged, the last good material kept
        good_ca = open(files["ca"], "rb").read()
        n = len(agent.json_logs())
        since = api.last_request_id()
        replace(files["ca"], b"not a certificate\n")
        api.close_watches("/configmaps")
        self.wait_agent_log(agent, "TLS files", "unusable", level="error", since=n, timeout=15)
        self.first_request(api, "/configmaps", "watch", since=since, timeout=15)
        replace(files["ca"], good_ca)

        # rotation: a new CA signs a new server certificate and a new client certificate
        pki_dir = str(self.ns.root / "pki2")
        os.makedirs(pki_dir)
        ca2, _ = pki.make_ca(pki_dir, "ca2", "rotated-ca")
        srv, srv_key = pki.make_cert(pki_dir, "server2", "ca2", "kube-apiserver", pki.DEFAULT_SANS)
        cli, cli_key = pki.make_cert(pki_dir, "client2", "ca2", "system:node:rotated", client=True,
                                     org="system:nodes")
        replace(files["ca"], open(ca2, "rb").read())
        replace(files["key"], open(cli_key, "rb").read())
        replace(files["cert"], open(cli, "rb").read())
        api.set_tls(srv, srv_key, client_ca=ca2)
        since = api.last_request_id()
        n = len(agent.json_logs())
        api.close_watches("/configmaps")
        w = self.first_request(api, "/configmaps", "watch", since=since, timeout=20,
                               predicate=lambda r: r.get("status") == 200)
        self.assertIn("rotated", str(w.get("client_cert_cn") or w.get("user")), w)
        self.wait_agent_log(agent, "TLS files changed", since=n)
        api.put_object(configmap(cfg(P2, C2)))
        self.wait_state(C2, P2)
        self.assert_alive(agent)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)

    def test_context_flag(self):
        """--context selects a kubeconfig context instead of current-context; an unknown one is a usage
        error (exit 2) naming the context; KUBE_CONTEXT does the same."""
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        kc = self.kubeconfig(api)
        text = open(kc).read().replace("current-context: fake", "current-context: elsewhere")
        text += "- name: elsewhere\n  context:\n    cluster: nowhere\n    user: fake\n"
        text = text.replace("users:", "- name: nowhere\n  cluster:\n    server: \"https://127.0.0.1:1\"\nusers:", 1)
        with open(kc, "w") as f:
            f.write(text)
        r = self.ns.run_agent(self.kube_env(ONESHOT="1"), ["--kubeconfig", kc, "--context", "fake"], timeout=60)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_state(C1, P)
        r = self.ns.run_agent(self.kube_env(ONESHOT="1"), ["--kubeconfig", kc, "--context", "nope"], timeout=60)
        self.assertEqual(r.returncode, 2, r.describe())
        self.assertIn("no context 'nope'", r.stderr)
        self.assertIn("elsewhere", r.stderr)  # the defined contexts are listed
        api.put_object(configmap(cfg(P2, C2)))
        r = self.ns.run_agent(self.kube_env(ONESHOT="1", KUBE_CONTEXT="fake"), ["--kubeconfig", kc], timeout=60)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assert_state(C2, P2)
        # without a context: current-context (the unreachable cluster) is used
        r = self.ns.run_agent(self.kube_env(ONESHOT="1", SYNC_TIMEOUT="1000"), ["--kubeconfig", kc], timeout=60)
        self.assertEqual(r.returncode, 1, r.describe())

    def test_user_agent(self):
        """Every request carries User-Agent metallb-nra/<version> (linux/<arch>)."""
        version = (REPO / "VERSION").read_text().strip()
        api = self.start_api()
        api.put_object(configmap(cfg(P, C1)))
        self.kube_oneshot(api)
        reqs = [r for r in api.requests_log() if r.get("type") in ("list", "get", "watch", "discovery")]
        self.assertTrue(reqs)
        for r in reqs:
            ua = r["headers"].get("User-Agent", "")
            self.assertRegex(ua, r"^metallb-nra/" + re.escape(version) + r" \(linux/[a-z0-9]+\)$", r)

    def test_discovery_rerun_after_404(self):
        """bgppeers served as v1beta1 only at start; the CRDs are upgraded (v1beta1 removed, v1beta2
        served): the v1beta1 watch/list answers 404, discovery runs again and the agent switches to
        v1beta2 without losing routing; later changes apply."""
        api = self.start_api(config={"served_versions": {"bgppeers": ["v1beta1"]}})
        api.put_object(bgppeer("a", P[0]), bgppeer("b", P[1]), bgppeer("c", "10.0.0.3"), pool("p", C1),
                       advertisement("ad"))
        agent = self.start_kube_agent(api, crds=True)
        self.wait_state(C1, P + ["10.0.0.3"])
        api.wait_for_watch("/v1beta1/namespaces/metallb-system/bgppeers")
        self.assertTrue(self.logs_matching(agent.json_logs(), "metallb.io discovered", "v1beta1"))
        since = api.last_request_id()
        api.set_config(served_versions={"bgppeers": ["v1beta2"]})
        api.close_watches("/bgppeers")
        self.first_request(api, "/v1beta1/namespaces/metallb-system/bgppeers", since=since,
                           predicate=lambda r: r.get("status") == 404)
        self.wait_agent_log(agent, "version changed", "v1beta2", timeout=15)
        api.wait_for_watch("/v1beta2/namespaces/metallb-system/bgppeers", timeout=15)
        self.assert_state(C1, P + ["10.0.0.3"])  # routing kept throughout
        api.delete_object("BGPPeer", "c")
        self.wait_state(C1, P)
        self.assert_alive(agent)
        self.assertEqual(agent.stop(signal.SIGTERM), 0)
