#!/usr/bin/env python3
"""Fails when an #include goes against the layering.

Layers, lowest first; a file may include headers of its own layer and of any
layer below it, never above:

    base < doc < core < netlink, kube < sources < agent < tools

netlink and kube are siblings: neither includes the other. A layer is named
by the folder a file lives in: src/<layer>/, include/nra/<layer>/, and tools/
(everything under it is the top layer). Tests may include anything.
Headers private to a layer (src/<layer>/*.hpp) may only be included from that
layer. Prints every violation as FILE:LINE: LAYER includes HEADER (LAYER).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

RANK = {"base": 0, "doc": 1, "core": 2, "netlink": 3, "kube": 3, "sources": 4, "agent": 5, "tools": 6}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path: Path, root: Path) -> str | None:
    rel = path.relative_to(root).parts
    if rel[0] == "tools":
        return "tools"
    if rel[0] == "src" and len(rel) > 2:
        return rel[1]
    if rel[:2] == ("include", "nra") and len(rel) > 3:
        return rel[2]
    return None


def header_layer(inc: str, including: Path, root: Path) -> tuple[str | None, bool]:
    """(layer, private) of an included header."""
    if inc.startswith("nra/"):
        parts = inc.split("/")
        return (parts[1] if len(parts) > 2 else None), False
    local = (including.parent / inc).resolve()
    if local.exists():
        return layer_of(local, root), local.is_relative_to(root / "src")
    return None, False


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    bad = 0
    files = [p for d in ("src", "include", "tools") for p in (root / d).rglob("*") if p.suffix in (".cpp", ".hpp")]
    for f in sorted(files):
        me = layer_of(f, root)
        if me is None:
            continue
        if me not in RANK:
            print(f"{f.relative_to(root)}: unknown layer '{me}' (known: {', '.join(RANK)})")
            bad += 1
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            them, private = header_layer(m.group(1), f, root)
            if them is None or them == me:
                continue
            if them not in RANK:
                print(f"{f.relative_to(root)}:{n}: includes {m.group(1)} of unknown layer '{them}'")
                bad += 1
            elif private:
                print(f"{f.relative_to(root)}:{n}: {me} includes {m.group(1)}, private to {them}")
                bad += 1
            elif RANK[them] > RANK[me] or (RANK[them] == RANK[me] and them != me):
                print(f"{f.relative_to(root)}:{n}: {me} includes {m.group(1)} ({them})")
                bad += 1
    if bad:
        print(f"layering: {bad} violation(s); order is base < doc < core < netlink, kube < sources < agent < tools")
        return 1
    print(f"layering: {len(files)} files, includes follow base < doc < core < netlink, kube < sources < agent < tools")
    return 0


if __name__ == "__main__":
    sys.exit(main())
