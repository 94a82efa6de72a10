"""`make bench` (alone: `BENCH_ONLY=fronts make bench`): a key change confirmed by three fronts (issue 20).

Runs tests/test_fronts_hosts.py's first-request trial (three fronts on
127.0.0.2/.3/.4, each with its own data and run directory, only KEYSET_URL and
a credential) with FRONTS_HOSTS_ROUNDS rounds (100 by default), once with the
fronts polling every 0.1 s and 0.2 s (the default without Redis) and no
long-poll, once with the long-poll (DATAPLANE_LONG_POLL_SECONDS=25, poll 0.1 s).
Printed side by side: how long a create waits until every front acknowledged
it (p50, p99, max) and how many requests the three fronts make to the console
per second while nothing changes. On PostgreSQL when DATABASE_URL is one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = [("poll 0.1 s", "0", "0.1"), ("poll 0.2 s", "0", "0.2"), ("long-poll 25 s", "25", "0.1")]


def run(long_poll: str, poll: str, rounds: str) -> dict | str:
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures.json"
        env = os.environ | {"FRONTS_HOSTS_LONG_POLL_SECONDS": long_poll, "FRONTS_HOSTS_POLL_SECONDS": poll,
                            "FRONTS_HOSTS_ROUNDS": rounds, "FRONTS_HOSTS_FIGURES": str(figures)}
        done = subprocess.run([sys.executable, "-m", "pytest", "tests/test_fronts_hosts.py", "-q", "-p",
                               "no:cacheprovider", "-k", "first_request"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0 or not figures.exists():
            return (done.stdout.strip().splitlines() or ["failed"])[-1]
        return json.loads(figures.read_text())


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "fronts"):
        return
    rounds = os.environ.get("FRONTS_HOSTS_ROUNDS", "100")
    print(f"\nA key create confirmed by 3 fronts on 127.0.0.2/.3/.4 ({rounds} rounds; "
          f"console on {'PostgreSQL' if os.environ.get('DATABASE_URL', '').startswith('postgres') else 'SQLite'})")
    print(f"{'fronts':<16} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'idle req/s':>10}")
    rows = {}
    for name, long_poll, poll in MODES:
        rows[name] = result = run(long_poll, poll, rounds)
        if isinstance(result, str):
            print(f"{name:<16} failed: {result}")
            continue
        print(f"{name:<16} {result['p50'] * 1000:>7.0f} {result['p99'] * 1000:>7.0f} {result['max'] * 1000:>7.0f} "
              f"{result['idle_requests_per_second']:>10.1f}")
    first, last = rows[MODES[0][0]], rows[MODES[-1][0]]
    if isinstance(first, dict) and isinstance(last, dict):
        print(f"long-poll / poll 0.1 s: p50 {last['p50'] / first['p50']:.2f}x, p99 {last['p99'] / first['p99']:.2f}x")


if __name__ == "__main__":
    main()
