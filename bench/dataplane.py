"""`make bench`: the data plane's two performance ratios (issue 5), measured in one run.

1. The auth decision for a valid JWT (read the header, verify, check
   revocation and access) against one HMAC-SHA256 of the same token, for a
   token seen before (target <= 1.0x) and, against PyJWT's own decode, for
   a token seen the first time (target <= 1.2x).
2. Requests per second of POST /collections/{c}/points/count over loopback
   at 32 concurrent connections, auth on against auth off (target: at most
   10 % slower).
3. What read-your-writes adds to creating and deleting a database API key
   (the console's service, committed, waiting for every data plane process
   to reload): p50 and p99 with DATAPLANE_CONFIRM_SECONDS on against 0 (off),
   interleaved in one run, with 1 and with 4 data plane processes.
4. The front of a `qdrant` cluster (issue 10) against a real Qdrant node
   straight: requests per second and p50/p99 of count and of query (limit 10
   on 10,000 points of dimension 128), over REST and over gRPC, 32
   connections, the same token both ways, loaded in turn in one run (issue 20's
   goal: query at >= 0.95x of direct req/s over REST, >= 0.85x over gRPC),
   with the CPU time the front and the node spend per request. Needs
   QDRANT_BINARY; skipped with a message otherwise.
5. The embedded engine over gRPC against REST (issue 11): requests per
   second and p50/p99 of count and of query (limit 10, the same collection
   of 10,000 points of dimension 128), side by side, loaded in turn.
6. One embedded cluster's upsert against another's reads (issue 20): the
   count p50/p99 of cluster B (one connection) while 10,000 points of
   dimension 128 are upserted into cluster A, against the same with A idle,
   in turn (goal: p99 rises by <= 5 ms), and how long qdrant-edge's update
   and flush hold the GIL (bench/edge_gil.py). `BENCH_ONLY=isolation`.

Part 4 also measures one connection (no queueing): the front's added p50
latency over a node straight (goal: REST <= 0.3 ms, gRPC <= 0.5 ms);
`BENCH_ONLY=front BENCH_FRONT_CONNECTIONS=1` measures only that.

Everything runs against a throw-away SQLite database and data directory in a
temporary folder; the console's own database and broker are not touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from pathlib import Path

from bench.edge_gil import gil_holds, print_gil_holds

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup(tmp: Path):
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "console.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Account
    from apikeys.services import database_key_create
    from clusters import catalog, crypto
    from clusters.models import Cluster, Phase

    account = Account.objects.create(name="Bench")
    # Made directly, not through cluster_create: no provisioning task for the broker.
    cluster = Cluster.objects.create(
        account=account, name="bench", cloud_provider=catalog.HYBRID, region=catalog.this_host(), version="v1.19.0",
        number_of_nodes=1, phase=Phase.HEALTHY, endpoint_url="http://localhost", jwt_rbac=True,
        master_key_encrypted=crypto.encrypt(crypto.new_master_key()),
    )
    _, token = database_key_create(cluster=cluster, name="bench key",
                                   rules=[{"collection": "bench", "access": "rw"}], expires_at=None, by=None)
    _, manage = database_key_create(cluster=cluster, name="bench setup key",
                                    rules=[{"collection": None, "access": "m"}], expires_at=None, by=None)
    return cluster, token, manage


def contract_client():
    """The front's contract client, answered by the console's views in this
    process (WSGI, no socket), with a credential made here: for the benches
    that drive a key set by hand."""
    import httpx
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    from dataplane.keyset_client import KeysetClient
    from fronts.credentials import front_credential_create

    _, credential = front_credential_create(name=f"bench-in-process-{os.getpid()}")
    # Keep the connection across requests, as the console's server does between polls.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    return KeysetClient(url="http://localhost", credential=credential, instance="bench:in-process",
                        transport=httpx.WSGITransport(app=get_wsgi_application()))


_contract_env: dict = {}


def contract_env() -> dict:
    """KEYSET_URL and KEYSET_CREDENTIAL of the console's contract, served from a
    thread of this process for the benches' fronts (started once)."""
    if not _contract_env:
        import threading

        from django.core.servers.basehttp import ThreadedWSGIServer
        from django.core.wsgi import get_wsgi_application
        from django.test.testcases import QuietWSGIRequestHandler

        from fronts.credentials import front_credential_create

        port = _free_port()
        server = ThreadedWSGIServer(("127.0.0.1", port), QuietWSGIRequestHandler)
        server.set_app(get_wsgi_application())
        threading.Thread(target=server.serve_forever, name="bench-contract", daemon=True).start()
        _, credential = front_credential_create(name=f"bench-{os.getpid()}")
        _contract_env.update(KEYSET_URL=f"http://127.0.0.1:{port}", KEYSET_CREDENTIAL=credential)
    return _contract_env


def _best(stmt, number: int, repeat: int = 7) -> float:
    """Seconds per call: the best of `repeat` rounds, the least disturbed by the rest of the machine."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number


def auth_ratios(cluster, token: str) -> dict:
    import hmac

    import jwt

    from dataplane import auth
    from dataplane.keystore import load_key_set

    key_set = load_key_set(contract_client())
    master = cluster.master_key.encode()
    headers = [(b"host", b"localhost:6333"), (b"user-agent", b"python-client/1.20.0"),
               (b"accept", b"*/*"), (b"content-type", b"application/json"), (b"api-key", token.encode())]

    def decision():
        grant = auth.authenticate(key_set, auth.key_from_headers(headers))
        # What the front checks of the key's life (disabled, rolled, allowlist), as on every request.
        auth.refusal(grant.key, auth.client_address("127.0.0.1", headers, ()))
        grant.access.check_collection("bench")

    def without_lifecycle():
        grant = auth.authenticate(key_set, auth.key_from_headers(headers))
        grant.access.check_collection("bench")

    def first_time():
        key_set.tokens.clear()
        decision()

    decision()  # seen before from here on
    number = 200_000
    hmac_once = _best(lambda: hmac.digest(master, token.encode(), "sha256"), number)
    cached = _best(decision, number)
    bare = _best(without_lifecycle, number)
    first = _best(first_time, number // 10)
    pyjwt = _best(lambda: jwt.decode(token, master, algorithms=["HS256"], leeway=30), number // 10)
    # The same key fenced by a 10-network allowlist (the client in the last one).
    entry = key_set.database_keys[next(iter(key_set.database_keys))]
    import dataclasses

    from dataplane.keystore import networks_of

    fenced = dataclasses.replace(entry, networks=networks_of([f"10.{i}.0.0/16" for i in range(9)] + ["127.0.0.0/8"]))
    allowlist = _best(lambda: auth.refusal(fenced, auth.client_address("127.0.0.1", headers, ())), number)
    return {"hmac_us": hmac_once * 1e6, "cached_us": cached * 1e6, "first_us": first * 1e6,
            "pyjwt_us": pyjwt * 1e6, "cached_ratio": cached / hmac_once, "first_ratio": first / pyjwt,
            "bare_us": bare * 1e6, "lifecycle_ratio": cached / bare, "allowlist_us": allowlist * 1e6,
            "allowlist_ratio": (bare + allowlist) / bare}


def _start_dataplane(data_dir: Path, *, auth_enabled: bool, processes: int = 1, pin: bool = True,
                     grpc_port: int | None = None, storage_processes: bool = True) -> tuple[subprocess.Popen, int]:

    port = _free_port()
    env = os.environ | contract_env() | {"DATAPLANE_PORT": str(port),
                                         "DATAPLANE_GRPC_PORT": str(grpc_port or _free_port()),
                        "DATAPLANE_HOST": "127.0.0.1",
                        "DATAPLANE_DATA_DIR": str(data_dir), "DATAPLANE_RUN_DIR": str(data_dir / "run"),
                        "DATAPLANE_PROCESSES": str(processes),
                        "DATAPLANE_STORAGE_PROCESSES": "on" if storage_processes else "off",
                        "DATAPLANE_INSECURE_NO_AUTH": "false" if auth_enabled else "true"}
    process = subprocess.Popen([sys.executable, "-m", "dataplane"], cwd=ROOT, env=env,
                               stderr=subprocess.DEVNULL, preexec_fn=(lambda: _pin(0)) if pin else None)
    wait_started(process, port)
    return process, port


def wait_started(process: subprocess.Popen, port: int, *, timeout: float = 60,
                 context: ssl.SSLContext | None = None) -> None:
    """Returns once the data plane `process` answers /healthz on `port` (over
    TLS with `context`); kills it and raises if it has not within `timeout` s."""
    url = f"{'https' if context else 'http'}://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5, context=context)
            return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the data plane did not start within {timeout:g} s")


def _pin(cpu: int) -> None:
    """Server on one core, load generator on the other, when there are two."""
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() >= 2:
        os.sched_setaffinity(0, {cpu})


def _fill(port: int, headers: dict) -> None:
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
        client.put("/collections/bench", json={"vectors": {"size": 4, "distance": "Cosine"}}).raise_for_status()
        points = [{"id": i, "vector": [1.0, i % 7, i % 5, i % 3], "payload": {"group": i % 10}} for i in range(1000)]
        client.put("/collections/bench/points", json={"points": points}).raise_for_status()


def throughput_ratio(tmp: Path, cluster, token: str, manage: str, rounds: int, seconds: float) -> dict:
    """Both data planes run side by side (each with its own copy of the collection)
    and are loaded in turn, alternating which goes first, so drift on a shared
    machine falls on both alike."""
    from bench import loadgen

    # No filter: the cheaper the count, the larger the share of auth in each request.
    body = json.dumps({"exact": True}).encode()
    host = f"{cluster.id}.localhost"
    # The same request both ways; with auth off the key is simply not read.
    request = loadgen.post_request("/collections/bench/points/count", body, {"host": host, "api-key": token})
    on, on_port = _start_dataplane(tmp / "data-on", auth_enabled=True)
    off, off_port = _start_dataplane(tmp / "data-off", auth_enabled=False)
    _pin(1)
    try:
        _fill(on_port, {"api-key": manage})
        _fill(off_port, {"host": host})
        result = load_in_turn(rounds, [True, False], lambda auth_enabled: loadgen.run(
            "127.0.0.1", on_port if auth_enabled else off_port, request, connections=32, warmup=0.5,
            seconds=seconds))
    finally:
        _stop(on)
        _stop(off)
    rps_on, rps_off = result[True]["rps"], result[False]["rps"]
    return {"rps_on": rps_on, "rps_off": rps_off, "slower": 1 - rps_on / rps_off, "runs_on": result[True]["runs"],
            "runs_off": result[False]["runs"]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included: gRPC's
    are in it, and those that have exited), to the nanosecond: the process's
    CPU-time clock (clock_getcpuclockid); /proc's figure in clock ticks (10 ms,
    ~1 % of a 1.5 s turn) where that clock cannot be read."""
    clock = _cpu_clock(pid)
    if clock is not None:
        try:
            return time.clock_gettime(clock)
        except OSError:
            pass
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_clock(pid: int) -> int | None:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        clock = ctypes.c_int()
        if libc.clock_getcpuclockid(pid, ctypes.byref(clock)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return clock.value


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages, printed with figures measured on a shared machine."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def confirm_cost(tmp: Path, cluster, processes: int, trials: int) -> dict:
    """Create and delete a key `trials` times with the handshake on and as many
    with it off, alternating, against one running data plane."""
    from django.conf import settings

    from apikeys.services import database_key_create, database_key_delete
    from keyset.handshake import STATS, ask_all

    data_dir = tmp / f"data-confirm-{processes}"
    plane, _ = _start_dataplane(data_dir, auth_enabled=True, processes=processes, pin=False)
    bound = settings.DATAPLANE_CONFIRM_SECONDS or 2.0
    settings.DATAPLANE_RUN_DIR = data_dir / "run"
    samples = {(op, on): [] for op in ("create", "delete") for on in (True, False)}
    try:
        deadline = time.monotonic() + 60
        while len([r for r in ask_all(run_dir=data_dir / "run", request=STATS, timeout=5).values() if r]) < processes:
            if time.monotonic() > deadline:
                raise RuntimeError("not every data plane process started")
            time.sleep(0.1)
        for i in range(trials * 2):
            on = i % 2 == 0
            settings.DATAPLANE_CONFIRM_SECONDS = bound if on else 0
            started = time.perf_counter()
            key, _ = database_key_create(cluster=cluster, name="bench", rules=[{"collection": None, "access": "m"}],
                                         expires_at=None, by=None)
            created = time.perf_counter()
            database_key_delete(key=key, by=None)
            samples[("create", on)].append(created - started)
            samples[("delete", on)].append(time.perf_counter() - created)
    finally:
        settings.DATAPLANE_CONFIRM_SECONDS = bound
        _stop(plane)
    return {name: {"p50": _percentile(values, 0.50) * 1e3, "p99": _percentile(values, 0.99) * 1e3}
            for name, values in samples.items()}


FRONT_CALLS = ("count", "query")
# 32: throughput under load; 1: the latency the front adds, with no queueing.
# BENCH_FRONT_CONNECTIONS=1 (with BENCH_ONLY=front): the latency part alone.
FRONT_CONNECTIONS = tuple(int(n) for n in os.environ.get("BENCH_FRONT_CONNECTIONS", "32,1").split(","))
DIMENSION, POINTS = 128, 10_000


def fill_points(base_url: str, headers: dict, rng, *, verify=True, payload=None, index: dict | None = None) -> None:
    """Collection "bench" with POINTS random vectors of DIMENSION (payload(i) on point i), and the
    payload index `index` made before the points, as an application would."""
    import httpx

    with httpx.Client(base_url=base_url, headers=headers, timeout=120, verify=verify) as client:
        client.put("/collections/bench", json={"vectors": {"size": DIMENSION, "distance": "Cosine"}}
                   ).raise_for_status()
        if index is not None:
            client.put("/collections/bench/index?wait=true", json=index).raise_for_status()
        for start in range(0, POINTS, 1000):
            points = [{"id": i, "vector": [rng.random() for _ in range(DIMENSION)]}
                      | ({"payload": payload(i)} if payload else {}) for i in range(start, start + 1000)]
            client.put("/collections/bench/points?wait=true", json={"points": points}).raise_for_status()


@contextlib.contextmanager
def real_node(tmp: Path, cluster):
    """One real Qdrant node (QDRANT_BINARY) serving `cluster`, made a `qdrant` cluster and
    announced to the fronts; yields its address and process id, or (None, None) without QDRANT_BINARY."""
    from clusters.models import ClusterNode, NodeState
    from fronts.changelog import keys_changed
    from runtimes.base import ClusterSpec, Node, start_cluster
    from runtimes.qdrant import QdrantRuntime

    binary = os.environ.get("QDRANT_BINARY")
    if not binary:
        yield None, None
        return
    runtime = QdrantRuntime(binary=binary, root=tmp / "nodes", stop_grace=5)
    node = Node(ClusterSpec(id=str(cluster.id), size=1, master_key=cluster.master_key, jwt_rbac=True), 0)
    try:
        address = start_cluster(runtime, node.cluster)[0]
        type(cluster).objects.filter(id=cluster.id).update(runtime="qdrant")
        ClusterNode.objects.update_or_create(cluster=cluster, index=0, defaults={
            "state": NodeState.HEALTHY, "http_port": address.ports.http, "grpc_port": address.ports.grpc})
        keys_changed()
        yield address, runtime.pid(node)
    finally:
        runtime.stop_all()


def count_and_query(vector: list[float]) -> tuple[dict, dict]:
    """The benches' two calls on the `bench` collection (FRONT_CALLS), exact count and a
    query of `vector` (limit 10): {call: REST body} and {call: (gRPC method, message)}."""
    from qdrant_client import grpc as pb

    rest = {"count": json.dumps({"exact": True}).encode(),
            "query": json.dumps({"query": vector, "limit": 10}).encode()}
    grpc_calls = {
        "count": ("/qdrant.Points/Count", pb.CountPoints(collection_name="bench", exact=True)),
        "query": ("/qdrant.Points/Query", pb.QueryPoints(
            collection_name="bench", limit=10, query=pb.Query(nearest=pb.VectorInput(dense=pb.DenseVector(data=vector))))),
    }
    return rest, grpc_calls


def load_in_turn(rounds: int, entries: list, load) -> dict:
    """Each entry loaded once a round by `load(entry)` (a loadgen outcome), the order reversed
    every other round so that drift on a shared machine falls on all alike; any failed
    request stops the bench. Per entry: the medians of req/s, p50 and p99 (ms), of each `cpu_…` figure
    an outcome carries (µs of a process's CPU per request), and every run's req/s."""
    runs = {entry: [] for entry in entries}
    for i in range(rounds):
        for entry in entries if i % 2 == 0 else reversed(entries):
            outcome = load(entry)
            if outcome["errors"]:
                raise RuntimeError(f"{outcome['errors']} requests failed: {entry}")
            runs[entry].append(outcome)
    return {entry: {"rps": statistics.median(o["rps"] for o in outcomes),
                    "p50": statistics.median(o["p50_ms"] for o in outcomes),
                    "p99": statistics.median(o["p99_ms"] for o in outcomes),
                    **{name: statistics.median(o[name] for o in outcomes) for name in outcomes[0]
                       if name.startswith("cpu_")},
                    "runs": [o["rps"] for o in outcomes]} for entry, outcomes in runs.items()}


def front_vs_direct(tmp: Path, cluster, rounds: int, seconds: float) -> dict | None:
    """One real node, the data plane in front of it; each call through both, in turn. Each run
    also gives the CPU time the front and the node spent per request (`cpu_front_us`, `cpu_node_us`)."""
    import random


    from apikeys.services import database_key_create
    from bench import loadgen

    plane = None
    with real_node(tmp, cluster) as (address, node_pid):
        if address is None:
            return None
        try:
            _, token = database_key_create(cluster=cluster, name="front bench key",
                                           rules=[{"collection": "bench", "access": "rw"}], expires_at=None, by=None)
            rng = random.Random(1)
            fill_points(address.http_url, {"api-key": cluster.master_key}, rng)
            grpc_port = _free_port()
            plane, front_port = _start_dataplane(tmp / "data-front", auth_enabled=True, grpc_port=grpc_port,
                                                pin=os.environ.get("BENCH_FRONT_PIN", "1") == "1")
            vector = [rng.random() for _ in range(DIMENSION)]
            rest_bodies, grpc_calls = count_and_query(vector)
            ends = {"front": (front_port, f"127.0.0.1:{grpc_port}"),
                    "direct": (address.ports.http, f"127.0.0.1:{address.ports.grpc}")}

            def run(proto, call, http_port, grpc_target, connections):
                if proto == "REST":
                    request = loadgen.post_request(f"/collections/bench/points/{call}", rest_bodies[call],
                                                   {"api-key": token})
                    return loadgen.run("127.0.0.1", http_port, request, connections=connections, warmup=0.5,
                                       seconds=seconds)
                method, message = grpc_calls[call]
                return loadgen.run_grpc(grpc_target, method, message.SerializeToString(), [("api-key", token)],
                                        connections=connections, warmup=0.5, seconds=seconds)

            def load(entry):
                proto, call, end, connections = entry
                before = cpu_seconds(plane.pid), cpu_seconds(node_pid)
                outcome = run(proto, call, *ends[end], connections)
                after = cpu_seconds(plane.pid), cpu_seconds(node_pid)
                outcome["cpu_front_us"] = (after[0] - before[0]) / outcome["answered"] * 1e6
                outcome["cpu_node_us"] = (after[1] - before[1]) / outcome["answered"] * 1e6
                return outcome

            _pin(1)
            return load_in_turn(rounds, [(proto, call, end, connections) for proto in ("REST", "gRPC")
                                         for call in FRONT_CALLS for connections in FRONT_CONNECTIONS
                                         for end in ends], load)
        finally:
            if plane is not None:
                _stop(plane)


def embedded_protocols(tmp: Path, token: str, manage: str, rounds: int, seconds: float) -> dict:
    """The embedded engine over REST and over gRPC (issue 11): the same count and
    query (limit 10) on the same collection of one data plane, loaded in turn,
    alternating which protocol goes first."""
    import random


    from bench import loadgen

    grpc_port = _free_port()
    plane, port = _start_dataplane(tmp / "data-protocols", auth_enabled=True, grpc_port=grpc_port)
    rng = random.Random(1)
    vector = [rng.random() for _ in range(DIMENSION)]
    rest_bodies, grpc_calls = count_and_query(vector)

    def load(entry):
        call, proto = entry
        if proto == "REST":
            request = loadgen.post_request(f"/collections/bench/points/{call}", rest_bodies[call], {"api-key": token})
            return loadgen.run("127.0.0.1", port, request, connections=32, warmup=0.5, seconds=seconds)
        method, message = grpc_calls[call]
        return loadgen.run_grpc(f"127.0.0.1:{grpc_port}", method, message.SerializeToString(), [("api-key", token)],
                                connections=32, warmup=0.5, seconds=seconds)

    try:
        fill_points(f"http://127.0.0.1:{port}", {"api-key": manage}, rng)
        _pin(1)
        result = load_in_turn(rounds, [(call, proto) for call in FRONT_CALLS for proto in ("REST", "gRPC")], load)
    finally:
        _stop(plane)
    return {(proto, call): figures for (call, proto), figures in result.items()}


def print_embedded_protocols(rounds: int, seconds: float, result: dict) -> None:
    print(f"Embedded engine, REST against gRPC, 32 connections, median of {rounds} x {seconds:g} s, "
          f"{POINTS} points of dimension {DIMENSION}:")
    for call in FRONT_CALLS:
        rest, grpc_ = result[("REST", call)], result[("gRPC", call)]
        name = "count" if call == "count" else "query limit 10"
        print(f"  {name:15} REST {rest['rps']:7.0f} req/s p50 {rest['p50']:6.2f} p99 {rest['p99']:6.2f} ms   "
              f"gRPC {grpc_['rps']:7.0f} req/s p50 {grpc_['p50']:6.2f} p99 {grpc_['p99']:6.2f} ms   "
              f"gRPC/REST {grpc_['rps'] / rest['rps']:.2f}x")
    sys.stdout.flush()


# Issue 20's goals for the front of a real node: (protocol, call, connections) -> the least ratio of
# its req/s to the node's straight; (protocol, connections) -> the most it may add at p50, in ms.
FRONT_RATIO_GOALS = {("REST", "query", 32): 0.95, ("gRPC", "query", 32): 0.85}
FRONT_LATENCY_GOALS = {("REST", 1): 0.3, ("gRPC", 1): 0.5}


def verdict(met: bool) -> str:
    """What a goal line says beside the figure."""
    return "met" if met else "NOT met"


def print_front(rounds: int, seconds: float, result: dict | None, loads: tuple[str, str]) -> None:
    if result is None:
        print("Front vs a node straight: skipped, QDRANT_BINARY is not set (make qdrant prints a path for it)")
        return
    print(f"Front vs a real Qdrant node straight, median of {rounds} x {seconds:g} s, "
          f"{POINTS} points of dimension {DIMENSION}; load average {loads[0]} before, {loads[1]} after "
          f"({os.cpu_count()} cores). CPU: µs of each process's CPU time per request:")
    for connections in FRONT_CONNECTIONS:
        print(f"  {connections} connection{'s' if connections > 1 else ''}:")
        for proto in ("REST", "gRPC"):
            for call in FRONT_CALLS:
                front = result[(proto, call, "front", connections)]
                direct = result[(proto, call, "direct", connections)]
                name = "count" if call == "count" else "query limit 10"
                print(f"    {proto:4} {name:15} direct {direct['rps']:7.0f} req/s p50 {direct['p50']:6.2f} "
                      f"p99 {direct['p99']:6.2f} ms   front {front['rps']:7.0f} req/s p50 {front['p50']:6.2f} "
                      f"p99 {front['p99']:6.2f} ms   ratio {front['rps'] / direct['rps']:.2f}x  "
                      f"adds p50 {front['p50'] - direct['p50']:+.2f} ms   CPU node {direct['cpu_node_us']:4.0f} "
                      f"straight, {front['cpu_node_us']:4.0f} + front {front['cpu_front_us']:4.0f}")
    for (proto, call, connections), goal in FRONT_RATIO_GOALS.items():
        if connections not in FRONT_CONNECTIONS:
            continue
        ratio = result[(proto, call, "front", connections)]["rps"] / result[(proto, call, "direct", connections)]["rps"]
        print(f"  {proto:4} {call} {connections} connections: ratio {ratio:.2f}x   goal >= {goal:.2f}x  "
              f"{verdict(ratio >= goal)}")
    for (proto, connections), goal in FRONT_LATENCY_GOALS.items():
        for call in FRONT_CALLS if connections in FRONT_CONNECTIONS else ():
            added = (result[(proto, call, "front", connections)]["p50"]
                     - result[(proto, call, "direct", connections)]["p50"])
            print(f"  {proto:4} {call} {connections} connection: adds p50 {added:+.2f} ms   goal <= {goal:.1f} ms  "
                  f"{verdict(added <= goal)}")
    sys.stdout.flush()


ISOLATION_POINTS, ISOLATION_BATCH = 10_000, 100

# Run as its own process, so its CPU is not the measuring process's: upserts
# ISOLATION_POINTS points in batches, over and over, until killed.
_UPSERTER = """
import http.client, json, random, sys
DIMENSION = int(sys.argv[5])
port, key, points, batch = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(2)
bodies = [json.dumps({"points": [{"id": i, "vector": [rng.random() for _ in range(DIMENSION)], "payload": {"n": i}}
                                 for i in range(start, min(points, start + batch))]}).encode()
          for start in range(0, points, batch)]
connection = http.client.HTTPConnection("127.0.0.1", port)
print("ready", flush=True)
while True:
    for body in bodies:
        connection.request("PUT", "/collections/bench/points?wait=true", body,
                           {"api-key": key, "content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"upsert failed: {response.status}")
"""


def upsert_isolation(tmp: Path, cluster, rounds: int, seconds: float, storage_processes: bool) -> dict:
    """Two embedded clusters on one data plane process: cluster B's count
    (one connection, 1,000 points) measured while a process upserts
    ISOLATION_POINTS points into cluster A in batches of ISOLATION_BATCH, and
    while A is idle, in turn; each cluster's storage in a process of its own
    (DATAPLANE_STORAGE_PROCESSES, the default) or in the front's."""
    import httpx

    from apikeys.services import database_key_create
    from bench import loadgen

    other = type(cluster).objects.create(
        account=cluster.account, name=f"bench-a-{storage_processes}", cloud_provider=cluster.cloud_provider, region=cluster.region,
        version=cluster.version, number_of_nodes=1, phase=cluster.phase, endpoint_url=cluster.endpoint_url,
        jwt_rbac=True, master_key_encrypted=cluster.master_key_encrypted)
    keys = {}
    for name, target in (("a", other), ("b", cluster)):
        _, keys[name] = database_key_create(cluster=target, name=f"isolation {name}",
                                            rules=[{"collection": None, "access": "m"}], expires_at=None, by=None)
    # Not pinned: a storage process would inherit the front's one core.
    plane, port = _start_dataplane(tmp / f"data-isolation-{storage_processes}", auth_enabled=True, pin=False,
                                   storage_processes=storage_processes)
    upserter = None
    results = {False: [], True: []}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for name in ("a", "b"):
                client.put("/collections/bench", headers={"api-key": keys[name]},
                           json={"vectors": {"size": DIMENSION, "distance": "Cosine"}}).raise_for_status()
            points = [{"id": i, "vector": [1.0] * DIMENSION, "payload": {"group": i % 10}} for i in range(1000)]
            client.put("/collections/bench/points?wait=true", headers={"api-key": keys["b"]},
                       json={"points": points}).raise_for_status()
        request = loadgen.post_request("/collections/bench/points/count",
                                       json.dumps({"exact": True, "filter": {"must": [
                                           {"key": "group", "match": {"value": 3}}]}}).encode(),
                                       {"api-key": keys["b"]})
        _pin(1)
        for i in range(rounds * 2):
            busy = i % 2 == 1
            if busy:
                upserter = subprocess.Popen(
                    [sys.executable, "-c", _UPSERTER, str(port), keys["a"], str(ISOLATION_POINTS),
                     str(ISOLATION_BATCH), str(DIMENSION)], stdout=subprocess.PIPE, text=True)
                upserter.stdout.readline()
            outcome = loadgen.run("127.0.0.1", port, request, connections=1, warmup=0.5, seconds=seconds)
            if busy:
                if upserter.poll() is not None:
                    raise RuntimeError("the upserting process failed")
                upserter.kill()
                upserter.wait()
                upserter = None
            if outcome["errors"]:
                raise RuntimeError(f"{outcome['errors']} count requests failed")
            results[busy].append(outcome)
    finally:
        if upserter is not None:
            upserter.kill()
            upserter.wait()
        _stop(plane)
    return {busy: {"rps": statistics.median(o["rps"] for o in runs),
                   "p50": statistics.median(o["p50_ms"] for o in runs),
                   "p99": statistics.median(o["p99_ms"] for o in runs)} for busy, runs in results.items()}


ISOLATION_GOAL_MS = 5


def isolation(tmp: Path, cluster, rounds: int, seconds: float) -> dict:
    """upsert_isolation with each cluster's storage in a process of its own, and in the front's."""
    return {mode: upsert_isolation(tmp, cluster, rounds, seconds, mode) for mode in (True, False)}


def print_isolation(rounds: int, seconds: float, results: dict, loads: tuple[str, str]) -> None:
    print(f"Embedded cluster B's count (one connection) while cluster A upserts {ISOLATION_POINTS} points of "
          f"dimension {DIMENSION} in batches of {ISOLATION_BATCH}, median of {rounds} x {seconds:g} s; "
          f"load average {loads[0]} before, {loads[1]} after ({os.cpu_count()} cores):")
    for mode, result in results.items():
        idle, busy = result[False], result[True]
        rise = busy["p99"] - idle["p99"]
        where = "a process per cluster (default)" if mode else "in the front's process (DATAPLANE_STORAGE_PROCESSES=off)"
        print(f"  storage {where}:")
        print(f"    A idle      {idle['rps']:7.0f} req/s p50 {idle['p50']:6.2f} p99 {idle['p99']:6.2f} ms")
        print(f"    A upserting {busy['rps']:7.0f} req/s p50 {busy['p50']:6.2f} p99 {busy['p99']:6.2f} ms   "
              f"p99 rises {rise:+.2f} ms   goal <= {ISOLATION_GOAL_MS} ms"
              + (f"  {verdict(rise <= ISOLATION_GOAL_MS)}" if mode else ""))
    print_gil_holds(gil_holds(ISOLATION_POINTS, ISOLATION_BATCH, DIMENSION), ISOLATION_POINTS, ISOLATION_BATCH)
    sys.stdout.flush()


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=15)


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "6"))
    seconds = float(os.environ.get("BENCH_SECONDS", "3"))
    # "front": part 4 alone, "protocols": part 5 alone, "isolation": part 6 alone;
    # "keyset": bench/keyset.py alone
    only = os.environ.get("BENCH_ONLY", "")
    if only not in ("", "front", "protocols", "isolation"):
        return
    with tempfile.TemporaryDirectory(prefix="dataplane-bench-") as name:
        tmp = Path(name)
        cluster, token, manage = _setup(tmp)
        protocol_rounds = int(os.environ.get("BENCH_PROTOCOL_ROUNDS", "3"))
        if only == "protocols":
            print_embedded_protocols(protocol_rounds, seconds,
                                     embedded_protocols(tmp, token, manage, protocol_rounds, seconds))
            return
        isolation_rounds = int(os.environ.get("BENCH_ISOLATION_ROUNDS", "3"))
        if only == "isolation":
            before = load_average()
            result = isolation(tmp, cluster, isolation_rounds, seconds)
            print_isolation(isolation_rounds, seconds, result, (before, load_average()))
            return
        if only == "front":
            front_rounds = int(os.environ.get("BENCH_FRONT_ROUNDS", "3"))
            before = load_average()
            result = front_vs_direct(tmp, cluster, front_rounds, seconds)
            print_front(front_rounds, seconds, result, (before, load_average()))
            return
        ratios = auth_ratios(cluster, token)
        print("Auth decision for a valid JWT (read header, verify, revocation, access):")
        print(f"  one HMAC-SHA256 of the token      {ratios['hmac_us']:8.2f} µs")
        print(f"  seen before (cached)              {ratios['cached_us']:8.2f} µs   "
              f"ratio {ratios['cached_ratio']:.2f}x  (target <= 1.0x)")
        print(f"  PyJWT's own decode                {ratios['pyjwt_us']:8.2f} µs")
        print(f"  seen the first time               {ratios['first_us']:8.2f} µs   "
              f"ratio {ratios['first_ratio']:.2f}x  (target <= 1.2x)")
        print(f"  seen before, without the key's lifecycle checks {ratios['bare_us']:6.2f} µs   "
              f"with them: ratio {ratios['lifecycle_ratio']:.2f}x")
        print(f"  + a 10-network IP allowlist check  {ratios['allowlist_us']:7.2f} µs   "
              f"ratio {ratios['allowlist_ratio']:.2f}x of the decision without lifecycle checks")
        sys.stdout.flush()
        trials = int(os.environ.get("BENCH_CONFIRM_TRIALS", "200"))
        print(f"Read-your-writes: create / delete of a database API key through the service, {trials} of each,")
        print("  handshake on (every process confirms) interleaved with off (DATAPLANE_CONFIRM_SECONDS=0), in ms:")
        for processes in (1, 4):
            cost = confirm_cost(tmp, cluster, processes, trials)
            for op in ("create", "delete"):
                on, off = cost[(op, True)], cost[(op, False)]
                print(f"  {processes} process{'es' if processes > 1 else '  '} {op:6}  off p50 {off['p50']:6.2f} "
                      f"p99 {off['p99']:6.2f}   on p50 {on['p50']:6.2f} p99 {on['p99']:6.2f}   "
                      f"adds p50 {on['p50'] - off['p50']:+6.2f} p99 {on['p99'] - off['p99']:+6.2f}")
            sys.stdout.flush()
        result = throughput_ratio(tmp, cluster, token, manage, rounds, seconds)
        print(f"POST /collections/bench/points/count, 32 connections, loopback, median of {rounds} x {seconds:g} s:")
        print(f"  auth off                          {result['rps_off']:8.0f} req/s   "
              f"runs {', '.join(f'{r:.0f}' for r in result['runs_off'])}")
        print(f"  auth on                           {result['rps_on']:8.0f} req/s   "
              f"runs {', '.join(f'{r:.0f}' for r in result['runs_on'])}")
        print(f"  auth on is {result['slower'] * 100:.1f} % slower  (target <= 10 %)")
        sys.stdout.flush()
        # Before part 4, which turns the cluster into a `qdrant` one.
        print_embedded_protocols(protocol_rounds, seconds,
                                 embedded_protocols(tmp, token, manage, protocol_rounds, seconds))
        before = load_average()
        result = isolation(tmp, cluster, isolation_rounds, seconds)
        print_isolation(isolation_rounds, seconds, result, (before, load_average()))
        front_rounds = int(os.environ.get("BENCH_FRONT_ROUNDS", "3"))
        before = load_average()
        result = front_vs_direct(tmp, cluster, front_rounds, seconds)
        print_front(front_rounds, seconds, result, (before, load_average()))


if __name__ == "__main__":
    main()
