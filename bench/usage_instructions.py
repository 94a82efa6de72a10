"""Instructions a request costs the whole front, counting and not (callgrind).

Two fronts, one counting and one not (bench/usage_counting.py's arms), each
run under valgrind's callgrind with instrumentation off until it has been
filled and warmed up; then a fixed number of requests (32 connections, count
over REST, then over gRPC) each with instrumentation on, dumped per protocol.
Instruction counts do not depend on the machine's load, unlike req/s and CPU
time. `python -m bench.usage_instructions [requests]`; the dumps stay in
BENCH_CALLGRIND_DIR (default: a temporary folder, removed) for
callgrind_annotate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.dataplane import ROOT, _free_port, _setup, _stop, wait_started


def _start(data_dir: Path, out: Path, *, usage: bool, metrics: bool, contract: dict
           ) -> tuple[subprocess.Popen, int, int]:
    port, grpc_port = _free_port(), _free_port()
    env = os.environ | contract | {
        "DATAPLANE_HOST": "127.0.0.1", "DATAPLANE_PORT": str(port), "DATAPLANE_GRPC_PORT": str(grpc_port),
        "DATAPLANE_DATA_DIR": str(data_dir), "DATAPLANE_RUN_DIR": str(data_dir / "run"),
        "DATAPLANE_COUNT_USAGE": "true" if usage else "false"}
    if metrics:
        env["DATAPLANE_METRICS_PORT"] = str(_free_port())
    # On every core: the bench pins itself (and so what it starts) to one, where a front under valgrind
    # beside the console loaded its key set too slowly to start.
    cores = set(range(os.cpu_count() or 1))
    process = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no", "--separate-threads=yes",
                                f"--callgrind-out-file={out}.%p", sys.executable, "-m", "dataplane"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=lambda: os.sched_setaffinity(0, cores))
    wait_started(process, port, timeout=600)  # under valgrind: ~40x slower
    return process, port, grpc_port


async def _rest(port: int, request: bytes, total: int, connections: int) -> None:
    left = [total]

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while left[0] > 0:
            left[0] -= 1
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode())
            length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
            await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))


async def _grpc(target: str, method: str, request: bytes, metadata, total: int, connections: int) -> None:
    import grpc.aio

    left = [total]
    channels = [grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(connections)]

    async def one(channel) -> None:
        call = channel.unary_unary(method)
        while left[0] > 0:
            left[0] -= 1
            await call(request, metadata=metadata, timeout=600)

    await asyncio.gather(*(one(channel) for channel in channels))
    for channel in channels:
        await channel.close()


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def measure(tmp: Path, out_dir: Path, token: str, manage: str, contract: dict, arm: str, usage: bool,
            metrics: bool, requests: int, connections: int = 32) -> dict:
    from qdrant_client import grpc as pb

    from bench import loadgen
    from bench.usage_counting import _fill

    rest_request = loadgen.post_request("/collections/bench/points/count", json.dumps({"exact": True}).encode(),
                                        {"api-key": token})
    grpc_request = pb.CountPoints(collection_name="bench", exact=True).SerializeToString()
    process, port, grpc_port = _start(tmp / f"data-{arm}", out_dir / arm, usage=usage, metrics=metrics,
                                      contract=contract)
    loads = {"REST": lambda n: _rest(port, rest_request, n, connections),
             "gRPC": lambda n: _grpc(f"127.0.0.1:{grpc_port}", "/qdrant.Points/Count", grpc_request,
                                     (("api-key", token),), n, connections)}
    result = {}
    try:
        _fill(port, manage, wait=600)
        for proto, load in loads.items():
            asyncio.run(load(max(200, requests // 10)))  # warm-up, not counted
            _control(process.pid, "--instr=on")
            _control(process.pid, "--zero")
            asyncio.run(load(requests))
            _control(process.pid, f"--dump={arm}-{proto}")
            _control(process.pid, "--instr=off")
    finally:
        _stop(process)
    for proto in loads:
        whole, main = _dumped(out_dir, f"{arm}.{process.pid}", f"{arm}-{proto}")
        result[proto] = (whole / requests, main / requests)
    return result


def _dumped(out_dir: Path, stem: str, label: str) -> tuple[int, int]:
    """The instructions of the dump whose trigger was `label`: all threads
    summed, and the first thread's alone (the event loop's: REST, gRPC's
    Python side and the counting)."""
    total = main = 0
    for path in out_dir.glob(stem + "*"):
        text = path.read_text(errors="replace")
        if not re.search(rf"^desc: Trigger: dump {re.escape(label)}$", text[:4000], re.M):
            continue
        found = re.search(r"^summary: (\d+)", text, re.M) or re.search(r"^totals: (\d+)", text, re.M)
        total += int(found.group(1))
        if path.name.endswith("-01"):
            main = int(found.group(1))
    return total, main


def instructions(tmp: Path, token: str, manage: str, requests: int, out_dir: Path | None = None) -> dict:
    """protocol -> (counting, not counting) -> (whole front, event loop thread) instructions a request."""
    from bench.usage_counting import _console

    out_dir = out_dir or tmp / "callgrind"
    out_dir.mkdir(parents=True, exist_ok=True)
    console, contract = _console()
    try:
        on = measure(tmp, out_dir, token, manage, contract, "counting", True, True, requests)
        off = measure(tmp, out_dir, token, manage, contract, "not-counting", False, False, requests)
    finally:
        _stop(console)
    return {proto: (on[proto], off[proto]) for proto in on}


def print_instructions(requests: int, counts: dict) -> None:
    for proto, ((whole_on, main_on), (whole_off, main_off)) in counts.items():
        print(f"  {proto:4} instructions a request (callgrind, {requests} requests, 32 connections), counting / not: "
              f"event loop thread {main_on / 1e3:.1f}k / {main_off / 1e3:.1f}k = +{(main_on - main_off) / 1e3:.1f}k "
              f"({(main_on / main_off - 1) * 100:+.1f} %); whole front {whole_on / 1e3:.1f}k / "
              f"{whole_off / 1e3:.1f}k ({(whole_on / whole_off - 1) * 100:+.1f} %; its other threads include "
              "the engine's spinning workers, which vary by a few % from run to run)")


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    keep = os.environ.get("BENCH_CALLGRIND_DIR")
    with tempfile.TemporaryDirectory(prefix="usage-callgrind-") as name:
        tmp = Path(name)
        _, token, manage = _setup(tmp)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        counts = instructions(tmp, token, manage, requests, Path(keep) if keep else None)
    print_instructions(requests, counts)


if __name__ == "__main__":
    main()
