"""What binding a key to a tenant costs (issue 23): the same requests with a tenant-bound key
and with an unbound key of the same rights, on an embedded cluster and on a real Qdrant node
behind the front, 32 keep-alive connections over REST, loaded in turn (alternating which goes
first). 10,000 points of dimension 128 in ten tenants, `group_id` indexed as a tenant field.

- query, limit 10 (the condition ANDed into the filter; goal: bound >= 0.8x unbound)
- upsert of 100 of the tenant's points (each point checked, then their ids read for their owner)
- retrieve of 20 ids, half the tenant's (the ids read for their owner first)

    .venv/bin/python -m bench.tenant          (also in `make bench`; BENCH_ONLY=tenant alone;
                                               the real node needs QDRANT_BINARY)
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from pathlib import Path

from bench import loadgen
from bench.dataplane import DIMENSION, POINTS, _pin, _setup, _start_dataplane, _stop, fill_points, load_in_turn, real_node

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
TENANT = "t3"
CALLS = ("query", "upsert", "retrieve")
# The unbound key with the tenant's filter written by the application, as
# without bound keys: what the front's binding adds beyond filtering itself.
OWN_FILTER = "query, the app's own filter"


def _requests(vector: list[float], rng: random.Random) -> dict[str, tuple[str, str, bytes]]:
    mine = [i for i in range(POINTS) if i % 10 == 3]
    upsert = {"points": [{"id": i, "vector": [rng.random() for _ in range(DIMENSION)], "payload": {"group_id": TENANT}}
                         for i in mine[:100]]}
    retrieve = {"ids": mine[:10] + [i + 1 for i in mine[:10]]}
    own = {"query": vector, "limit": 10, "filter": {"must": [{"key": "group_id", "match": {"value": TENANT}}]}}
    return {"query": ("POST", "/collections/bench/points/query", json.dumps({"query": vector, "limit": 10}).encode()),
            OWN_FILTER: ("POST", "/collections/bench/points/query", json.dumps(own).encode()),
            "upsert": ("PUT", "/collections/bench/points?wait=true", json.dumps(upsert).encode()),
            "retrieve": ("POST", "/collections/bench/points", json.dumps(retrieve).encode())}


def _load(port: int, requests: dict, tokens: dict[str, str]) -> dict:
    def load(entry):
        call, key = entry
        method, path, body = requests[call]
        request = loadgen.post_request(path, body, {"api-key": tokens[key]})
        if method != "POST":
            request = method.encode() + request[4:]
        return loadgen.run("127.0.0.1", port, request, connections=32, warmup=0.5, seconds=SECONDS)

    plan = [(call, key) for call in (*CALLS, OWN_FILTER) for key in tokens if call != OWN_FILTER or key == "unbound"]
    return load_in_turn(ROUNDS, plan, load)


def _keys(cluster) -> dict[str, str]:
    from apikeys.services import database_key_create

    rules = [{"collection": "bench", "access": "rw"}]
    _, unbound = database_key_create(cluster=cluster, name="unbound bench key", rules=rules, expires_at=None, by=None)
    _, bound = database_key_create(cluster=cluster, name="tenant bench key", rules=rules, expires_at=None, by=None,
                                   tenant={"field": "group_id", "value": TENANT, "type": "keyword", "access": "rw"})
    return {"unbound": unbound, "bound": bound}


def _fill(base_url: str, headers: dict, rng: random.Random) -> None:
    """Ten tenants' points, `group_id` indexed as a tenant field."""
    fill_points(base_url, headers, rng, payload=lambda i: {"group_id": f"t{i % 10}"},
                index={"field_name": "group_id", "field_schema": {"type": "keyword", "is_tenant": True}})


def embedded(tmp: Path, cluster, manage: str, tokens: dict) -> dict:
    rng = random.Random(1)
    plane, port = _start_dataplane(tmp / "data-embedded", auth_enabled=True)
    try:
        _fill(f"http://127.0.0.1:{port}", {"api-key": manage}, rng)
        _pin(1)
        return _load(port, _requests([rng.random() for _ in range(DIMENSION)], rng), tokens)
    finally:
        _stop(plane)


def real(tmp: Path, cluster, tokens: dict) -> dict | None:
    rng = random.Random(1)
    with real_node(tmp, cluster) as (address, _):
        if address is None:
            return None
        _fill(address.http_url, {"api-key": cluster.master_key}, rng)
        plane, port = _start_dataplane(tmp / "data-real", auth_enabled=True,
                                       pin=os.environ.get("BENCH_FRONT_PIN", "1") == "1")
        try:
            _pin(1)
            return _load(port, _requests([rng.random() for _ in range(DIMENSION)], rng), tokens)
        finally:
            _stop(plane)


def _print(title: str, result: dict | None) -> None:
    if result is None:
        print(f"  {title}: skipped (QDRANT_BINARY is not set)")
        return
    print(f"  {title}:")
    for call in CALLS:
        unbound, bound = result[(call, "unbound")], result[(call, "bound")]
        print(f"    {call:8} unbound {unbound['rps']:8.0f} req/s p50 {unbound['p50']:6.2f} ms · tenant-bound "
              f"{bound['rps']:8.0f} req/s p50 {bound['p50']:6.2f} ms · ratio {bound['rps'] / unbound['rps']:.2f}"
              + ("  (goal >= 0.80)" if call == "query" else ""))
    own, bound = result[(OWN_FILTER, "unbound")], result[("query", "bound")]
    print(f"    query, unbound with the app's own tenant filter {own['rps']:8.0f} req/s p50 {own['p50']:6.2f} ms · "
          f"tenant-bound / that: ratio {bound['rps'] / own['rps']:.2f}")


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "tenant"):
        return
    with tempfile.TemporaryDirectory(prefix="tenant-bench-") as name:
        tmp = Path(name)
        cluster, _, manage = _setup(tmp)
        tokens = _keys(cluster)
        print(f"\nTenant-bound key vs unbound key, REST, 32 connections, median of {ROUNDS} rounds of {SECONDS:g} s "
              f"({POINTS} points of dimension {DIMENSION}, 10 tenants):")
        _print("embedded cluster", embedded(tmp, cluster, manage, tokens))
        sys.stdout.flush()
        _print("real Qdrant node behind the front", real(tmp, cluster, tokens))


if __name__ == "__main__":
    main()
