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

    figures = Path(fig.name).read_text().splitlines()
    os.unlink(fig.name)
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


if __name__ == "__main__":
    sys.exit(main())
