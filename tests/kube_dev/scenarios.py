#!/usr/bin/env python3
"""Manual/CI-able scenarios for the Kubernetes source, driving build/kube/kube-dev
against tests/fakeapi. Usage: python3 tests/kube_dev/scenarios.py [--driver PATH] [NAME ...]
Each scenario prints PASS/FAIL; exit status 1 if any failed."""
import argparse, os, queue, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "fakeapi"))
import client  # noqa: E402

SAMPLES = os.path.join(ROOT, "tests", "fixtures", "metallb", "samples") + "/"
NS = "metallb-system"


def cm(config):
    o = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": NS}}
    if config is not None:
        o["data"] = {"config": config}
    return o


def legacy(peers, addrs):
    s = "peers:\n" + "".join(f"- peer-address: {p}\n" for p in peers)
    s += "address-pools:\n- name: a\n  protocol: bgp\n  addresses:\n" + "".join(f"  - {a}\n" for a in addrs)
    return s


class Driver:
    def __init__(self, path, args, env=None):
        self.models = queue.Queue()
        self.stderr = []
        self.p = subprocess.Popen([path] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self):
        cur = None
        for line in self.p.stdout:
            line = line.rstrip("\n")
            if line.startswith("MODEL"):
                cur = {"peers": [], "addresses": []}
            elif line == "END":
                self.models.put(cur)
            elif line.startswith("  peer "):
                cur["peers"].append(line.split()[1])
            elif line.startswith("  address "):
                cur["addresses"].append(line.split()[1])

    def _err(self):
        for line in self.p.stderr:
            self.stderr.append(line.rstrip("\n"))

    def model(self, timeout=10):
        try:
            return self.models.get(timeout=timeout)
        except queue.Empty:
            return None

    def no_model(self, wait=1.5):
        return self.model(timeout=wait) is None

    def stop(self):
        self.p.terminate()
        self.p.wait(5)

    def log_has(self, text):
        return any(text in l for l in self.stderr)


SCENARIOS = {}


def scenario(fn=None, **api_kwargs):
    def reg(f):
        f.api_kwargs = api_kwargs
        SCENARIOS[f.__name__] = f
        return f
    return reg(fn) if fn else reg


def check(cond, what):
    if not cond:
        raise AssertionError(what)


@scenario
def configmap_basic(api, run):
    api.put_object(cm(legacy(["172.30.0.3"], ["192.168.10.0/24"])))
    d = run([])
    m = d.model()
    check(m == {"peers": ["172.30.0.3"], "addresses": ["192.168.10.0/24"]}, f"first model {m}")
    api.put_object(cm("peers: [\n"))
    check(d.no_model(), "invalid YAML must keep the last good config")
    api.put_object(cm(None))
    m = d.model()
    check(m == {"peers": [], "addresses": []}, f"no config key -> empty, got {m}")
    api.put_object(cm(legacy(["fd00::1"], ["fd00:1::/64"])))
    check(d.model() == {"peers": ["fd00::1"], "addresses": ["fd00:1::/64"]}, "IPv6")
    api.delete_object("ConfigMap", "config")
    check(d.model() == {"peers": [], "addresses": []}, "deleted -> empty")


@scenario
def configmap_absent_at_start(api, run):
    d = run([])
    check(d.model() == {"peers": [], "addresses": []}, "absent ConfigMap = empty config")


@scenario
def legacy_node_selectors(api, run):
    api.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"zone": "a"}}})
    cfg = ("peers:\n- peer-address: 10.0.0.1\n  node-selectors:\n  - match-labels:\n      zone: b\n"
           "- peer-address: 10.0.0.2\naddress-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.9.0.0/24]\n")
    api.put_object(cm(cfg))
    d = run(["--node", "n1"])
    check(d.model()["peers"] == ["10.0.0.2"], "selector zone=b does not match zone=a")
    api.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"zone": "b"}}})
    check(d.model()["peers"] == ["10.0.0.1", "10.0.0.2"], "label flip brings the peer in")
    api.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"zone": "b"}},
                    "status": {"conditions": [{"type": "Ready"}]}})
    check(d.no_model(), "a status-only change must not deliver a model")


@scenario
def crd_samples(api, run):
    api.put_yaml(SAMPLES + "bgppeer_simple.yaml")
    api.put_yaml(SAMPLES + "simple_pool_adv_bgp.yaml")
    api.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"zone": "a"}}})
    d = run(["--crds", "--node", "n1"])
    m = d.model()
    check(m == {"peers": ["172.30.0.3"],
                "addresses": ["192.168.10.0/24", "192.168.9.1-192.168.9.5", "fc00:f853:0ccd:e799::/124"]}, f"{m}")
    api.put_object({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                    "metadata": {"name": "z", "namespace": NS},
                    "spec": {"peerAddress": "10.0.0.9", "nodeSelectors": [{"matchExpressions": [
                        {"key": "zone", "operator": "NotIn", "values": ["a"]}]}]}})
    check(d.no_model(), "NotIn zone=a on a zone=a node: no change")
    api.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {}}})
    check(d.model()["peers"] == ["172.30.0.3", "10.0.0.9"], "absent label satisfies NotIn")
    api.delete_object("BGPPeer", "peer")
    check(d.model()["peers"] == ["10.0.0.9"], "deleted peer")


@scenario
def crd_v1beta1_only(api, run):
    api.set_config(served_versions={"bgppeers": ["v1beta1"]})
    api.put_yaml(SAMPLES + "bgppeer_simple.yaml")
    d = run(["--crds"])
    check(d.model()["peers"] == ["172.30.0.3"], "bgppeers through v1beta1")


@scenario
def crd_not_installed(api, run):
    api.set_config(served_versions={"bgppeers": []})
    d = run(["--crds"])
    check(d.no_model(2.5), "no model without bgppeers")
    check(d.log_has("discovery failed"), "logged")
    api.set_config(served_versions={})
    check(d.model(5) is not None, "recovers once served")


@scenario
def byte_split_watch(api, run):
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    api.add_fault(type="watch", chunk_size=1, chunk_ext=";x=y", trailers={"X-T": "1"}, line_ending="\r\n",
                  blank_lines=True)
    d = run([])
    d.model()
    api.put_object(cm(legacy(["10.0.0.2"], ["10.1.0.0/24"])))
    check(d.model() == {"peers": ["10.0.0.2"], "addresses": ["10.1.0.0/24"]}, "event split byte by byte")
    api.close_watches(mode="clean")
    api.put_object(cm(legacy(["10.0.0.3"], ["10.1.0.0/24"])))
    check(d.model()["peers"] == ["10.0.0.3"], "re-watch after a clean close")


@scenario
def cut_mid_object(api, run):
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    d = run([])
    d.model()
    api.wait_for_watch("/configmaps")
    api.add_fault(type="watch", cut_after_events=0, cut_mid_object=True, times=1)
    api.close_watches(mode="abrupt")
    time.sleep(0.5)
    api.put_object(cm(legacy(["10.0.0.2"], ["10.1.0.0/24"])))
    check(d.model()["peers"] == ["10.0.0.2"], "recovers after a cut mid-object")


@scenario
def paging_and_expired_continue(api, run):
    pools = [{"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
              "metadata": {"name": f"p{i:04d}", "namespace": NS},
              "spec": {"addresses": [f"10.{i // 256}.{i % 256}.0/24"]}} for i in range(1100)]
    api.put_object(*pools)
    api.put_yaml(SAMPLES + "bgppeer_simple.yaml")
    api.put_object({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
                    "metadata": {"name": "all", "namespace": NS}})
    api.add_fault(path="/ipaddresspools", type="list", query="continue", status=410, reason="Expired", times=1)
    d = run(["--crds"])
    m = d.model(20)
    check(m and len(m["addresses"]) == 1100, f"all 1100 pools over 3 pages, got {m and len(m['addresses'])}")
    lists = [r for r in api.requests_log(path="/ipaddresspools", type="list")]
    check(len(lists) == 5, f"3 pages + expired page 2 restart: {[r['query'] for r in lists]}")
    check(all("resourceVersion" not in r["params"] for r in lists), "no RV with continue")


@scenario
def token_rotation(api, run):
    tf = os.path.join(api.files["dir"] if "dir" in api.files else tempfile.mkdtemp(), "token")
    with open(tf, "w") as f:
        f.write("old-token\n")
    api.set_tokens(["new-token"])
    kc = api.write_kubeconfig(os.path.join(os.path.dirname(tf), "kc-tokenfile"), token=False, token_file=tf)
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    d = run([], kubeconfig=kc)
    check(d.no_model(2), "401 -> no model")
    with open(tf, "w") as f:
        f.write("new-token\n")
    check(d.model(10) is not None, "token file rotation recovers")
    check(not any("new-token" in l or "old-token" in l for l in d.stderr), "tokens never logged")


@scenario
def throttled_and_html_errors(api, run):
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    api.add_fault(type="list", status=429, retry_after=2, times=1)
    api.add_fault(type="list", status=503, body="<html>down</html>", content_type="text/html", times=1)
    t0 = time.time()
    d = run([])
    m = d.model(15)
    check(m is not None, "recovers")
    check(time.time() - t0 >= 2, "Retry-After honoured")
    check(d.log_has("HTTP 503"), "503 logged")


@scenario
def outage_keeps_config(api, run):
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    d = run([])
    d.model()
    api.set_listener(False)
    api.close_watches(mode="reset")
    check(d.no_model(4), "an outage delivers nothing")
    api.set_listener(True)
    api.put_object(cm(legacy(["10.0.0.2"], ["10.1.0.0/24"])))
    check(d.model(40)["peers"] == ["10.0.0.2"], "recovers after the outage")


@scenario
def watch_410_http(api, run):
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    api.add_fault(type="watch", status=410, reason="Expired", times=1)
    d = run([])
    d.model()
    time.sleep(1)
    lists = api.requests_log(path="/configmaps", type="list")
    check(len(lists) == 2, "HTTP 410 on the watch -> relist")
    api.put_object(cm(legacy(["10.0.0.5"], ["10.1.0.0/24"])))
    check(d.model()["peers"] == ["10.0.0.5"], "watching again")


@scenario
def relist_synthesizes_delete(api, run):
    api.put_yaml(SAMPLES + "bgppeer_simple.yaml")
    api.put_yaml(SAMPLES + "simple_pool_adv_bgp.yaml")
    d = run(["--crds"])
    d.model()
    api.wait_for_watch("/bgppeers")
    api.delete_object("BGPPeer", "peer", silent=True)
    api.inject("/bgppeers", error={"code": 410, "reason": "Expired", "message": "old"})
    check(d.model()["peers"] == [], "relist drops the silently deleted peer")


@scenario
def client_cert_and_ipv6(api, run):
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    kc = api.write_kubeconfig(os.path.join(tempfile.mkdtemp(), "kc"), token=False, client_cert=True, cert_data=True)
    d = run([], kubeconfig=kc)
    check(d.model() is not None, "client certificate auth")


@scenario
def wrong_ca(api, run):
    other = tempfile.mkdtemp()
    subprocess.run([sys.executable, os.path.join(ROOT, "tests/fakeapi/server.py"), "--generate-ca", other], check=True,
                   capture_output=True)
    kc = api.write_kubeconfig(os.path.join(other, "kc"), ca=os.path.join(other, "ca.crt"))
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    d = run([], kubeconfig=kc)
    check(d.no_model(2), "wrong CA: nothing")
    check(d.log_has("certificate verification failed"), "verification error logged")


@scenario(host="::1")
def ipv6_server(api, run):
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    d = run([])
    check(d.model() is not None, "https://[::1]:port verified against IP SAN ::1")


@scenario
def tls_server_name(api, run):
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    kc = api.write_kubeconfig(os.path.join(tempfile.mkdtemp(), "kc"), tls_server_name="kubernetes.default.svc")
    d = run([], kubeconfig=kc)
    check(d.model() is not None, "verified as kubernetes.default.svc")
    sni = {r.get("sni") for r in api.requests_log(type="list")}
    check(sni == {"kubernetes.default.svc"}, f"SNI {sni}")
    kc = api.write_kubeconfig(os.path.join(tempfile.mkdtemp(), "kc"), tls_server_name="wrong.example")
    d = run([], kubeconfig=kc)
    check(d.no_model(2), "wrong tls-server-name fails verification")


@scenario
def insecure_and_path_prefix(api, run):
    api.set_config(path_prefix="/k8s/clusters/c1")
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    kc = api.write_kubeconfig(os.path.join(tempfile.mkdtemp(), "kc"), server=api.url + "/k8s/clusters/c1", ca=None,
                              insecure=True)
    d = run([], kubeconfig=kc)
    check(d.model() is not None, "insecure + path prefix")


@scenario
def keep_alive_reuse(api, run):
    api.put_yaml(SAMPLES + "bgppeer_simple.yaml")
    api.put_yaml(SAMPLES + "simple_pool_adv_bgp.yaml")
    d = run(["--crds"])
    d.model()
    conns = {r["conn"] for r in api.requests_log() if r["type"] in ("list", "discovery", "get")}
    n = len([r for r in api.requests_log() if r["type"] in ("list", "discovery", "get")])
    check(len(conns) < n, f"{n} requests over {len(conns)} connections")


@scenario
def odd_watch_events(api, run):
    api.put_object(cm(legacy(["10.0.0.1"], ["10.1.0.0/24"])))
    d = run([])
    d.model()
    api.wait_for_watch("/configmaps")
    api.inject("/configmaps", event={"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1",
                                                                   "metadata": {"resourceVersion": "9999"}}})
    api.inject("/configmaps", event={"type": "DELETED", "object": {"kind": "ConfigMap", "apiVersion": "v1",
                                                                  "metadata": {"name": "other", "namespace": NS}}})
    api.inject("/configmaps", event={"type": "WEIRD", "object": {"kind": "ConfigMap"}})
    api.inject("/configmaps", event={"type": "ADDED", "object": {"kind": "Secret", "metadata": {"name": "config"}}})
    check(d.no_model(1.5), "bookmark / unknown delete / unknown type / kind: no change")
    n_lists = len(api.requests_log(path="/configmaps", type="list"))
    api.inject("/configmaps", raw="{not json\n")
    check(d.no_model(3), "malformed line: relist, same config")
    check(len(api.requests_log(path="/configmaps", type="list")) == n_lists + 1, "relisted after a malformed line")
    check(d.log_has("malformed watch event"), "logged")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", default=os.path.join(ROOT, "build/kube/kube-dev"))
    ap.add_argument("--log", default="verbose")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    failed = 0
    for name in args.names or SCENARIOS:
        drivers = []
        with client.FakeApi(**SCENARIOS[name].api_kwargs) as api:
            default_kc = api.write_kubeconfig(os.path.join(tempfile.mkdtemp(), "kubeconfig"))

            def run(extra, kubeconfig=None):
                env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
                d = Driver(args.driver, ["--kubeconfig", kubeconfig or default_kc, "--log", args.log] + extra, env)
                drivers.append(d)
                return d
            try:
                SCENARIOS[name](api, run)
                print(f"PASS {name}", flush=True)
            except Exception as e:  # noqa: BLE001
                failed += 1
                print(f"FAIL {name}: {e}", flush=True)
                for d in drivers:
                    print("\n".join("    " + l for l in d.stderr[-25:]))
            finally:
                for d in drivers:
                    d.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
