#!/bin/sh
# Fetches the static ingredients of `make static` through Debian's package
# registry, pinned by exact version and SHA-256 (third_party/static.lock), and
# unpacks them into third_party/static/:
#   lib/libmnl.a            trixie's libmnl-dev (bookworm's -dev has no .a)
#   lib/libssl.a, libcrypto.a + include/   bookworm's libssl-dev
#   lib/libyaml.a + include/               bookworm's libyaml-dev
#   lib/libcares.a + include/ares*.h       bookworm's libc-ares-dev
#   simdjson/simdjson.{cpp,h}              simdjson's source as Debian packages it
# The C library (libc.a) comes from the toolchain (libc6-dev).
# Idempotent: a download whose checksum already matches is not repeated.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/static"
mkdir -p "$out/dl" "$out/lib" "$out/include"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

fetch() { # pool-path sha256 -> prints the local file
    f="$out/dl/$(basename "$1")"
    if [ -f "$f" ] && echo "$2  $f" | sha256sum -c --status; then echo "$f"; return 0; fi
    echo "fetch-static: $mirror/$1" >&2
    curl -fsSL --retry 3 -o "$f.tmp" "$mirror/$1" || { echo "fetch-static: cannot download $mirror/$1" >&2; exit 1; }
    if ! echo "$2  $f.tmp" | sha256sum -c --status; then
        echo "fetch-static: checksum mismatch for $1 (want $2, got $(sha256sum "$f.tmp" | cut -d' ' -f1))" >&2
        rm -f "$f.tmp"
        exit 1
    fi
    mv "$f.tmp" "$f"
    echo "$f"
}

stamp="$out/.lock.sha256"
want="$(sha256sum "$here/static.lock" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$out/simdjson/simdjson.cpp" ]; then
    exit 0
fi
rm -rf "$out/lib" "$out/include" "$out/simdjson" "$out/x"
mkdir -p "$out/lib" "$out/include" "$out/simdjson"

grep -v '^[[:space:]]*\(#\|$\)' "$here/static.lock" | while read -r name version sha path; do
    f="$(fetch "$path" "$sha")"
    case "$path" in
    *.deb)
        rm -rf "$out/x" && mkdir -p "$out/x"
        dpkg-deb -x "$f" "$out/x"
        # Libraries and headers, multiarch headers folded into include/.
        find "$out/x/usr/lib" -name '*.a' -exec cp {} "$out/lib/" \;
        cp -R "$out/x/usr/include/." "$out/include/"
        if [ -d "$out/x/usr/include/x86_64-linux-gnu" ]; then
            cp -R "$out/x/usr/include/x86_64-linux-gnu/." "$out/include/"
        fi
        rm -rf "$out/x"
        ;;
    *.orig.tar.gz)
        tar -xzf "$f" -C "$out/simdjson" --strip-components=2 \
            "simdjson-$version/singleheader/simdjson.cpp" "simdjson-$version/singleheader/simdjson.h"
        ;;
    esac
    echo "fetch-static: $name $version ok" >&2
done
for a in libmnl.a libssl.a libcrypto.a libyaml.a libcares.a; do
    [ -f "$out/lib/$a" ] || { echo "fetch-static: $a missing after unpacking" >&2; exit 1; }
done
echo "$want" > "$stamp"
