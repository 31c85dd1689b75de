#!/bin/sh
# Installs the build and test dependencies from Debian bookworm when missing.
# Pinned to what bookworm ships (see third_party/README.md); idempotent and quiet
# when everything is already present.
#   install-deps.sh        the build and test dependencies
#   install-deps.sh fuzz   the same plus clang 14 and its libFuzzer/sanitizer
#                          runtimes (make fuzz, make fuzz-smoke)
set -eu
pkgs="g++ make pkg-config curl file binutils libmnl-dev libyaml-dev libssl-dev libsimdjson-dev libc-ares-dev catch2 iproute2 python3 openssl procps util-linux strace clang-format"
if [ "${1:-}" = fuzz ]; then
    pkgs="$pkgs clang-14 libclang-rt-14-dev"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    # A workstation: apt-get through sudo when there is one (tools/as-root.sh).
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: missing packages:$missing (run 'make deps' as root)" >&2; exit 1; }
    exec "$(dirname "$0")/../tools/as-root.sh" "$0" "$@"
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || apt-get update
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
