#!/bin/sh
# Runs a command as root: directly when already root (a CI container, a
# minimal Debian image: often no sudo at all), through sudo otherwise. What
# lets the README's `make demo` and `make test` work as typed on both kinds
# of host.
#   tools/as-root.sh COMMAND [ARGS...]
set -eu
[ "$#" -gt 0 ] || { echo "as-root: usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
if [ "$(id -u)" -eq 0 ]; then
    exec "$@"
fi
if command -v sudo >/dev/null 2>&1; then
    echo "as-root: needs root (network namespaces); running through sudo: $*" >&2
    exec sudo -- "$@"
fi
echo "as-root: needs root (network namespaces) and there is no sudo here: run it as root: $*" >&2
exit 1
