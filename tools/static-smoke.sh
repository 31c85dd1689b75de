#!/bin/sh
# The static binary alone in an empty root (what a FROM scratch image holds):
# --version, then a ONESHOT against a config inside that root, run in a
# throwaway network namespace, and the rules read back with ip.
set -eu
bin="${1:-build/static/metallb-nra}"
[ "$(id -u)" -eq 0 ] || { echo "static-smoke: needs root" >&2; exit 1; }
root="$(mktemp -d /tmp/nra-scratch.XXXXXX)"
ns="nra-static-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$root"; }
trap cleanup EXIT
cp "$bin" "$root/metallb-nra"
cat > "$root/config.yaml" <<'YAML'
peers:
- peer-address: 10.0.0.1
- peer-address: fd00::1
address-pools:
- name: a
  protocol: bgp
  addresses: [192.168.57.0/24, fd57::/64]
YAML
chroot "$root" /metallb-nra --version
ip netns add "$ns"
ip -n "$ns" link add v0 type veth peer name v1
ip -n "$ns" link set v0 up
ip -n "$ns" link set v1 up
ip -n "$ns" addr add 10.0.0.2/24 dev v0
ip -n "$ns" -6 addr add fd00::2/64 dev v0 nodad
ip netns exec "$ns" chroot "$root" /metallb-nra --oneshot --static-file /config.yaml --log-level warn
ip -n "$ns" rule show table 20 | grep -q "from 192.168.57.0/24 lookup 20 proto 245"
ip -n "$ns" -6 rule show table 20 | grep -q "from fd57::/64 lookup 20 proto 245"
ip -n "$ns" route show table 20 | grep -q "default via 10.0.0.1"
echo "static-smoke: OK (static binary, empty root, both families)"
