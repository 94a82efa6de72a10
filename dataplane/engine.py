"""Which process serves a cluster's collections, and getting a request to it.

An EdgeShard is locked by the process that opens it, and opening one takes
~10 ms, so shards cannot be opened per request by whichever process took the
connection. Instead each cluster's storage has one owner at a time: the first
data plane process that needs it takes an exclusive flock on
`clusters/<id>/owner.lock` and records where it listens (a Unix socket under
`run/`). The other processes forward the (already authorised) operation to
the owner. When the owner dies the kernel drops its lock and the next process
that needs the cluster takes over. With one process (the default) nothing is
ever forwarded.

A deleted cluster's directory goes with it (`remove_deleted`): its owner, or
any process that can take its lock when nobody owns it, closes and removes it.

Every call into a cluster's storage (qdrant-edge: upserts, queries, the flush
once a second, closing) runs in a worker thread (`_in_storage`), one at a time
per cluster: an EdgeShard is not shared between threads, and a cluster's
calls keep their order. So a slow upsert or a flush holds up its own cluster
only, never the event loop that serves every other cluster, gRPC and the
key set's handshake (bench/dataplane.py part 6 measures it).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dataplane.routes import BY_OP
from dataplane.storage import ClusterStorage, StorageError
from keyset.handshake import process_alive

logger = logging.getLogger(__name__)

FORWARD_TIMEOUT_SECONDS = 60
_CLAIM_ATTEMPTS = 20
# Threads for storage calls: clusters busy at once beyond this wait their turn.
STORAGE_THREADS = 4
# In a cluster's directory: the token of the key set's epoch (fronts.models.KeySetEpoch)
# it was last served under. A directory whose cluster the key set lacks is
# removed only when the key set has that same epoch: a data plane started on
# another database, or on one restored from a backup, must not take every
# cluster it does not know for deleted.
EPOCH_FILE = "keyset-epoch"


class Engine:
    def __init__(self, data_dir: Path, run_dir: Path | None = None, epoch: Callable[[], object] = lambda: None):
        self.data_dir = Path(data_dir)
        self.epoch = epoch  # the current key set's epoch token (None: not known)
        self.run_dir = Path(run_dir) if run_dir is not None else self.data_dir / "run"
        self.socket_path = self.run_dir / f"{os.getpid()}.sock"
        self.local: dict[str, ClusterStorage] = {}
        self._locks: dict[str, int] = {}
        self._server: asyncio.AbstractServer | None = None
        self._flusher: asyncio.Task | None = None
        # Operations this process sent to an owner, and ran for another process
        # (the handshake's `stats` shows them: tests prove forwarding with them).
        self.forwarded = 0
        self.served_for_others = 0
        self.restarts = 0  # clusters restarted (the console's rolling restarts of embedded clusters)
        self._executor = ThreadPoolExecutor(max_workers=STORAGE_THREADS, thread_name_prefix="storage")
        # One storage call at a time per cluster, taken on the event loop, so a
        # cluster's waiting calls hold no worker thread another cluster could use.
        self._turns: dict[str, asyncio.Lock] = {}

    def cluster_dir(self, cluster_id: str) -> Path:
        return self.data_dir / "clusters" / cluster_id

    async def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.run_dir.glob("*.sock"):  # left by processes that died
            if stale.stem.isdigit() and not process_alive(int(stale.stem)):
                stale.unlink(missing_ok=True)
        self.socket_path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path), limit=2**31 - 1)
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def stop(self) -> None:
        if self._flusher:
            self._flusher.cancel()
        if self._server:
            self._server.close()
        for cluster_id in list(self.local):
            async with self._turn(cluster_id):
                storage = self.local.pop(cluster_id, None)
                if storage is not None:
                    await self._in_thread(storage.close)
                    self._release(cluster_id)
        self.socket_path.unlink(missing_ok=True)

    def _turn(self, cluster_id: str) -> asyncio.Lock:
        turn = self._turns.get(cluster_id)
        if turn is None:
            turn = self._turns[cluster_id] = asyncio.Lock()
        return turn

    async def _in_thread(self, call: Callable, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, call, *args)

    async def _in_storage(self, cluster_id: str, op: str, name: str | None, params: dict, body):
        """The op on this process's storage of the cluster, in a worker thread
        on the cluster's turn. Raises _Moved when this process does not hold
        it (any more: a restart or a removal may have come first)."""
        async with self._turn(cluster_id):
            storage = self.local.get(cluster_id)
            if storage is None:
                raise _Moved
            return await self._in_thread(storage.execute, BY_OP[op].handler, name, params, body)

    async def execute(self, cluster_id: str, op: str, name: str | None, params: dict, body) -> object:
        for _ in range(_CLAIM_ATTEMPTS):
            if cluster_id in self.local or self._claim(cluster_id) is not None:
                try:
                    return await self._in_storage(cluster_id, op, name, params, body)
                except _Moved:
                    continue
            reply = await self._forward(cluster_id, {"cluster": cluster_id, "op": op, "name": name,
                                                     "params": params, "body": body})
            if reply is not None:
                self.forwarded += 1
                if reply["ok"]:
                    return reply["result"]
                raise StorageError(reply["status"], reply["error"])
            await asyncio.sleep(0.05)  # the owner is changing hands
        raise StorageError(503, "Service unavailable: the cluster's storage is not reachable")

    def _claim(self, cluster_id: str) -> ClusterStorage | None:
        root = self.cluster_dir(cluster_id)
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / "owner.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            storage = ClusterStorage(root)
        except Exception:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        owner = root / f"owner.{os.getpid()}.tmp"
        owner.write_text(str(self.socket_path))
        os.replace(owner, root / "owner")
        epoch = self.epoch()
        if epoch is not None:
            (root / EPOCH_FILE).write_text(str(epoch))
        self._locks[cluster_id] = fd
        self.local[cluster_id] = storage
        return storage

    async def remove_deleted(self, *, existing: Iterable[str], deleted: Iterable[str]) -> list[str]:
        """Removes the storage of every cluster not in `existing`: of those in
        `deleted` (seen deleted), and of those last served under the current
        epoch. Returns their ids; a cluster another process owns is left to it."""
        existing, deleted, epoch = set(existing), set(deleted), self.epoch()
        try:
            roots = list((self.data_dir / "clusters").iterdir())
        except FileNotFoundError:
            return []
        removed = []
        for root in roots:
            if root.name in existing:
                continue
            if root.name not in deleted:
                try:
                    if epoch is None or (root / EPOCH_FILE).read_text() != str(epoch):
                        continue
                except OSError:
                    continue
            async with self._turn(root.name):
                if await self._remove(root.name):
                    removed.append(root.name)
        return removed

    async def _remove(self, cluster_id: str) -> bool:
        root = self.cluster_dir(cluster_id)
        storage = self.local.pop(cluster_id, None)
        if storage is not None:
            await self._in_thread(storage.close)
            fd = self._locks.pop(cluster_id)
        else:
            try:
                fd = os.open(root / "owner.lock", os.O_RDWR)
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except FileNotFoundError:
                fd = None  # never claimed
            except BlockingIOError:
                os.close(fd)
                return False  # its owner removes it when it learns of the delete
        try:
            await self._in_thread(shutil.rmtree, root, True)
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        logger.info("removed the storage of deleted cluster %s", cluster_id)
        return not root.exists()

    async def restart(self, cluster_id: str) -> int | None:
        """Restarts a cluster this process serves, as a node restarts: its
        shards are flushed and closed, the storage let go, then claimed again
        and every shard loaded back from disk. Returns how many collections
        came back; None when this process does not hold the cluster open
        (nothing of it runs here: it loads from disk when next needed).
        On the cluster's turn, so no request sees it half done."""
        async with self._turn(cluster_id):
            storage = self.local.pop(cluster_id, None)
            if storage is None:
                return None
            await self._in_thread(storage.close)
            self._release(cluster_id)
            storage = self._claim(cluster_id)
            if storage is None:
                return None  # another process took it in between: it loaded it from disk
            await self._in_thread(storage.load_all)
            self.restarts += 1
            return len(storage.collections)

    def _release(self, cluster_id: str) -> None:
        fd = self._locks.pop(cluster_id, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def _forward(self, cluster_id: str, message: dict) -> dict | None:
        try:
            path = (self.cluster_dir(cluster_id) / "owner").read_text()
        except OSError:
            return None
        if path == str(self.socket_path):
            return None  # our own stale record: claim again
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=2**31 - 1)
        except OSError:
            return None
        try:
            writer.write(json.dumps(message).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), FORWARD_TIMEOUT_SECONDS)
        except (TimeoutError, OSError):
            return None
        finally:
            writer.close()
        if not line:
            return None
        reply = json.loads(line)
        return None if reply.get("moved") else reply

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if not line:
                return
            message = json.loads(line)
            try:
                result = await self._in_storage(message["cluster"], message["op"], message["name"],
                                                message["params"], message["body"])
                reply = {"ok": True, "result": result}
            except _Moved:
                reply = {"moved": True}
            except StorageError as exc:
                reply = {"ok": False, "status": exc.status, "error": exc.message}
            if "moved" not in reply:
                self.served_for_others += 1
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except Exception as exc:  # noqa: BLE001 - a broken peer must not take the server down
            logger.warning("forwarded storage request failed: %s", exc)
        finally:
            writer.close()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for cluster_id in list(self.local):
                async with self._turn(cluster_id):
                    storage = self.local.get(cluster_id)
                    if storage is not None:
                        await self._in_thread(storage.flush)


class _Moved(Exception):
    """This process does not hold the cluster's storage (any more)."""

