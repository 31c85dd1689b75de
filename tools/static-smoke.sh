#!/bin/sh
# The static binaries alone in an empty root (what a FROM scratch image holds):
# `file` must call them statically linked; inside the root, --version of both,
# then, in a throwaway network namespace, a ONESHOT against a config inside
# that root and the rules and routes read back with ip; the monitor dumps the
# table from inside the root too; then a ONESHOT against the fake API server
# (tests/fakeapi) named by host name, with only /etc/hosts and /etc/resolv.conf
# added to the root (the name comes from /etc/hosts through c-ares: no NSS).
# Prints the stripped sizes.
#   tools/static-smoke.sh [DIR]   (DIR holds metallb-nra and nra-monitor; default build/static)
set -eu
dir="${1:-build/static}"
[ "$(id -u)" -eq 0 ] || { echo "static-smoke: needs root" >&2; exit 1; }
fail() { echo "static-smoke: FAIL: $*" >&2; exit 1; }
root="$(mktemp -d /tmp/nra-scratch.XXXXXX)"
ns="nra-static-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$root"; }
trap cleanup EXIT

for b in metallb-nra nra-monitor; do
    [ -x "$dir/$b" ] || fail "$dir/$b missing"
    desc="$(file -b "$dir/$b")"
    case "$desc" in
    *"statically linked"*|*"static-pie linked"*) ;;
    *) fail "$b is not static: $desc" ;;
    esac
    strip -o "$root/$b" "$dir/$b"
    echo "static-smoke: $b: $(stat -c %s "$root/$b") bytes stripped ($desc)" | cut -c1-160
done
# Nothing else in the root: no libc, no loader, no /etc, no /proc.
cat > "$root/config.yaml" <<'YAML'
peers:
- peer-address: 10.0.0.1
- peer-address: 10.0.0.3
- peer-address: fd00::1
address-pools:
- name: a
  protocol: bgp
  addresses: [192.168.57.0/24, 198.51.100.10-198.51.100.13, fd57::/64]
YAML
[ "$(find "$root" -mindepth 1 | wc -l)" -eq 3 ] || fail "the root is not empty but for the binaries and config"

v="$(chroot "$root" /metallb-nra --version)" || fail "--version in the empty root"
echo "$v" | grep -q '^metallb-nra ' || fail "unexpected --version output: $v"
chroot "$root" /nra-monitor --help >/dev/null || fail "nra-monitor --help in the empty root"

ip netns add "$ns"
ip -n "$ns" link add v0 type veth peer name v1
ip -n "$ns" link set v0 up
ip -n "$ns" link set v1 up
ip -n "$ns" addr add 10.0.0.2/24 dev v0
ip -n "$ns" -6 addr add fd00::2/64 dev v0 nodad
ip -n "$ns" rule add from 203.0.113.0/24 lookup 100 priority 100   # foreign: must stay
ip netns exec "$ns" chroot "$root" /metallb-nra --oneshot --static-file /config.yaml --log-level warn \
    || fail "ONESHOT in the empty root"

expect_rules="$(printf '%s\n' \
    "20:	from 192.168.57.0/24 lookup 20 proto 245" \
    "20:	from 198.51.100.12/31 lookup 20 proto 245" \
    "20:	from 198.51.100.10/31 lookup 20 proto 245" | sort)"
got_rules="$(ip -n "$ns" rule show table 20 | sort)"
[ "$got_rules" = "$expect_rules" ] || fail "IPv4 rules: got
$got_rules
want
$expect_rules"
[ "$(ip -n "$ns" -6 rule show table 20)" = "20:	from fd57::/64 lookup 20 proto 245" ] \
    || fail "IPv6 rules: $(ip -n "$ns" -6 rule show table 20)"
routes="$(ip -n "$ns" route show table 20)"
echo "$routes" | grep -q "nexthop via 10.0.0.1 dev v0 weight 100" || fail "IPv4 route: $routes"
echo "$routes" | grep -q "nexthop via 10.0.0.3 dev v0 weight 100" || fail "IPv4 route: $routes"
ip -n "$ns" -6 route show table 20 | grep -q "default via fd00::1 dev v0" || fail "IPv6 route"
ip -n "$ns" rule show | grep -q "from 203.0.113.0/24 lookup 100" || fail "foreign rule touched"
ip netns exec "$ns" chroot "$root" /nra-monitor --dump --table 20 | grep -q "192.168.57.0/24" \
    || fail "nra-monitor --dump in the empty root"

# Kubernetes by host name: the root gets /etc/hosts, /etc/resolv.conf (a name
# server that does not exist: the name must come from /etc/hosts) and a
# kubeconfig with everything inline.
mkdir -p "$root/etc"
ip -n "$ns" link set lo up
printf '127.0.0.1 localhost\n127.0.0.1 kubernetes.default.svc\n' > "$root/etc/hosts"
printf 'nameserver 127.0.0.53\n' > "$root/etc/resolv.conf"
here="$(cd "$(dirname "$0")/.." && pwd)"
"${PYTHON:-python3}" - "$ns" "$root" "$here" <<'PY' || fail "ONESHOT against the API server by host name in the empty root"
import subprocess, sys
ns, root, repo = sys.argv[1:4]
sys.path.insert(0, repo + "/tests/fakeapi")
from client import FakeApi
cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": "metallb-system"},
      "data": {"config": "peers:\n- peer-address: 10.0.0.1\n  peer-asn: 64500\n  my-asn: 64512\naddress-pools:\n- name: k\n  protocol: bgp\n"
                         "  addresses: [192.168.58.0/24]\n"}}
with FakeApi(netns=ns) as api:
    api.put_object(cm)
    api.write_kubeconfig(root + "/kubeconfig", server=f"https://kubernetes.default.svc:{api.info['port']}", ca="data")
    r = subprocess.run(["ip", "netns", "exec", ns, "chroot", root, "/metallb-nra", "--oneshot", "--kubeconfig",
                        "/kubeconfig", "--log-level", "warn"], env={"METALLB_NAMESPACE": "metallb-system", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                       capture_output=True, text=True, timeout=60)
    sys.stderr.write(r.stderr)
    names = {q.get("path", "") for q in api.requests_log() if q.get("status") == 200}
    if r.returncode != 0 or not any("/configmaps" in n for n in names):
        sys.exit(f"rc {r.returncode}, answered requests: {sorted(names)}")
PY
ip -n "$ns" rule show table 20 | grep -q "from 192.168.58.0/24 lookup 20" \
    || fail "rules after the Kubernetes ONESHOT: $(ip -n "$ns" rule show table 20)"
echo "static-smoke: OK (static binaries, empty root, ONESHOT in a network namespace, both families, API server by host name)"
