"""`make bench` (alone: `BENCH_ONLY=connected make bench`): a deleted key refused by every node, many rounds (issue 25).

The suite runs 5 rounds of tests/test_connected_keys.py's delete trial (a
connected cluster of three real Qdrant nodes; each round creates a key per
node, expects its request to that node to pass, deletes it and expects the
next request to be refused); this runs the same trial with
CONNECTED_DELETE_ROUNDS rounds (100 by default). Printed: whether every round
held and the seconds per round; it fails if a round does. Needs QDRANT_BINARY.

One copy of the trial lives in the test module; this runs it through pytest
(its fixtures make the console, the test database and the nodes).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests/test_connected_keys.py"


class Figures:
    """A pytest plugin that keeps the trial's outcome and the time of its call phase."""

    def __init__(self):
        self.rows: list[tuple[str, float, str]] = []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            reason = "" if report.passed else str(report.longrepr).strip().splitlines()[-1][:100]
            self.rows.append((report.outcome, report.duration, reason))


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "connected"):
        return
    if not os.environ.get("QDRANT_BINARY"):
        print("connected delete bench: skipped (QDRANT_BINARY is not set)")
        return
    import pytest

    rounds = int(os.environ.setdefault("CONNECTED_DELETE_ROUNDS", "100"))
    figures = Figures()
    os.chdir(ROOT)
    code = pytest.main([MODULE, "-q", "-p", "no:cacheprovider", "-k", "deleted_key_is_refused_by_every_node"],
                       plugins=[figures])
    print(f"\nA deleted key on a connected cluster of 3 nodes: {rounds} rounds (a key per node: create, "
          "request, delete, request)")
    print(f"{'outcome':<8} {'s/round':>8}")
    for outcome, seconds, reason in figures.rows:
        print(f"{outcome:<8} {seconds / rounds:>8.3f} {reason}")
    if code not in (0, 5):
        sys.exit(code)


if __name__ == "__main__":
    main()
