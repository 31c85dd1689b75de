#!/bin/sh
# Fails when a tracked C++ file differs from what .clang-format makes of it.
# `make format` rewrites them in place.
set -eu
cd "$(dirname "$0")/../.."
CF=${CLANG_FORMAT:-clang-format}
files=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find src include tools tests -name '*.[ch]pp')
if [ "${1:-}" = "--fix" ]; then
    echo "$files" | xargs "$CF" -i
    exit 0
fi
if echo "$files" | xargs "$CF" --dry-run -Werror 2>/tmp/nra-format.$$; then
    rm -f /tmp/nra-format.$$
    echo "format: $(echo "$files" | wc -l) files match .clang-format"
else
    grep -E '^[^ ].*: (error|warning):' /tmp/nra-format.$$ | cut -d: -f1 | sort | uniq -c | sed 's/^/format: lines to change in /' >&2
    rm -f /tmp/nra-format.$$
    echo "format: run 'make format' (clang-format -i) and commit the result" >&2
    exit 1
fi
