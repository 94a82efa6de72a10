"""How long qdrant-edge's calls hold the GIL (printed with bench/dataplane.py part 6).

qdrant-edge 0.9's Python bindings keep the GIL for the whole of each call:
in one process, while one cluster upserts or flushes, no other thread runs
Python, whichever cluster or protocol it serves. That is why each cluster's
storage has a process of its own by default (dataplane/storage_process.py). A ticker thread
sleeps 0.2 ms at a time and records the longest gap it sees while the
storage of one collection takes ISOLATION_POINTS points in batches, then
flushes: a gap as long as the call is a call that held the GIL.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from pathlib import Path


def _longest_gap(call) -> tuple[float, float]:
    """(seconds `call` took, the ticker's longest gap meanwhile)."""
    gaps, done = [0.0], threading.Event()

    def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.0002)
            now = time.perf_counter()
            gaps[0] = max(gaps[0], now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    started = time.perf_counter()
    call()
    took = time.perf_counter() - started
    done.set()
    ticker.join()
    return took, gaps[0]


def gil_holds(points: int, batch: int, dimension: int) -> dict:
    """Median and longest update of `batch` points, and the flush after them, with the ticker's gaps (ms)."""
    import qdrant_edge as qe

    from dataplane import edgejson
    from dataplane.storage import ClusterStorage

    rng = random.Random(3)
    with tempfile.TemporaryDirectory(prefix="edge-gil-") as name:
        storage = ClusterStorage(Path(name))
        storage.execute(ClusterStorage.op_create, "bench", {}, {"vectors": {"size": dimension, "distance": "Cosine"}})
        shard = storage.collections["bench"].shard
        batches = [edgejson.points({"points": [{"id": i, "vector": [rng.random() for _ in range(dimension)]}
                                               for i in range(start, min(points, start + batch))]})
                   for start in range(0, points, batch)]
        updates = sorted(_longest_gap(lambda b=b: shard.update(qe.UpdateOperation.upsert_points(b)))
                         for b in batches)
        flush = _longest_gap(shard.flush)
        storage.close()
    median = updates[len(updates) // 2]
    return {"update_ms": median[0] * 1e3, "update_gap_ms": median[1] * 1e3,
            "slowest_update_ms": updates[-1][0] * 1e3, "slowest_update_gap_ms": updates[-1][1] * 1e3,
            "flush_ms": flush[0] * 1e3, "flush_gap_ms": flush[1] * 1e3}


def print_gil_holds(holds: dict, points: int, batch: int) -> None:
    print(f"  qdrant-edge's calls hold the GIL ({points} points in batches of {batch}; a ticker thread's longest gap):")
    print(f"    update of {batch} points: median {holds['update_ms']:.2f} ms (gap {holds['update_gap_ms']:.2f} ms), "
          f"slowest {holds['slowest_update_ms']:.2f} ms (gap {holds['slowest_update_gap_ms']:.2f} ms)")
    print(f"    flush after them: {holds['flush_ms']:.2f} ms (gap {holds['flush_gap_ms']:.2f} ms)")
