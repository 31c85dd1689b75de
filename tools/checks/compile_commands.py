#!/usr/bin/env python3
"""Writes compile_commands.json (to stdout) for every C++ source the Makefile
builds, with the flags it builds them with (`make compile_commands`)."""
from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cxx", default="g++")
    ap.add_argument("--flags-file", required=True, help="a file holding the compiler flags, as make passes them to the shell")
    a = ap.parse_args()
    root = Path(__file__).resolve().parents[2]
    flags = [f for f in shlex.split(Path(a.flags_file).read_text()) if f not in ("-MMD", "-MP")]
    entries = []
    for d in ("src", "tools", "tests"):
        for src in sorted((root / d).rglob("*.cpp")):
            rel = src.relative_to(root)
            entries.append({
                "directory": str(root),
                "file": str(rel),
                "arguments": [a.cxx, *flags, "-c", str(rel), "-o", f"build/obj/{rel.with_suffix('.o')}"],
            })
    print(json.dumps(entries, indent=1))


if __name__ == "__main__":
    main()
