#!/usr/bin/env python3
"""Checks of the Helm chart deploy/helm/metallb-nra with a real helm.

    python3 tests/deploy/test_helm.py [-v] [-k PATTERN]

Standard library only; no cluster, no root. helm comes from
third_party/fetch-helm.sh (`make helm-test` runs it first; pinned in
third_party/helm.lock) or $HELM; kubectl for `kubectl kustomize`. A missing
tool skips the tests that need it, with a message naming it.

- `helm lint --strict` of the chart, for each mode.
- `helm template` for each mode (and with scripts), then the same checks as
  the kustomize overlays get (tests/deploy/test_deploy.py's ManifestTest run
  on the chart's output: security, RBAC, environment, resources, probes...).
- Agreement with kustomize: the objects rendered for a release named
  metallb-nra in metallb-system equal `kubectl kustomize` of the matching
  overlay once labels (Helm's own) and the image pull policy are set aside:
  RBAC rules and bindings, the whole pod spec (security context, env,
  ports, probes, resources, tolerations, volumes), the scripts ConfigMap.
- Refusals: invalid values (an unknown key, a third mode, a malformed
  metrics address, a managed variable in extraEnv...) make `helm template`
  fail with a message naming the value.
- Mutations: broken copies of the chart (a write verb, an extra capability,
  a schema without the mode enum...) make the relevant tests fail.

NRA_HELM_CHART=DIR checks the chart in DIR instead (used by the mutation tests).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CHART = Path(os.environ.get("NRA_HELM_CHART", str(REPO / "deploy" / "helm" / "metallb-nra"))).resolve()
KUSTOMIZE = REPO / "deploy" / "kustomize"
EXAMPLE_SCRIPTS = KUSTOMIZE / "examples" / "scripts"

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "fakeapi"))
import test_deploy as td  # noqa: E402
import yamllite  # noqa: E402


def _find_helm() -> str | None:
    for c in (os.environ.get("HELM"), str(REPO / "third_party" / "helm" / "bin" / "helm"), shutil.which("helm")):
        if c and os.access(c, os.X_OK):
            return c
    return None


HELM = _find_helm()
RELEASE = "metallb-nra"  # the kustomize names
NS = td.NS

# name -> (helm arguments, matching kustomize directory, mode, has scripts)
SCRIPT_FILES = ["--set", "scripts.enabled=true",
                "--set-file", f"scripts.preReconcile={EXAMPLE_SCRIPTS / 'pre-reconcile'}",
                "--set-file", f"scripts.postReconcile={EXAMPLE_SCRIPTS / 'post-reconcile'}"]
CASES = {
    "helm:configmap": ([], "overlays/configmap", "configmap", False),
    "helm:crds": (["--set", "mode=crds"], "overlays/crds", "crds", False),
    "helm:crds+scripts": (["--set", "mode=crds", *SCRIPT_FILES], "examples/scripts", "crds", True),
}
# test_deploy's ManifestTest looks its cases up here (mode, scripts).
for _name, (_args, _k, _mode, _scripts) in CASES.items():
    td.OVERLAYS[_name] = (None, _mode, _scripts)


def need_helm(test):
    return unittest.skipUnless(HELM, "helm not found (run third_party/fetch-helm.sh or set HELM): chart not checked")(
        test)


def helm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=timeout)


def template(*args: str) -> subprocess.CompletedProcess:
    return helm("template", RELEASE, str(CHART), "--namespace", NS, *args)


@functools.lru_cache(maxsize=None)
def rendered(name: str) -> tuple[dict, ...]:
    p = template(*CASES[name][0])
    if p.returncode != 0:
        raise td.RenderError(f"helm template {' '.join(CASES[name][0])} failed ({p.returncode}):\n{p.stderr}")
    try:
        return tuple(d for d in yamllite.load_all(p.stdout) if d is not None)
    except yamllite.YamlError as e:
        raise td.RenderError(f"cannot parse helm's output: {e}\n{p.stdout}")


def by_key(docs) -> dict[tuple[str, str], dict]:
    out: dict[tuple[str, str], dict] = {}
    for d in docs:
        k = (d["kind"], d["metadata"]["name"])
        if k in out:
            raise AssertionError(f"{k} rendered twice")
        out[k] = d
    return out


def normalized(d: dict, scripts_cm: str | None) -> dict:
    """What must agree between Helm and kustomize: everything but labels and annotations (Helm's own), the
    DaemonSet's selector (Helm's adds the release), the image pull policy (kustomize leaves the default), the
    env order, and the scripts ConfigMap's name (kustomize appends a content hash)."""
    d = copy.deepcopy(d)
    md = d["metadata"]
    md.pop("labels", None)
    md.pop("annotations", None)
    if d["kind"] == "ConfigMap" and scripts_cm:
        md["name"] = "<scripts>"
    if d["kind"] == "DaemonSet":
        d["spec"].pop("selector", None)
        d["spec"]["template"].pop("metadata", None)
        pod = d["spec"]["template"]["spec"]
        for c in pod["containers"]:
            c.pop("imagePullPolicy", None)
            c["env"] = sorted(c.get("env") or [], key=lambda e: e["name"])
        for v in pod.get("volumes") or []:
            if scripts_cm and v.get("configMap", {}).get("name") == scripts_cm:
                v["configMap"]["name"] = "<scripts>"
    return d


def scripts_cm_name(docs) -> str | None:
    cms = [d for d in docs if d["kind"] == "ConfigMap"]
    return cms[0]["metadata"]["name"] if cms else None


# ---------------------------------------------------------------------------


@need_helm
class LintTest(unittest.TestCase):
    def test_lint(self):
        for args in ([], ["--set", "mode=crds"], ["--set", "mode=crds", *SCRIPT_FILES]):
            with self.subTest(args=args):
                p = helm("lint", "--strict", str(CHART), *args)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertIn("0 chart(s) failed", p.stdout)

    def test_chart_files(self):
        for f in ("Chart.yaml", "values.yaml", "values.schema.json", "templates/NOTES.txt"):
            self.assertTrue((CHART / f).is_file(), f"{f} missing")
        schema = json.loads((CHART / "values.schema.json").read_text())
        self.assertIs(schema.get("additionalProperties"), False, "unknown top-level values are refused")
        self.assertEqual(schema["properties"]["mode"].get("enum"), ["configmap", "crds"])

    def notes(self, *args: str) -> str:
        """NOTES.txt as `helm install` would print it. `helm template` skips NOTES.txt and `helm install
        --dry-run=client` still wants a cluster, so a copy of the chart renders it into a ConfigMap."""
        with tempfile.TemporaryDirectory(prefix="nra-helm-notes-") as d:
            c = Path(d) / "metallb-nra"
            shutil.copytree(CHART, c)
            (c / "templates" / "zz-notes.tpl").write_text(
                '{{- define "nra-test.notes" -}}\n' + (CHART / "templates" / "NOTES.txt").read_text() + "{{- end -}}\n")
            (c / "templates" / "zz-notes.yaml").write_text(
                'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n'
                'data: {notes: {{ include "nra-test.notes" . | toJson }}}\n')
            p = helm("template", RELEASE, str(c), "--show-only", "templates/zz-notes.yaml", *args)
            self.assertEqual(p.returncode, 0, p.stderr)
            return yamllite.load_all(p.stdout)[0]["data"]["notes"]

    def test_notes(self):
        notes = self.notes("--namespace", NS, "--set", "mode=crds")
        self.assertIn("(crds mode)", notes)
        self.assertIn("daemonset/metallb-nra", notes)
        self.assertIn(":7474/metrics", notes)
        self.assertNotIn("WARNING", notes)
        notes = self.notes("--namespace", "default", "--set", "metrics.address=:9100")
        self.assertIn("ConfigMap default/config", notes)
        self.assertIn(":9100/metrics", notes)
        self.assertIn("WARNING: the release's namespace is default", notes)


@need_helm
@td.need_kubectl
class HelmManifestTest(td.ManifestTest):
    """test_deploy.py's manifest checks, on the chart's output."""

    def each(self):
        for name in CASES:
            with self.subTest(chart=name):
                yield name, rendered(name)


@need_helm
@td.need_kubectl
class AgreementTest(unittest.TestCase):
    """The chart renders what the kustomize overlay of the same mode does."""

    maxDiff = None

    def test_objects_agree(self):
        for name, (_, kdir, _, _) in CASES.items():
            with self.subTest(chart=name, kustomize=kdir):
                h, k = rendered(name), td.kustomize(KUSTOMIZE / kdir)
                hk, kk = by_key(h), by_key(k)
                norm = lambda key: (lambda kind, n: (kind, "<scripts>" if kind == "ConfigMap" else n))(*key)
                self.assertEqual(sorted(map(norm, hk)), sorted(map(norm, kk)), "the same objects, the same names")
                hcm, kcm = scripts_cm_name(h), scripts_cm_name(k)
                hn = {norm(key): normalized(d, hcm) for key, d in hk.items()}
                kn = {norm(key): normalized(d, kcm) for key, d in kk.items()}
                for key in kn:
                    self.assertEqual(hn[key], kn[key], f"{key[0]}/{key[1]}: Helm and kustomize disagree")

    def test_labels(self):
        for name, (_, kdir, _, _) in CASES.items():
            with self.subTest(chart=name):
                hk, kk = by_key(rendered(name)), by_key(td.kustomize(KUSTOMIZE / kdir))
                for key, kd in kk.items():
                    if key[0] == "ConfigMap":
                        continue
                    hl = hk[key]["metadata"].get("labels") or {}
                    for lk, lv in (kd["metadata"].get("labels") or {}).items():
                        self.assertEqual(hl.get(lk), lv, f"{key}: label {lk}")
                ds = hk[("DaemonSet", RELEASE)]
                sel = ds["spec"]["selector"]["matchLabels"]
                pod = ds["spec"]["template"]["metadata"]["labels"]
                self.assertTrue(all(pod.get(a) == b for a, b in sel.items()), "the selector matches the pods")
                self.assertEqual(sel.get("app.kubernetes.io/instance"), RELEASE, "one release's pods only")


@need_helm
class ValuesTest(unittest.TestCase):
    """Values that change what is rendered, checked on the output."""

    def render(self, *args) -> dict:
        p = template(*args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return by_key([d for d in yamllite.load_all(p.stdout) if d is not None])

    def container(self, objs, name=RELEASE) -> dict:
        return objs[("DaemonSet", name)]["spec"]["template"]["spec"]["containers"][0]

    def test_metrics_address(self):
        c = self.container(self.render("--set", "metrics.address=:9100"))
        env = {e["name"]: e for e in c["env"]}
        td.check_metrics_and_probes(self, c, env, port=9100)
        c = self.container(self.render("--set", "metrics.address=[::]:7480"))
        self.assertEqual(c["ports"][0]["containerPort"], 7480)
        c = self.container(self.render("--set", "metrics.address=127.0.0.1:7474",
                                       "--set", "probes.liveness.enabled=false", "--set", "probes.readiness.enabled=false"))
        self.assertNotIn("livenessProbe", c)
        self.assertNotIn("readinessProbe", c)
        self.assertEqual({e["name"]: e.get("value") for e in c["env"]}["METRICS_ADDRESS"], "127.0.0.1:7474")

    def test_image_resources_env_tolerations(self):
        objs = self.render("--set", "image.repository=registry.example.org/nra", "--set", "image.tag=1.2.3",
                           "--set", "resources.limits.memory=128Mi", "--set", "extraEnv[0].name=TABLE_WEIGHT",
                           "--set-string", "extraEnv[0].value=30", "--set", "priorityClassName=",
                           "--set", "tolerations=null", "--set", "configMapName=metallb-cfg",
                           "--set", "fullnameOverride=nra")
        c = self.container(objs, "nra")
        self.assertEqual(c["image"], "registry.example.org/nra:1.2.3")
        self.assertEqual(c["resources"]["limits"]["memory"], "128Mi")
        env = {e["name"]: e.get("value") for e in c["env"]}
        self.assertEqual(env["TABLE_WEIGHT"], "30")
        self.assertEqual(env["METALLB_CONFIGMAP_NAME"], "metallb-cfg")
        self.assertEqual(objs[("Role", "nra")]["rules"][0]["resourceNames"], ["metallb-cfg"],
                         "the Role follows configMapName")
        pod = objs[("DaemonSet", "nra")]["spec"]["template"]["spec"]
        self.assertNotIn("priorityClassName", pod)
        self.assertNotIn("tolerations", pod)
        digest = "sha256:" + "ab" * 32
        c = self.container(self.render("--set", f"image.digest={digest}"))
        self.assertEqual(c["image"], f"ghcr.io/example/metallb-nra@{digest}")

    def test_existing_scripts_configmap(self):
        objs = self.render("--set", "scripts.enabled=true", "--set", "scripts.existingConfigMap=my-scripts")
        self.assertFalse([k for k in objs if k[0] == "ConfigMap"], "the user's ConfigMap, not one of ours")
        pod = objs[("DaemonSet", RELEASE)]["spec"]["template"]["spec"]
        self.assertEqual(pod["volumes"], [{"name": "scripts", "configMap": {"name": "my-scripts", "defaultMode": 0o555}}])
        env = {e["name"] for e in pod["containers"][0]["env"]}
        self.assertLessEqual({"PRE_RECONCILE_SCRIPT_PATH", "POST_RECONCILE_SCRIPT_PATH"}, env)

    def test_frrk8s_sessions(self):
        self.assertFalse([k for k in self.render() if "frrk8s" in k[1]], "off by default")
        objs = self.render("--set", "frrk8sSessions.enabled=true", "--set", "frrk8sSessions.frrk8sNamespace=frr-k8s",
                           "--set", "fullnameOverride=nra")
        env = {e["name"]: e.get("value") for e in self.container(objs, "nra")["env"]}
        self.assertEqual(env["NEXTHOP_OBJECTS"], "auto")
        self.assertEqual(env["FRRK8S_NAMESPACE"], "frr-k8s")
        role = objs[("Role", "nra-frrk8s")]
        self.assertEqual(role["metadata"]["namespace"], "frr-k8s")
        self.assertEqual(role["rules"], [{"apiGroups": ["frrk8s.metallb.io"], "resources": ["bgpsessionstates"],
                                          "verbs": ["get", "list", "watch"]}])
        binding = objs[("RoleBinding", "nra-frrk8s")]
        self.assertEqual(binding["roleRef"]["name"], "nra-frrk8s")
        self.assertEqual(binding["subjects"][0]["name"], "nra")
        env = {e["name"] for e in self.container(self.render("--set", "frrk8sSessions.enabled=true"))["env"]}
        self.assertIn("NEXTHOP_OBJECTS", env)
        self.assertNotIn("FRRK8S_NAMESPACE", env, "the release's namespace: the agent's default")

    def test_scripts_roll_the_pods(self):
        a = self.render("--set", "scripts.enabled=true", "--set", "scripts.preReconcile=#!/bin/true")
        b = self.render("--set", "scripts.enabled=true", "--set", "scripts.preReconcile=#!/bin/false")
        ann = lambda o: o[("DaemonSet", RELEASE)]["spec"]["template"]["metadata"]["annotations"]["checksum/scripts"]
        self.assertNotEqual(ann(a), ann(b), "new scripts change the pod template")
        env = {e["name"] for e in self.container(a)["env"]}
        self.assertIn("PRE_RECONCILE_SCRIPT_PATH", env)
        self.assertNotIn("POST_RECONCILE_SCRIPT_PATH", env, "only the scripts given")


# (what, helm arguments, a word the error must contain)
INVALID = [
    ("NEXTHOP_OBJECTS in extraEnv with frrk8sSessions", ["--set", "frrk8sSessions.enabled=true",
     "--set", "extraEnv[0].name=NEXTHOP_OBJECTS", "--set", "extraEnv[0].value=off"], "frrk8sSessions"),
    ("a bad frrk8s namespace", ["--set", "frrk8sSessions.frrk8sNamespace=Bad_NS"], "frrk8sNamespace"),
    ("an unknown top-level key", ["--set", "foo=1"], "foo"),
    ("a third mode", ["--set", "mode=static"], "mode"),
    ("a port without the colon", ["--set", "metrics.address=7474"], "metrics.address"),
    ("a port out of range", ["--set", "metrics.address=:70000"], "metrics.address"),
    ("a host name", ["--set", "metrics.address=localhost:7474"], "metrics.address"),
    ("an unbracketed IPv6 address", ["--set", "metrics.address=::1:7474"], "metrics.address"),
    ("an unknown key under metrics", ["--set", "metrics.port=7474"], "port"),
    ("loopback with probes", ["--set", "metrics.address=127.0.0.1:7474"], "probes"),
    ("a managed variable in extraEnv", ["--set", "extraEnv[0].name=METALLB_USE_CRDS",
                                        "--set-string", "extraEnv[0].value=true"], "METALLB_USE_CRDS"),
    ("a malformed variable name", ["--set", "extraEnv[0].name=A-B", "--set-string", "extraEnv[0].value=1"],
     "extraEnv"),
    ("a string for a boolean", ["--set-string", "probes.liveness.enabled=yes"], "probes.liveness.enabled"),
    ("a zero probe period", ["--set", "probes.readiness.periodSeconds=0"], "periodSeconds"),
    ("an unknown pull policy", ["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
    ("a malformed digest", ["--set", "image.digest=sha256:xyz"], "digest"),
    ("a bad log level", ["--set", "logLevel=verbose"], "logLevel"),
    ("scripts enabled without scripts", ["--set", "scripts.enabled=true"], "scripts"),
    ("inline scripts and an existing ConfigMap", ["--set", "scripts.enabled=true", "--set", "scripts.preReconcile=x",
                                                  "--set", "scripts.existingConfigMap=mine"], "existingConfigMap"),
    ("scripts given but not enabled", ["--set", "scripts.preReconcile=x"], "scripts.enabled"),
    ("a bad resource quantity", ["--set", "resources.limits.memory=lots"], "memory"),
    ("an unknown resource", ["--set", "resources.limits.gpu=1"], "gpu"),
]


@need_helm
class RefusalTest(unittest.TestCase):
    def test_invalid_values_are_refused(self):
        for what, args, word in INVALID:
            with self.subTest(what):
                p = template(*args)
                self.assertNotEqual(p.returncode, 0, f"{what}: accepted\n{p.stdout[-2000:]}")
                self.assertIn(word, p.stderr, f"{what}: the error does not name {word!r}:\n{p.stderr}")
                self.assertNotIn("kind: DaemonSet", p.stdout)

    def test_valid_edge_values(self):
        for args in (["--set", "metrics.address=0.0.0.0:1"], ["--set", "metrics.address=[::]:65535"],
                     ["--set", "updateStrategy.maxUnavailable=1"], ["--set", "logLevel=debug"]):
            with self.subTest(args=args):
                p = template(*args)
                self.assertEqual(p.returncode, 0, p.stderr)


# ---------------------------------------------------------------------------


def _sub(path: str, old: str, new: str):
    def apply(root: Path):
        p = root / path
        text = p.read_text()
        if old not in text:
            raise AssertionError(f"mutation anchor {old!r} not in {path}")
        p.write_text(text.replace(old, new, 1))
    return apply


MUTATIONS = [
    ("a write verb in the Role", "AgreementTest",
     _sub("templates/rbac.yaml", "resources: [configmaps]\n  resourceNames: [{{ .Values.configMapName | quote }}]\n"
                                 "  verbs: [get, list, watch]",
          "resources: [configmaps]\n  resourceNames: [{{ .Values.configMapName | quote }}]\n"
          "  verbs: [get, list, watch, update]"), "kubectl"),
    ("an extra capability", "HelmManifestTest.test_daemonset_security",
     _sub("templates/daemonset.yaml", "add: [NET_ADMIN]", "add: [NET_ADMIN, SYS_ADMIN]"), "kubectl"),
    ("the liveness probe on /metrics", "HelmManifestTest.test_metrics_and_probes",
     _sub("templates/daemonset.yaml", "path: /healthz", "path: /metrics"), "kubectl"),
    ("writable scripts", "AgreementTest",
     _sub("templates/daemonset.yaml", "defaultMode: 365", "defaultMode: 493"), "kubectl"),
    ("no mode enum in the schema", "RefusalTest",
     _sub("values.schema.json", '"enum": ["configmap", "crds"]', '"type": "string"'), None),
    ("the schema open to unknown keys", "RefusalTest",
     _sub("values.schema.json", '"title": "metallb-nra values",\n  "type": "object",\n  "additionalProperties": false,',
          '"title": "metallb-nra values",\n  "type": "object",\n  "additionalProperties": true,'), None),
]


@need_helm
class MutationTest(unittest.TestCase):
    def test_mutations_are_caught(self):
        if "NRA_HELM_CHART" in os.environ:
            self.skipTest("already checking a copy")
        for what, selector, change, needs in MUTATIONS:
            with self.subTest(mutation=what):
                if needs and not shutil.which(needs):
                    self.skipTest(f"{needs} not found in PATH")
                with tempfile.TemporaryDirectory(prefix="nra-helm-mutant-") as d:
                    root = Path(d) / "metallb-nra"
                    shutil.copytree(CHART, root)
                    change(root)
                    p = subprocess.run([sys.executable, __file__, "-k", selector],
                                       env={**os.environ, "NRA_HELM_CHART": str(root), "HELM": HELM or ""},
                                       capture_output=True, text=True, timeout=600)
                    out = p.stdout + p.stderr
                    self.assertNotEqual(p.returncode, 0, f"{what}: not caught by {selector}\n{out}")
                    self.assertRegex(out, r"FAILED \((failures|errors)=", f"{what}: no failure reported\n{out}")
                    self.assertNotRegex(out, r"\bRan 0 tests\b", f"{what}: selector {selector} ran nothing")


def main() -> int:
    prog = unittest.main(module=__name__, argv=[sys.argv[0], *sys.argv[1:]], exit=False)
    for reason in sorted({r for _, r in prog.result.skipped}):
        print(f"SKIPPED: {reason}", file=sys.stderr)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
