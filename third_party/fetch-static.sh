#!/bin/sh
# Fetches the two static ingredients Debian bookworm does not ship, pinned by
# version and SHA-256, into third_party/static/:
#   libmnl.a   from trixie's libmnl-dev 1.0.5-3 (bookworm's -dev has no .a)
#   simdjson.cpp/.h (single header) from the simdjson 3.0.1 source bookworm packages
# libssl.a, libcrypto.a and libyaml.a come from bookworm's -dev packages.
set -eu
cd "$(dirname "$0")"
out=static
mkdir -p "$out"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

fetch() { # url sha256 file
    if [ -f "$3" ] && echo "$2  $3" | sha256sum -c --status; then return 0; fi
    curl -fsSL --retry 3 -o "$3.tmp" "$1"
    if ! echo "$2  $3.tmp" | sha256sum -c --status; then
        echo "fetch-static: checksum mismatch for $1" >&2
        rm -f "$3.tmp"
        exit 1
    fi
    mv "$3.tmp" "$3"
}

fetch "$mirror/pool/main/libm/libmnl/libmnl-dev_1.0.5-3_amd64.deb" \
      7f9a7c3f470ec400171981816df189ec86b11083c3f8d391d0800ed09a87bfc3 "$out/libmnl-dev_1.0.5-3_amd64.deb"
fetch "$mirror/pool/main/s/simdjson/simdjson_3.0.1.orig.tar.gz" \
      156b1bc5eb0561b2bd166b46d191fd3d95a3e709cc63761477d3b7aec2b6e9ed "$out/simdjson_3.0.1.orig.tar.gz"

if [ ! -f "$out/lib/libmnl.a" ]; then
    rm -rf "$out/mnl" && mkdir -p "$out/mnl" "$out/lib"
    dpkg-deb -x "$out/libmnl-dev_1.0.5-3_amd64.deb" "$out/mnl"
    cp "$out/mnl/usr/lib/x86_64-linux-gnu/libmnl.a" "$out/lib/libmnl.a"
fi
if [ ! -f "$out/simdjson/simdjson.cpp" ]; then
    mkdir -p "$out/simdjson"
    tar -xzf "$out/simdjson_3.0.1.orig.tar.gz" -C "$out/simdjson" --strip-components=2 \
        simdjson-3.0.1/singleheader/simdjson.cpp simdjson-3.0.1/singleheader/simdjson.h
fi
