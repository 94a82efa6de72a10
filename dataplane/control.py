"""This process's end of the console's key set handshake (keyset/handshake.py, fronts/changelog.py).

A Unix socket `run/<pid>.keyset`, made at start and removed at a clean stop.
One JSON line in, one out:

- `{"op": "refresh"}`: ask the console for what the change log holds beyond
  this snapshot now (under the key store's lock, after the request arrived),
  apply and acknowledge it, then answer `{"ok": <the console answered>,
  "generation": <last change applied>, "loads": ..., "applies": ...}`. The
  console counts the change as confirmed by this process only on `ok`.
- `{"op": "stats"}`: counters for tests and operators: full key set loads,
  catch-ups that applied changes and the changes applied, requests the
  process made to the console, operations forwarded to and served for other
  processes, rounds of the last-used writer, and what the front holds open
  to nodes (idle pooled connections by node, gRPC channels).
- `{"op": "restart", "cluster": id}`: restart the cluster's storage if this
  process holds it open (Engine.restart), answering `{"ok": true,
  "restarted": <collections loaded back, or null when not open here>}`:
  an embedded cluster's node step in a rolling restart (clusters/embedded.py).
- `{"op": "clock", "offset": seconds}`: moves this process's clock
  (dataplane/clock.py) by that much from the system's, for tests of deadlines;
  refused unless DATAPLANE_TEST_CLOCK is on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

from dataplane import clock, settings
from dataplane.engine import Engine
from dataplane.keystore import KeyStore
from keyset.handshake import MAX_REPLY_BYTES, SOCKET_SUFFIX, process_alive, socket_path

logger = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS = 5


class ControlServer:
    def __init__(self, *, keystore: KeyStore, engine: Engine, run_dir: Path, last_used=None, front=None):
        self.keystore = keystore
        self.front = front  # the DataPlane: its connections to nodes
        self.engine = engine
        self.last_used = last_used
        self.path = socket_path(run_dir, os.getpid())
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(f"*{SOCKET_SUFFIX}"):  # left by processes that died
            pid = stale.name[: -len(SOCKET_SUFFIX)]
            if pid.isdigit() and not process_alive(int(pid)):
                stale.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=MAX_REPLY_BYTES)

    async def stop(self) -> None:
        # Removed first: from here on the console no longer waits for this process.
        self.path.unlink(missing_ok=True)
        if self._server:
            self._server.close()

    def stats(self) -> dict:
        return {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "generation": self.keystore.current.generation[0],
            "loads": self.keystore.loads,
            "applies": self.keystore.applies,
            "changes": self.keystore.changes,
            "failures": self.keystore.failures,
            "contract_requests": self.keystore.client.requests,
            "forwarded": self.engine.forwarded,
            "served_for_others": self.engine.served_for_others,
            "restarts": self.engine.restarts,
            "owns": sorted(self.engine.local),
            "last_used_flushes": self.last_used.flushes if self.last_used is not None else None,
            "nodes": self.front.node_connections() if self.front is not None else None,
        }

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_SECONDS)
            op = json.loads(line).get("op") if line else None
            if op == "refresh":
                ok = await asyncio.to_thread(self.keystore.refresh)
                reply = {"ok": ok, "generation": self.keystore.current.generation[0], "loads": self.keystore.loads,
                         "applies": self.keystore.applies}
            elif op == "restart":
                cluster_id = str(json.loads(line)["cluster"])
                reply = {"ok": True, "restarted": await self.engine.restart(cluster_id)}
            elif op == "stats":
                reply = {"ok": True} | self.stats()
            elif op == "clock" and settings.DATAPLANE_TEST_CLOCK:
                clock.set_offset(json.loads(line)["offset"])
                reply = {"ok": True, "now": clock.now()}
            else:
                reply = {"ok": False, "error": "unknown op"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except Exception as exc:  # noqa: BLE001 - a broken peer must not take the server down
            logger.warning("key set handshake failed: %s", exc)
        finally:
            writer.close()
