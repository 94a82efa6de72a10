"""`make bench` (alone: `BENCH_ONLY=usage make bench`): what counting each
key's usage (dataplane/usage.py) and the front's Prometheus metrics
(dataplane/metrics.py) add per request at the front (issue 24, goal: at most
3 % fewer requests per second).

Three data planes side by side, each with the same embedded collection: one
counting (DATAPLANE_COUNT_USAGE on, the default, and DATAPLANE_METRICS_PORT
set) and two alike with neither, started afresh BENCH_USAGE_SESSIONS times
(4) in an order rotating from session to session, so that what one process
does differently from another (where it landed, when it started) falls on
each arm in turn. Each of a session's BENCH_USAGE_ROUNDS rounds (10) loads
each plane in turn with count over REST and over gRPC, 32 keep-alive
connections, for BENCH_USAGE_SECONDS (1.5), the order rotating from round to
round.

The verdict is the server's CPU time a request (the process's CPU-time
clock, to the nanosecond), counting over not counting: on this 2-core
machine the front is CPU-bound on its core, so its CPU a request is what
bounds its throughput, and unlike req/s it does not move with the other
jobs' load of the moment. A ratio is taken within each round (the counting
front against the geometric mean of the two not-counting ones, loaded back
to back), and the rounds' geometric mean is printed with its 95 % confidence
interval (10 % trimmed, Tukey-McLaughlin): goal met when the whole
interval is within 3 %. The
two not-counting fronts, which differ in nothing, give the noise floor with
its own interval. Req/s ratios (median and range, and the geometric mean's
interval) are printed too, and what counting costs in-process, timed alone.
Then, when valgrind is installed and BENCH_USAGE_CALLGRIND_REQUESTS is set
(0 by default: skipped), the instructions a request costs each front under
callgrind (bench/usage_instructions.py; alone: `python -m
bench.usage_instructions 1500`), which do not depend on the machine's load.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.dataplane import ROOT, _free_port, _pin, _setup, _stop, cpu_seconds, load_average, wait_started

PROTOCOLS = ("REST", "gRPC")


def _console() -> tuple[subprocess.Popen, dict]:
    """The console's contract in a process of its own: the counting front reports
    every few seconds, and a console inside this process would slow the load
    generator (the GIL) while it loads that front alone."""
    from fronts.credentials import front_credential_create

    port = _free_port()
    process = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                               cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=lambda: _pin(1))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    _, credential = front_credential_create(name=f"bench-usage-{os.getpid()}-{time.time_ns()}")
    return process, {"KEYSET_URL": f"http://127.0.0.1:{port}", "KEYSET_CREDENTIAL": credential}


def _start(data_dir: Path, *, counting: bool, contract: dict) -> tuple[subprocess.Popen, int, int]:
    port, grpc_port = _free_port(), _free_port()
    env = os.environ | contract | {
        "DATAPLANE_HOST": "127.0.0.1", "DATAPLANE_PORT": str(port), "DATAPLANE_GRPC_PORT": str(grpc_port),
        "DATAPLANE_DATA_DIR": str(data_dir), "DATAPLANE_RUN_DIR": str(data_dir / "run"),
        "DATAPLANE_COUNT_USAGE": "true" if counting else "false"}
    if counting:
        env["DATAPLANE_METRICS_PORT"] = str(_free_port())
    process = subprocess.Popen([sys.executable, "-m", "dataplane"], cwd=ROOT, env=env,
                               stderr=subprocess.DEVNULL, preexec_fn=lambda: _pin(0))
    wait_started(process, port)
    return process, port, grpc_port


def _fill(port: int, manage: str, wait: float = 30) -> None:
    """`wait`: seconds for the front to load the key set (longer under valgrind)."""
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"api-key": manage}, timeout=600) as client:
        deadline = time.monotonic() + wait
        while client.get("/collections").status_code != 200:  # the front has not loaded the key set yet
            if time.monotonic() > deadline:
                raise RuntimeError("the data plane does not accept the bench key")
            time.sleep(0.1)
        client.put("/collections/bench", json={"vectors": {"size": 4, "distance": "Cosine"}}).raise_for_status()
        points = [{"id": i, "vector": [1.0, i % 7, i % 5, i % 3]} for i in range(1000)]
        client.put("/collections/bench/points?wait=true", json={"points": points}).raise_for_status()


# The planes, by what they count: the third is the second again, the noise floor.
ARMS = ("counting", "not counting", "not counting again")


def _planes(tmp: Path, session: int, contract: dict, manage: str) -> dict:
    """The three planes of a session, started in an order rotating from session
    to session, so that the counting plane is not always the first process
    started (nor always the same process: whatever one process does
    differently from the next falls on each arm in turn)."""
    order = ARMS[session % len(ARMS):] + ARMS[:session % len(ARMS)]
    planes = {}
    try:
        for arm in order:
            planes[arm] = _start(tmp / f"data-{session}-{ARMS.index(arm)}", counting=arm == "counting",
                                 contract=contract)
        for _, port, _ in planes.values():
            _fill(port, manage)
    except BaseException:
        for process, _, _ in planes.values():
            _stop(process)
        raise
    return planes


def counting_vs_not(tmp: Path, token: str, manage: str, sessions: int, rounds: int, seconds: float) -> dict:
    """(protocol, arm) -> one outcome per round, round i's outcomes of all arms
    taken back to back; `sessions` times three planes started afresh, `rounds`
    rounds each. Also "loads": the load average (1 min) at each round's end."""
    from qdrant_client import grpc as pb

    from bench import loadgen

    # The cheapest call: the larger the share of counting in each request.
    rest_request = loadgen.post_request("/collections/bench/points/count", json.dumps({"exact": True}).encode(),
                                        {"api-key": token})
    grpc_request = pb.CountPoints(collection_name="bench", exact=True).SerializeToString()
    results = {(proto, arm): [] for proto in PROTOCOLS for arm in ARMS} | {"loads": []}
    console, contract = _console()
    try:
        for session in range(sessions):
            planes = _planes(tmp, session, contract, manage)
            try:
                _pin(1)
                for i in range(rounds):
                    for proto in PROTOCOLS:
                        for arm in ARMS[i % len(ARMS):] + ARMS[:i % len(ARMS)]:
                            process, port, grpc_port = planes[arm]
                            cpu = cpu_seconds(process.pid)
                            if proto == "REST":
                                outcome = loadgen.run("127.0.0.1", port, rest_request, connections=32, warmup=0.5,
                                                      seconds=seconds)
                            else:
                                outcome = loadgen.run_grpc(f"127.0.0.1:{grpc_port}", "/qdrant.Points/Count",
                                                           grpc_request, [("api-key", token)], connections=32,
                                                           warmup=0.5, seconds=seconds)
                            if outcome["errors"]:
                                raise RuntimeError(f"{outcome['errors']} {proto} requests failed ({arm})")
                            outcome["session"] = session
                            outcome["cpu_us"] = (cpu_seconds(process.pid) - cpu) / max(1, outcome["answered"]) * 1e6
                            results[(proto, arm)].append(outcome)
                    results["loads"].append(os.getloadavg()[0])
            finally:
                for process, _, _ in planes.values():
                    _stop(process)
    finally:
        _stop(console)
    return results


def ratios(results: dict, proto: str, arm: str, baseline: str) -> dict:
    """`arm` against `baseline`, round by round: req/s over the baseline's, and
    the baseline's server CPU a request over the arm's (below 1 is a cost either
    way); medians of each arm and of the rounds' ratios, and the ratios' range."""
    # A turn that got no answer in its time (a machine so loaded that a channel did not connect) voids its round.
    pairs = [(a, b) for a, b in zip(results[(proto, arm)], results[(proto, baseline)], strict=True)
             if a["requests"] and b["requests"]]
    on, off = [a for a, _ in pairs], [b for _, b in pairs]
    rps = [a["rps"] / b["rps"] for a, b in pairs]
    cpu = [b["cpu_us"] / a["cpu_us"] for a, b in pairs]
    by_session: dict[int, list[float]] = {}
    for (a, _), ratio in zip(pairs, rps, strict=True):
        by_session.setdefault(a["session"], []).append(ratio)
    return {"rps": statistics.median(o["rps"] for o in on), "base_rps": statistics.median(o["rps"] for o in off),
            "cpu": statistics.median(o["cpu_us"] for o in on), "base_cpu": statistics.median(o["cpu_us"] for o in off),
            "rps_ratios": rps, "cpu_ratios": cpu,
            "by_session": [statistics.median(values) for _, values in sorted(by_session.items())]}


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}x ({min(values):.3f}-{max(values):.3f})"


def counting_cost_us() -> dict:
    """What the request path adds, in-process, µs a request: Pipeline.finish
    counting a REST request and a gRPC call into the key's usage and the
    front's metrics, against finish counting nothing. Steadier than req/s on
    a busy machine."""
    import timeit

    from dataplane import usage
    from dataplane.keystore import KeyEntry
    from dataplane.metrics import Metrics
    from dataplane.pipeline import Pipeline, Request

    key = KeyEntry(id="00000000-0000-0000-0000-000000000001", cluster_id="c", kind="database", expires_at=None)
    grant = type("Grant", (), {"key": key, "cluster": type("Cluster", (), {"id": "c"})()})()
    counting = Pipeline(keystore=None, engine=None, last_used=None, usage=usage.Usage(), metrics=Metrics())
    bare = Pipeline(keystore=None, engine=None, last_used=None)
    rest, grpc = Request("rest", "/collections/bench/points/count"), Request("grpc", "/qdrant.Points/Count")
    rest.grant = grpc.grant = grant
    number = 100_000

    def best(pipeline, request, status) -> float:
        return min(timeit.repeat(lambda: pipeline.finish(request, status), number=number, repeat=5)) / number

    return {"REST": (best(counting, rest, 200) - best(bare, rest, 200)) * 1e6,
            "gRPC": (best(counting, grpc, "OK") - best(bare, grpc, "OK")) * 1e6}


# The goal: counting costs the front at most 3 % (of its throughput; on this
# CPU-bound machine, of its CPU time a request, which bounds it).
BUDGET = 0.03


def _t95(dof: int) -> float:
    """Student's t, two-sided 95 %, for `dof` degrees of freedom (Cornish-Fisher
    from the normal's 1.96: within 0.5 % of the table from 3 on)."""
    z = 1.959964
    if dof < 3:
        return {1: 12.706, 2: 4.303}.get(dof, float("inf"))
    return z + (z ** 3 + z) / (4 * dof) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * dof ** 2)


# The share of rounds trimmed from each end: a turn that stalled (a channel
# that did not connect for a while on a machine at load 20) is an outlier
# that would widen a plain mean's interval by itself.
TRIM = 0.1


def interval(ratios: list[float]) -> tuple[float, float, float]:
    """The geometric mean of per-round ratios, 10 % trimmed at each end, and
    its 95 % confidence interval (Tukey and McLaughlin's: Student's t on the
    logarithms' winsorized variance). Each round's ratio is taken between
    turns back to back, so the machine's load of the moment cancels in it."""
    logs = sorted(math.log(r) for r in ratios)
    n = len(logs)
    g = int(TRIM * n)
    kept = logs[g:n - g]
    mean = statistics.fmean(kept)
    if len(kept) < 2:
        return math.exp(mean), 0.0, float("inf")
    winsorized = [kept[0]] * g + kept + [kept[-1]] * g
    half = _t95(len(kept) - 1) * statistics.stdev(winsorized) / (len(kept) / n * n ** 0.5)
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def verdict(cost: list[float], noise: list[float]) -> str:
    """`cost`: per round, the counting front's server CPU a request over the
    not-counting front's (above 1 is what counting costs); `noise`: the same
    for two identical fronts. Met when the whole 95 % interval is within the
    budget; NOT met otherwise (over it, or too wide to show it)."""
    mean, low, high = interval(cost)
    floor, floor_low, floor_high = interval(noise)
    shown = (f"{(mean - 1) * 100:+.1f} % (95 % CI {(low - 1) * 100:+.1f} to {(high - 1) * 100:+.1f} %, "
             f"{len(cost)} rounds; identical fronts {(floor - 1) * 100:+.1f} %, {(floor_low - 1) * 100:+.1f} to "
             f"{(floor_high - 1) * 100:+.1f} %)")
    if high - 1 <= BUDGET:
        return f"goal met (<= {BUDGET:.0%} server CPU a request): {shown}"
    if low - 1 > BUDGET:
        return f"goal NOT met (<= {BUDGET:.0%} server CPU a request): {shown}"
    return f"goal NOT met (<= {BUDGET:.0%}), not shown: the interval reaches past it: {shown}"


def print_counting(sessions: int, rounds: int, seconds: float, results: dict, cost: dict,
                   loads: tuple[str, str]) -> None:
    counted = {proto: ratios(results, proto, "counting", "not counting") for proto in PROTOCOLS}
    noise = {proto: ratios(results, proto, "not counting again", "not counting") for proto in PROTOCOLS}
    per_round = results["loads"]
    print(f"Usage counting and metrics at the front (count on an embedded cluster), 32 connections, {sessions} "
          f"sessions of 3 fronts started afresh x {rounds} rounds, each front {seconds:g} s a round in turn; load "
          f"average {loads[0]} before, {loads[1]} after, 1-min {min(per_round):.1f}-{max(per_round):.1f} during "
          f"({os.cpu_count()} cores).")
    print("  req/s, counting / not counting, median of the rounds' ratios (range):  "
          + "   ".join(f"{proto} {_spread(counted[proto]['rps_ratios'])}" for proto in PROTOCOLS))
    print("  noise floor, not counting / not counting (identical fronts):            "
          + "   ".join(f"{proto} {_spread(noise[proto]['rps_ratios'])}" for proto in PROTOCOLS))
    print("  server CPU a request, not counting / counting:                         "
          + "   ".join(f"{proto} {_spread(counted[proto]['cpu_ratios'])}" for proto in PROTOCOLS))
    print("  server CPU a request, noise floor:                                     "
          + "   ".join(f"{proto} {_spread(noise[proto]['cpu_ratios'])}" for proto in PROTOCOLS))
    for proto in PROTOCOLS:
        row = counted[proto]
        print(f"  {proto:4} medians: req/s {row['rps']:.0f} counting, {row['base_rps']:.0f} not, "
              f"{noise[proto]['rps']:.0f} not again; CPU {row['cpu']:.0f}/{row['base_cpu']:.0f}/"
              f"{noise[proto]['cpu']:.0f} µs a request; req/s ratio by session "
              + " ".join(f"{value:.3f}x" for value in row["by_session"])
              + f" ({len(row['rps_ratios'])} rounds)")
    for proto in PROTOCOLS:
        share = cost[proto] / counted[proto]["base_cpu"] * 100
        print(f"  {proto:4} counting alone, in-process (Pipeline.finish): {cost[proto]:4.1f} µs a request = "
              f"{share:.1f} % of the server CPU a request costs")
    for proto in PROTOCOLS:
        rps, rps_low, rps_high = interval(counted[proto]["rps_ratios"])
        print(f"  {proto:4} req/s, counting / not counting: {rps:.3f}x (95 % CI {rps_low:.3f}-{rps_high:.3f})")
    for proto in PROTOCOLS:
        # Against both not-counting fronts of the round (the geometric mean of their CPU a request):
        # a baseline with half the variance of either alone.
        cost_ratios = [on["cpu_us"] / math.sqrt(off["cpu_us"] * again["cpu_us"])
                       for on, off, again in zip(results[(proto, "counting")], results[(proto, "not counting")],
                                                 results[(proto, "not counting again")], strict=True)
                       if on["requests"] and off["requests"] and again["requests"]]
        noise_ratios = [1 / r for r in noise[proto]["cpu_ratios"]]
        print(f"  {proto:4} what counting costs the front, server CPU a request counting / not counting: "
              f"{verdict(cost_ratios, noise_ratios)}")
    sys.stdout.flush()


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "usage"):
        return
    sessions = int(os.environ.get("BENCH_USAGE_SESSIONS", "4"))
    rounds = int(os.environ.get("BENCH_USAGE_ROUNDS", "10"))
    # Short turns: the closer in time a round's fronts are loaded, the more alike the machine's load on them.
    seconds = float(os.environ.get("BENCH_USAGE_SECONDS", "1.5"))
    with tempfile.TemporaryDirectory(prefix="usage-bench-") as name:
        tmp = Path(name)
        _, token, manage = _setup(tmp)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        before = load_average()
        results = counting_vs_not(tmp, token, manage, sessions, rounds, seconds)
        print_counting(sessions, rounds, seconds, results, counting_cost_us(), (before, load_average()))
        # Instructions do not depend on the machine's load: a steadier figure, when valgrind is here (~4 min).
        # Off unless asked for: run after the sessions, the first front under valgrind did not start
        # answering with the bench key (not found yet); `python -m bench.usage_instructions` alone does.
        requests = int(os.environ.get("BENCH_USAGE_CALLGRIND_REQUESTS", "0"))
        if requests and shutil.which("valgrind") and shutil.which("callgrind_control"):
            from bench.usage_instructions import instructions, print_instructions

            print_instructions(requests, instructions(tmp, token, manage, requests))


if __name__ == "__main__":
    main()
