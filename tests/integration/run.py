#!/usr/bin/env python3
"""Integration tests: the real agent binary against the real kernel, in throwaway
network namespaces.

  python3 tests/integration/run.py --agent build/metallb-nra --monitor build/nra-monitor \
      [--sanitized] [-k PATTERN] [-v] [--keep]

Must run as root. Exit status is non-zero when any test fails or errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Result(unittest.TextTestResult):
    """Prints each failing test's agent logs (commands, exit codes, stderr)."""

    def _diag(self, test) -> str:
        d = getattr(test, "diagnostics", None)
        if d is None or not hasattr(test, "ns"):
            return ""
        try:
            return "\n==== agent runs ====\n" + d()
        except Exception as e:  # diagnostics must never hide the failure
            return f"\n(diagnostics unavailable: {e!r})"

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.failures[-1] = (self.failures[-1][0], self.failures[-1][1] + self._diag(test))

    def addError(self, test, err):
        super().addError(test, err)
        self.errors[-1] = (self.errors[-1][0], self.errors[-1][1] + self._diag(test))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", required=True, help="path to metallb-nra")
    ap.add_argument("--monitor", default="", help="path to nra-monitor (used for diagnostics if present)")
    ap.add_argument("--sanitized", action="store_true",
                    help="the binaries are built with ASan/UBSan: fail on sanitizer reports in stderr")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only run tests whose id contains PATTERN (repeatable; fnmatch wildcards allowed)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep per-test temp dirs (logs, configs)")
    ap.add_argument("--failfast", action="store_true")
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("NRA_IT_JOBS", "4")),
                    help="run tests in N worker processes (namespaces are unique, tests independent); default 4")
    ap.add_argument("--ids-file", help=argparse.SUPPRESS)     # worker mode: run these test ids
    ap.add_argument("--result-file", help=argparse.SUPPRESS)  # worker mode: write a JSON summary here
    args = ap.parse_args()

    if os.geteuid() != 0:
        print("integration tests need root (network namespaces, netlink); "
              "run: sudo python3 tests/integration/run.py ... or sudo make test", file=sys.stderr)
        return 2
    agent = Path(args.agent).resolve()
    if not agent.is_file() or not os.access(agent, os.X_OK):
        print(f"agent binary not found or not executable: {args.agent} (build it with `make`)", file=sys.stderr)
        return 2
    monitor = Path(args.monitor).resolve() if args.monitor else None
    monitor_ok = bool(monitor and monitor.is_file() and os.access(monitor, os.X_OK))

    if args.ids_file and os.environ.get("NRA_IT_FIGURES"):
        fig = argparse.Namespace(name=os.environ["NRA_IT_FIGURES"])  # worker: the parent's file
    else:
        fig = tempfile.NamedTemporaryFile(prefix="nra-it-figures-", suffix=".txt", delete=False)
        fig.close()
    os.environ["NRA_IT_AGENT"] = str(agent)
    os.environ["NRA_IT_MONITOR"] = str(monitor) if monitor_ok else ""
    os.environ["NRA_IT_SANITIZED"] = "1" if args.sanitized else ""
    os.environ["NRA_IT_FIGURES"] = fig.name
    if args.keep:
        os.environ["NRA_IT_KEEP"] = "1"

    sys.path.insert(0, str(HERE))
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if any(c in p for c in "*?[") else f"*{p}*" for p in args.patterns]
    suite = loader.discover(str(HERE), pattern="test_*.py", top_level_dir=str(HERE))
    if args.ids_file:
        wanted = set(Path(args.ids_file).read_text().split())
        suite = unittest.TestSuite(t for t in _flatten(suite) if t.id() in wanted)
        return _run_worker(suite, args)
    if args.jobs > 1 and suite.countTestCases() > 1:
        return _run_parallel(suite, args, agent, monitor if monitor_ok else None, fig.name)

    print(f"agent:     {agent}")
    print(f"monitor:   {monitor if monitor_ok else '(not present; not used)'}")
    print(f"sanitized: {'yes' if args.sanitized else 'no'}")
    print(f"tests:     {suite.countTestCases()}")
    sys.stdout.flush()

    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2 if args.verbose else 1,
                                     resultclass=Result, failfast=args.failfast)
    t0 = time.monotonic()
    res = runner.run(suite)
    elapsed = time.monotonic() - t0

    figures = _figures(fig.name)
    print("\n==== summary ====")
    print(f"ran {res.testsRun} tests in {elapsed:.1f}s: "
          f"{len(res.failures)} failed, {len(res.errors)} errors, {len(res.skipped)} skipped, "
          f"{len(res.expectedFailures)} expected failures, {len(res.unexpectedSuccesses)} unexpected successes")
    for t, _ in res.failures:
        print(f"FAIL  {t.id()}")
    for t, _ in res.errors:
        print(f"ERROR {t.id()}")
    if figures:
        print("figures (measured, not asserted):")
        for f in figures:
            print(f"  {f}")
    return 0 if res.wasSuccessful() and res.testsRun > 0 else 1


def _figures(path: str) -> list[str]:
    """Lines of the figures file; `value<TAB>name<TAB>number` lines are summarised per name."""
    import statistics
    lines = Path(path).read_text().splitlines()
    os.unlink(path)
    out, values = [], {}
    for l in lines:
        if l.startswith("value\t"):
            _, name, v = l.split("\t")
            values.setdefault(name, []).append(float(v))
        else:
            out.append(l)
    for name, xs in values.items():
        xs.sort()
        out.append(f"{name}: n={len(xs)} median={statistics.median(xs):.1f} "
                   f"p90={xs[int(0.9 * (len(xs) - 1))]:.1f} max={xs[-1]:.1f}")
    return out


def _flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from _flatten(t)
        else:
            yield t


def _run_worker(suite, args) -> int:
    import json
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=Result, failfast=args.failfast)
    res = runner.run(suite)
    Path(args.result_file).write_text(json.dumps({
        "run": res.testsRun, "failures": [t.id() for t, _ in res.failures],
        "errors": [t.id() for t, _ in res.errors], "skipped": len(res.skipped),
        "ok": res.wasSuccessful()}))
    return 0 if res.wasSuccessful() else 1


def _run_parallel(suite, args, agent, monitor, fig_name) -> int:
    """Split the tests over N worker processes (by module/class groups, longest first) and merge the results."""
    import json
    import subprocess
    tests = list(_flatten(suite))
    groups: dict[str, list[str]] = {}
    for t in tests:
        groups.setdefault(t.id().rsplit(".", 1)[0], []).append(t.id())
    # daemon tests and the script-timeout test dominate: spread classes over workers, biggest first
    n = min(args.jobs, len(tests))
    buckets: list[list[str]] = [[] for _ in range(n)]
    weight = [0.0] * n

    def cost(tid: str) -> float:
        return 12.0 if "timeout" in tid else 1.5 if "Daemon" in tid or "StaticFile" in tid else 0.5

    items = []
    for ids in groups.values():
        # split big classes into chunks so they spread too
        for i in range(0, len(ids), 8):
            chunk = ids[i:i + 8]
            items.append((sum(cost(x) for x in chunk), chunk))
    for c, chunk in sorted(items, key=lambda x: -x[0]):
        k = weight.index(min(weight))
        buckets[k] += chunk
        weight[k] += c

    print(f"agent:     {agent}")
    print(f"monitor:   {monitor or '(not present; not used)'}")
    print(f"sanitized: {'yes' if args.sanitized else 'no'}")
    print(f"tests:     {len(tests)} in {n} worker processes")
    sys.stdout.flush()
    tmp = Path(tempfile.mkdtemp(prefix="nra-it-"))
    procs = []
    t0 = time.monotonic()
    for i, ids in enumerate(buckets):
        (tmp / f"ids{i}").write_text("\n".join(ids))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--agent", str(agent), "--monitor", str(monitor or ""),
               "--ids-file", str(tmp / f"ids{i}"), "--result-file", str(tmp / f"res{i}.json")]
        if args.sanitized:
            cmd.append("--sanitized")
        if args.keep:
            cmd.append("--keep")
        out = open(tmp / f"out{i}.txt", "w")
        procs.append((subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT), out))
    for p, out in procs:
        p.wait()
        out.close()
    elapsed = time.monotonic() - t0
    run = skipped = 0
    failures: list[str] = []
    errors: list[str] = []
    crashed = []
    for i in range(n):
        text = (tmp / f"out{i}.txt").read_text(errors="replace")
        if args.verbose or "FAIL" in text or "ERROR" in text or "Traceback" in text:
            print(f"\n---- worker {i} ----\n{text}")
        try:
            r = json.loads((tmp / f"res{i}.json").read_text())
        except (OSError, ValueError):
            crashed.append(i)
            print(f"\n---- worker {i} (no result: crashed) ----\n{text}")
            continue
        run += r["run"]
        skipped += r["skipped"]
        failures += r["failures"]
        errors += r["errors"]
    figures = _figures(fig_name)
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    print("\n==== summary ====")
    print(f"ran {run} tests in {elapsed:.1f}s ({n} workers): {len(failures)} failed, {len(errors)} errors, "
          f"{skipped} skipped" + (f", {len(crashed)} workers crashed" if crashed else ""))
    for t in failures:
        print(f"FAIL  {t}")
    for t in errors:
        print(f"ERROR {t}")
    if figures:
        print("figures (measured, not asserted; tests ran in parallel):")
        for f in figures:
            print(f"  {f}")
    ok = not failures and not errors and not crashed and run == len(tests)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
