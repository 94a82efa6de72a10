"""What Qdrant's own revocation device costs (issue 21.8): on one real node,
the same count and query (limit 10) with a JWT that carries a `value_exists`
condition on its marker (the keys the console mints for a cluster reached
directly) against a plain JWT with the same rights, 32 keep-alive
connections each, loaded in turn. The marker collection holds 1,000 markers,
indexed as the console makes it (runtimes/connected.py).

    QDRANT_BINARY=... .venv/bin/python -m bench.value_exists     (also in `make bench`)
"""

from __future__ import annotations

import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import jwt

from bench import loadgen
from runtimes import connected
from runtimes.base import ClusterSpec, Node, start_cluster
from runtimes.qdrant import QdrantRuntime

DIMENSION, POINTS, MARKERS = 128, 10_000, 1_000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "value_exists"):
        return
    binary = os.environ.get("QDRANT_BINARY")
    if not binary:
        print("value_exists bench: skipped (QDRANT_BINARY is not set)")
        return
    master = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as tmp:
        runtime = QdrantRuntime(binary=binary, root=Path(tmp) / "nodes", stop_grace=5)
        node = Node(ClusterSpec(id="bench", size=1, master_key=master, jwt_rbac=True), 0)
        try:
            address = start_cluster(runtime, node.cluster)[0]
            results = _measure(address, master)
        finally:
            runtime.stop_all()
    print(f"\nvalue_exists vs plain JWT on one Qdrant node, REST, 32 connections, median of {ROUNDS} rounds "
          f"of {SECONDS:g} s:")
    for call in ("count", "query"):
        plain, marked = results[(call, "plain")], results[(call, "value_exists")]
        print(f"  {call:6} plain {plain['rps']:8.0f} req/s p50 {plain['p50']:.2f} ms · value_exists "
              f"{marked['rps']:8.0f} req/s p50 {marked['p50']:.2f} ms · ratio {marked['rps'] / plain['rps']:.2f}")


def _measure(address, master: str) -> dict:
    rng = random.Random(1)
    target = connected.Target(address.http_url, master)
    with httpx.Client(base_url=address.http_url, headers={"api-key": master}, timeout=60) as client:
        client.put("/collections/bench", json={"vectors": {"size": DIMENSION, "distance": "Cosine"}}).raise_for_status()
        for start in range(0, POINTS, 1000):
            points = [{"id": i, "vector": [rng.random() for _ in range(DIMENSION)]} for i in range(start, start + 1000)]
            client.put("/collections/bench/points?wait=true", json={"points": points}).raise_for_status()
        connected.markers_prepare(target, replicas=1)
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(MARKERS)]
        client.put(f"/collections/{connected.MARKER_COLLECTION}/points?wait=true", json={"points": [
            {"id": key_id, "vector": {}, "payload": {connected.MARKER_FIELD: key_id}} for key_id in ids]}
        ).raise_for_status()
    signing = master.encode()
    tokens = {
        "plain": jwt.encode({"access": "r"}, signing, algorithm="HS256"),
        "value_exists": jwt.encode({"access": "r", "value_exists": connected.value_exists_claim(ids[MARKERS // 2])},
                                   signing, algorithm="HS256"),
    }
    vector = [rng.random() for _ in range(DIMENSION)]
    bodies = {"count": json.dumps({"exact": True}).encode(), "query": json.dumps({"query": vector, "limit": 10}).encode()}
    runs = {(call, kind): [] for call in bodies for kind in tokens}
    for i in range(ROUNDS):
        for call, body in bodies.items():
            for kind in (("plain", "value_exists") if i % 2 == 0 else ("value_exists", "plain")):
                request = loadgen.post_request(f"/collections/bench/points/{call}", body,
                                               {"authorization": "Bearer " + tokens[kind]})
                outcome = loadgen.run("127.0.0.1", address.ports.http, request, connections=32, warmup=0.5,
                                      seconds=SECONDS)
                if outcome["errors"]:
                    sys.exit(f"{outcome['errors']} {call} requests with the {kind} token failed")
                runs[(call, kind)].append(outcome)
                time.sleep(0.2)
    return {key: {"rps": statistics.median(o["rps"] for o in r), "p50": statistics.median(o["p50_ms"] for o in r)}
            for key, r in runs.items()}


if __name__ == "__main__":
    main()
