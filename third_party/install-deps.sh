#!/bin/sh
# Installs the build and test dependencies from Debian bookworm when missing.
# Pinned to what bookworm ships (see third_party/README.md); idempotent and quiet
# when everything is already present.
#   install-deps.sh        the build and test dependencies
#   install-deps.sh fuzz   the same plus clang 14 and its libFuzzer/sanitizer
#                          runtimes (make fuzz, make fuzz-smoke)
set -eu
pkgs="g++ make pkg-config curl file binutils libmnl-dev libyaml-dev libssl-dev libsimdjson-dev catch2 iproute2 python3 openssl procps util-linux strace"
if [ "${1:-}" = fuzz ]; then
    pkgs="$pkgs clang-14 libclang-rt-14-dev"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing (run 'sudo make deps' or 'sudo ./third_party/install-deps.sh${1:+ $1}')" >&2
    exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || apt-get update
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
