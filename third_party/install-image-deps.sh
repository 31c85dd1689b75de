#!/bin/sh
# Installs what `make image-test` needs from Debian bookworm when missing:
# podman, buildah and runc (the image is built and run with the vfs storage
# driver and the runc runtime; crun cannot set up cgroups on every machine),
# plus iproute2 for the test's network namespace. Idempotent and quiet when
# everything is already present; like install-deps.sh, installs only as root.
set -eu
pkgs="podman buildah runc iproute2 python3"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "install-image-deps: missing packages:$missing (run it as root: sudo $0)" >&2
    exit 1
fi
echo "install-image-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || apt-get update
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
