"""`make bench` (alone: `BENCH_ONLY=ryw make bench`): read-your-writes under many rounds (issue 25).

The suite runs a few rounds of tests/test_dataplane_read_your_writes.py; this
runs the same trials with READ_YOUR_WRITES_TRIALS rounds (100 by default) for
each set-up (1 and 4 data plane processes, with and without Redis) and each
key kind (database, admin): every round creates a key, expects its first
request to pass, deletes it and expects the next to be refused. Printed per
set-up and kind: whether every round held and the seconds per round.

One copy of the trial lives in the test module; this runs it through pytest
(its fixtures make the console, the test database and the data planes).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests/test_dataplane_read_your_writes.py"


class Figures:
    """A pytest plugin that keeps each trial's outcome and the time of its call phase."""

    def __init__(self):
        self.rows: list[tuple[str, str, float, str]] = []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or (report.when == "setup" and not report.passed):
            reason = "" if report.passed else str(report.longrepr).strip().splitlines()[-1][:100]
            self.rows.append((report.nodeid.split("::")[-1], report.outcome, report.duration, reason))


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "ryw"):
        return
    import pytest

    trials = int(os.environ.setdefault("READ_YOUR_WRITES_TRIALS", "100"))
    figures = Figures()
    os.chdir(ROOT)
    code = pytest.main([MODULE, "-q", "-p", "no:cacheprovider", "-k", "first_request"], plugins=[figures])
    print(f"\nRead-your-writes: {trials} rounds per set-up and key kind (create, first request, delete, next request)")
    print(f"{'key kind':<10} {'set-up':<20} {'outcome':<8} {'s/round':>8}")
    for name, outcome, seconds, reason in figures.rows:
        kind = "database" if "database_key" in name else "admin"
        setup = name.partition("[")[2].rstrip("]")
        print(f"{kind:<10} {setup:<20} {outcome:<8} {seconds / trials:>8.3f} {reason}")
    if code not in (0, 5):
        sys.exit(code)


if __name__ == "__main__":
    main()
