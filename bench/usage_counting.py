"""`make bench` (alone: `BENCH_ONLY=usage make bench`): what counting each
key's usage (dataplane/usage.py) and the front's Prometheus metrics
(dataplane/metrics.py) add per request at the front (issue 24, goal: at most
3 % fewer requests per second).

Three data planes side by side, each with the same embedded collection: one
counting (DATAPLANE_COUNT_USAGE on, the default, and DATAPLANE_METRICS_PORT
set) and two alike with neither. Each round loads each of them in turn with
count over REST and over gRPC, 32 keep-alive connections, for BENCH_SECONDS,
the order rotating from round to round. A ratio is taken within each round
(where the shared machine's load of the moment falls on all three alike),
and the median and range of the rounds' ratios are printed: counting against
not counting, and the second not-counting plane against the first, which
differ in nothing, so that its spread is the noise floor any other ratio is
read against. Req/s and the server's CPU time per request (from /proc), and
what counting costs in-process, timed alone.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.dataplane import ROOT, _free_port, _pin, _setup, _stop, cpu_seconds, load_average

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
    _, credential = front_credential_create(name=f"bench-usage-{os.getpid()}")
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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process, port, grpc_port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the data plane did not start")


def _fill(port: int, manage: str) -> None:
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"api-key": manage}, timeout=60) as client:
        deadline = time.monotonic() + 30
        while client.get("/collections").status_code != 200:  # the front has not loaded the key set yet
            if time.monotonic() > deadline:
                raise RuntimeError("the data plane does not accept the bench key")
            time.sleep(0.1)
        client.put("/collections/bench", json={"vectors": {"size": 4, "distance": "Cosine"}}).raise_for_status()
        points = [{"id": i, "vector": [1.0, i % 7, i % 5, i % 3]} for i in range(1000)]
        client.put("/collections/bench/points?wait=true", json={"points": points}).raise_for_status()


# The planes, by what they count: the third is the second again, the noise floor.
ARMS = ("counting", "not counting", "not counting again")


def counting_vs_not(tmp: Path, token: str, manage: str, rounds: int, seconds: float) -> dict:
    """(protocol, arm) -> one outcome per round, round i's outcomes of all arms
    taken back to back."""
    from qdrant_client import grpc as pb

    from bench import loadgen

    # The cheapest call: the larger the share of counting in each request.
    rest_request = loadgen.post_request("/collections/bench/points/count", json.dumps({"exact": True}).encode(),
                                        {"api-key": token})
    grpc_request = pb.CountPoints(collection_name="bench", exact=True).SerializeToString()
    planes = {}
    results = {(proto, arm): [] for proto in PROTOCOLS for arm in ARMS}
    console, contract = _console()
    try:
        for number, arm in enumerate(ARMS):
            planes[arm] = _start(tmp / f"data-{number}", counting=arm == "counting", contract=contract)
        for _, port, _ in planes.values():
            _fill(port, manage)
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
                        outcome = loadgen.run_grpc(f"127.0.0.1:{grpc_port}", "/qdrant.Points/Count", grpc_request,
                                                   [("api-key", token)], connections=32, warmup=0.5, seconds=seconds)
                    if outcome["errors"]:
                        raise RuntimeError(f"{outcome['errors']} {proto} requests failed ({arm})")
                    outcome["cpu_us"] = (cpu_seconds(process.pid) - cpu) / outcome["answered"] * 1e6
                    results[(proto, arm)].append(outcome)
    finally:
        for process, _, _ in planes.values():
            _stop(process)
        _stop(console)
    return results


def ratios(results: dict, proto: str, arm: str, baseline: str) -> dict:
    """`arm` against `baseline`, round by round: req/s over the baseline's, and
    the baseline's server CPU a request over the arm's (below 1 is a cost either
    way); medians of each arm and of the rounds' ratios, and the ratios' range."""
    on, off = results[(proto, arm)], results[(proto, baseline)]
    rps = [a["rps"] / b["rps"] for a, b in zip(on, off, strict=True)]
    cpu = [b["cpu_us"] / a["cpu_us"] for a, b in zip(on, off, strict=True)]
    return {"rps": statistics.median(o["rps"] for o in on), "base_rps": statistics.median(o["rps"] for o in off),
            "cpu": statistics.median(o["cpu_us"] for o in on), "base_cpu": statistics.median(o["cpu_us"] for o in off),
            "rps_ratio": statistics.median(rps), "rps_range": (min(rps), max(rps)),
            "cpu_ratio": statistics.median(cpu), "cpu_range": (min(cpu), max(cpu))}


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


def print_counting(rounds: int, seconds: float, results: dict, cost: dict, loads: tuple[str, str]) -> None:
    print(f"Usage counting and metrics at the front (count on an embedded cluster), 32 connections, {rounds} rounds, "
          f"each arm {seconds:g} s a round in turn; load average {loads[0]} before, {loads[1]} after "
          f"({os.cpu_count()} cores). Ratios: median of the rounds' (range).")
    print(f"  {'':4}  {'arm against baseline':41} {'req/s arm/base':>13}  {'ratio':>21}  {'CPU µs/req':>13}  {'ratio':>21}")
    for proto in PROTOCOLS:
        for arm, label in (("counting", "counting against not counting"),
                           ("not counting again", "noise floor: not counting against itself")):
            row = ratios(results, proto, arm, "not counting")
            print(f"  {proto:4}  {label:41} {row['rps']:6.0f}/{row['base_rps']:6.0f}  {row['rps_ratio']:6.3f}x "
                  f"({row['rps_range'][0]:.3f}-{row['rps_range'][1]:.3f})  {row['cpu']:6.0f}/{row['base_cpu']:6.0f}"
                  f"  {row['cpu_ratio']:6.3f}x ({row['cpu_range'][0]:.3f}-{row['cpu_range'][1]:.3f})")
    for proto in PROTOCOLS:
        share = cost[proto] / statistics.median(o["cpu_us"] for o in results[(proto, "not counting")]) * 100
        print(f"  {proto:4}  counting alone, in-process (Pipeline.finish): {cost[proto]:4.1f} µs a request = "
              f"{share:.1f} % of the server CPU a request costs")
    print("  goal: counting against not counting >= 0.970x (a ratio within the noise floor's range is noise)")
    sys.stdout.flush()


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "usage"):
        return
    rounds = int(os.environ.get("BENCH_USAGE_ROUNDS", "7"))
    seconds = float(os.environ.get("BENCH_SECONDS", "3"))
    with tempfile.TemporaryDirectory(prefix="usage-bench-") as name:
        tmp = Path(name)
        _, token, manage = _setup(tmp)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        before = load_average()
        results = counting_vs_not(tmp, token, manage, rounds, seconds)
        print_counting(rounds, seconds, results, counting_cost_us(), (before, load_average()))


if __name__ == "__main__":
    main()
