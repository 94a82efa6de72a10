"""Python function calls the gRPC front makes per forwarded request.

On a 2-core machine shared with other jobs, timings of the front move with
the load (its CPU time per request doubled between two runs of the same
code); a count of the work it does per request does not. The front runs in
this process on uvloop under cProfile (which also counts each resumption of
a coroutine), in front of one real Qdrant node; the load, 2,000 calls of
`/qdrant.Collections/List` with an admin key over 8 connections, comes from a
separate process so that only the front's calls are counted. What grpcio does
in C is not counted.

    QDRANT_BINARY=... .venv/bin/python -m bench.grpc_front_calls     (also the end of `make bench`)
"""

from __future__ import annotations

import asyncio
import cProfile
import hmac
import os
import pstats
import secrets
import sys
import tempfile
from hashlib import sha256
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUESTS, CONNECTIONS = 2000, 8

LOAD = """
import asyncio, sys, grpc.aio
port, token, requests, connections = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
async def main():
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(connections)]
    async def loop(channel):
        call = channel.unary_unary("/qdrant.Collections/List")
        for _ in range(requests // connections):
            await call(b"", metadata=(("api-key", token),), timeout=10)
    await asyncio.gather(*(loop(channel) for channel in channels))
asyncio.run(main())
"""


async def _count(front, token: str) -> int:
    await front.start()
    try:
        async def load(requests: int) -> None:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", LOAD, str(front.port), token, str(requests), str(CONNECTIONS))
            if await process.wait():
                raise RuntimeError("the load generator failed")

        await load(CONNECTIONS * 10)  # channels to the node made, handlers cached
        profile = cProfile.Profile()
        profile.enable()
        await load(REQUESTS)
        profile.disable()
    finally:
        await front.stop()
    return sum(entry[1] for entry in pstats.Stats(profile).stats.values())


def main() -> None:
    if os.environ.get("BENCH_ONLY", "") not in ("", "front"):
        return
    binary = os.environ.get("QDRANT_BINARY")
    if not binary:
        print("gRPC front calls per request: skipped, QDRANT_BINARY is not set (make qdrant prints a path for it)")
        return
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    import django

    django.setup()
    import uvloop
    from django.conf import settings

    from bench.dataplane import _free_port
    from dataplane.grpcfront import GrpcFront
    from dataplane.pipeline import Pipeline
    from dataplane.keystore import ClusterEntry, KeyEntry, KeySet, Nodes
    from runtimes.base import ClusterSpec, start_cluster
    from runtimes.qdrant import QdrantRuntime

    with tempfile.TemporaryDirectory(prefix="grpc-front-calls-") as name:
        runtime = QdrantRuntime(binary=binary, root=Path(name) / "nodes", stop_grace=5)
        master = secrets.token_urlsafe(32)
        try:
            address = start_cluster(runtime, ClusterSpec(id="bench", size=1, master_key=master))[0]
            # A key set of one cluster and one admin key, as the key store would load it.
            token = secrets.token_urlsafe(32)
            pepper_id, pepper = next(iter(settings.API_KEY_PEPPERS.items()))
            digest = hmac.new(pepper.encode(), token.encode(), sha256).hexdigest()
            key_set = KeySet(
                generation=(1, None), database_keys={},
                clusters={"bench": ClusterEntry("bench", "1.16.3", False, master.encode(), "qdrant")},
                admin_keys={(int(pepper_id), digest): KeyEntry("admin", "bench", "admin", None)},
                peppers={int(pepper_id): pepper.encode()},
                nodes={"bench": Nodes((address.http_url,), (f"127.0.0.1:{address.ports.grpc}",), 1)},
            )
            store = type("Store", (), {"current": key_set})()
            front = GrpcFront(pipeline=Pipeline(keystore=store, engine=None, last_used=None), host="127.0.0.1",
                              port=_free_port())
            calls = uvloop.run(_count(front, token))
        finally:
            runtime.stop_all()
    print(f"gRPC front: {calls / REQUESTS:.1f} Python function calls per forwarded request "
          f"({REQUESTS} calls of /qdrant.Collections/List, {CONNECTIONS} connections, one real node)")


if __name__ == "__main__":
    main()
