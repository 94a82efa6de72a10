"""`make bench` (alone: `BENCH_ONLY=tls make bench`): TLS on against off at the front (issue 20, goal >= 0.85x).

Two data planes side by side, one serving DATAPLANE_TLS_CERT_FILE/KEY_FILE
(a CA and certificate made now, tests/fixtures/tls.py), one plain, each with
the same embedded collection of 10,000 points of dimension 128. Count and
query (limit 10), over REST and over gRPC, 32 keep-alive connections (each
made, handshake included, before the measured window), loaded in turn,
alternating which goes first. The ratio is TLS req/s over plain req/s. The
load generator encrypts and decrypts too, on the other core, and other jobs on
a shared machine move req/s by more than TLS does: so each row also gives the
server's CPU time per request (from /proc, warm-up and handshakes included),
and plain/TLS of it, the throughput ratio of a front that is CPU-bound.
"""

from __future__ import annotations

import logging
import os
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.dataplane import (DIMENSION, FRONT_CALLS, POINTS, ROOT, _free_port, _pin, _setup, _stop, contract_env,
                             count_and_query, cpu_seconds, fill_points, load_average, verdict, wait_started)

PROTOCOLS = ("REST", "gRPC")


def _start(data_dir: Path, certificates=None) -> tuple[subprocess.Popen, int, int]:
    port, grpc_port = _free_port(), _free_port()
    env = os.environ | contract_env() | {"DATAPLANE_HOST": "127.0.0.1", "DATAPLANE_PORT": str(port),
                        "DATAPLANE_GRPC_PORT": str(grpc_port), "DATAPLANE_DATA_DIR": str(data_dir),
                        "DATAPLANE_RUN_DIR": str(data_dir / "run")}
    context = None
    if certificates is not None:
        env |= {"DATAPLANE_TLS_CERT_FILE": str(certificates.cert_file),
                "DATAPLANE_TLS_KEY_FILE": str(certificates.key_file)}
        context = ssl.create_default_context(cafile=certificates.ca_file)
    process = subprocess.Popen([sys.executable, "-m", "dataplane"], cwd=ROOT, env=env,
                               stderr=subprocess.DEVNULL, preexec_fn=lambda: _pin(0))
    wait_started(process, port, context=context)
    return process, port, grpc_port


def _fill(url: str, manage: str, verify) -> None:
    fill_points(url, {"api-key": manage}, random.Random(1), verify=verify)


def tls_vs_plain(tmp: Path, token: str, manage: str, rounds: int, seconds: float) -> dict:
    import grpc

    from bench import loadgen
    from tests.fixtures.tls import make_certificates

    certificates = make_certificates(tmp / "tls", ["127.0.0.1"])
    client_context = ssl.create_default_context(cafile=certificates.ca_file)
    credentials = grpc.ssl_channel_credentials(root_certificates=certificates.ca_pem)
    vector = random.Random(2).random
    query = [vector() for _ in range(DIMENSION)]
    rest_bodies, grpc_calls = count_and_query(query)
    planes = {}
    try:
        planes[True] = _start(tmp / "data-tls", certificates)
        planes[False] = _start(tmp / "data-plain")
        _fill(f"https://127.0.0.1:{planes[True][1]}", manage, client_context)
        _fill(f"http://127.0.0.1:{planes[False][1]}", manage, True)
        _pin(1)
        results = {(proto, call, tls): [] for proto in PROTOCOLS for call in FRONT_CALLS for tls in (True, False)}
        for i in range(rounds):
            for proto in PROTOCOLS:
                for call in FRONT_CALLS:
                    for tls in (True, False) if i % 2 == 0 else (False, True):
                        process, port, grpc_port = planes[tls]
                        cpu = cpu_seconds(process.pid)
                        if proto == "REST":
                            request = loadgen.post_request(f"/collections/bench/points/{call}", rest_bodies[call],
                                                           {"api-key": token})
                            outcome = loadgen.run("127.0.0.1", port, request, connections=32, warmup=0.5,
                                                  seconds=seconds, tls=client_context if tls else None)
                        else:
                            method, message = grpc_calls[call]
                            outcome = loadgen.run_grpc(f"127.0.0.1:{grpc_port}", method, message.SerializeToString(),
                                                       [("api-key", token)], connections=32, warmup=0.5,
                                                       seconds=seconds, credentials=credentials if tls else None)
                        if outcome["errors"]:
                            raise RuntimeError(f"{outcome['errors']} {proto} {call} requests failed (TLS {tls})")
                        outcome["cpu_us"] = (cpu_seconds(process.pid) - cpu) / outcome["answered"] * 1e6
                        results[(proto, call, tls)].append(outcome)
    finally:
        for process, _, _ in planes.values():
            _stop(process)
    return {key: {name: statistics.median(o[field] for o in runs)
                  for name, field in (("rps", "rps"), ("p50", "p50_ms"), ("cpu", "cpu_us"))}
            for key, runs in results.items()}


GOAL = 0.85


def print_tls(rounds: int, seconds: float, result: dict, loads: tuple[str, str]) -> None:
    print(f"TLS on against off at the front (embedded cluster), 32 connections, median of {rounds} x {seconds:g} s, "
          f"{POINTS} points of dimension {DIMENSION}; load average {loads[0]} before, {loads[1]} after "
          f"({os.cpu_count()} cores):")
    for call in FRONT_CALLS:
        name = "count" if call == "count" else "query limit 10"
        cells, cpu_cells = [], []
        for proto in PROTOCOLS:
            on, off = result[(proto, call, True)], result[(proto, call, False)]
            cells.append(f"{proto:4} plain {off['rps']:6.0f} TLS {on['rps']:6.0f} req/s "
                         f"(p50 {off['p50']:5.2f} / {on['p50']:5.2f} ms) ratio {on['rps'] / off['rps']:.2f}x")
            cpu_cells.append(f"{proto:4} plain {off['cpu']:6.0f} TLS {on['cpu']:6.0f} µs CPU/req "
                             f"{'':19} ratio {off['cpu'] / on['cpu']:.2f}x")
        print(f"  {name:15} " + "   ".join(cells))
        print(f"  {'':15} " + "   ".join(cpu_cells))
    for proto in PROTOCOLS:
        for call in FRONT_CALLS:
            ratio = result[(proto, call, True)]["rps"] / result[(proto, call, False)]["rps"]
            print(f"  {proto:4} {call} TLS/plain req/s: ratio {ratio:.2f}x   goal >= {GOAL:.2f}x  "
                  f"{verdict(ratio >= GOAL)}")
    print("  (CPU ratio: plain over TLS server CPU per request, the req/s ratio of a CPU-bound front)")
    sys.stdout.flush()


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "tls"):
        return
    rounds = int(os.environ.get("BENCH_TLS_ROUNDS", "3"))
    seconds = float(os.environ.get("BENCH_SECONDS", "3"))
    with tempfile.TemporaryDirectory(prefix="tls-bench-") as name:
        tmp = Path(name)
        _, token, manage = _setup(tmp)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request of the fill
        before = load_average()
        result = tls_vs_plain(tmp, token, manage, rounds, seconds)
        print_tls(rounds, seconds, result, (before, load_average()))


if __name__ == "__main__":
    main()
