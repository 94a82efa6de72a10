"""Which process serves a cluster's collections, and getting a request to it.

Across hosts each embedded cluster has one owner front, recorded by the
console (dataplane/owners.py); a front that does not own a cluster sends the
(already authorised) operation to the owner's storage address over TCP (TLS
when the front serves TLS), with its peer token, as one JSON line, the same
line as between the processes of one front below, and gets one line back.
The owner checks the token and serves it as if it came from one of its own
processes. An owner that does not answer: 503 naming it. Within the owner's
host, the processes share its data directory as follows.

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
calls keep their order. qdrant-edge keeps the GIL for a whole call, so by
default the thread only hands the call to the cluster's own storage process
(dataplane/storage_process.py) and waits: a slow upsert or a flush holds up
its own cluster only, never the event loop that serves every other cluster,
gRPC and the key set's handshake (bench/dataplane.py part 6 measures it).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import shutil
import ssl
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dataplane.owners import Owner, Owners
from dataplane.routes import BY_OP
from dataplane.storage import ClusterStorage, StorageError
from dataplane.storage_process import StorageProcess
from dataplane.storage_process import start_server as start_storage_server
from keyset.handshake import process_alive

logger = logging.getLogger(__name__)

FORWARD_TIMEOUT_SECONDS = 60
# How long a front waits to reach another front's storage address before it answers 503.
CONNECT_TIMEOUT_SECONDS = 5
# Operations after which the owner tells the console the cluster's collection names.
NAMING_OPS = frozenset({"create", "delete_collection"})
_LINE_LIMIT = 2**31 - 1
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
    def __init__(self, data_dir: Path, run_dir: Path | None = None, epoch: Callable[[], object] = lambda: None, *,
                 owners: Owners | None = None, listen: tuple[str, int] | None = None,
                 server_ssl: ssl.SSLContext | None = None, client_ssl: ssl.SSLContext | None = None,
                 peer_line_limit: int = _LINE_LIMIT, storage_processes: bool = False):
        self.data_dir = Path(data_dir)
        # Without `owners` every cluster is this front's (a front alone, in tests of the engine).
        self.owners = owners
        self.listen = listen  # (host, port) other fronts send operations to; None: none taken
        self._server_ssl, self._client_ssl = server_ssl, client_ssl
        # The longest line read from the storage port, whose token is checked once the line is in.
        self._peer_line_limit = peer_line_limit
        self._peer_server: asyncio.AbstractServer | None = None
        self._reported: dict[str, list[str]] = {}  # collection names last told the console, per cluster
        self._reports: set[asyncio.Task] = set()
        self._reporting: dict[str, asyncio.Lock] = {}  # one report at a time per cluster
        self.epoch = epoch  # the current key set's epoch token (None: not known)
        self.run_dir = Path(run_dir) if run_dir is not None else self.data_dir / "run"
        self.socket_path = self.run_dir / f"{os.getpid()}.sock"
        # Each open cluster's storage in a child process (dataplane/storage_process.py), or in this one.
        self._open_storage = StorageProcess if storage_processes else ClusterStorage
        if storage_processes:
            start_storage_server()
        self.local: dict[str, ClusterStorage | StorageProcess] = {}
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
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path), limit=_LINE_LIMIT)
        if self.listen is not None:
            # Every process of the front listens on the port (SO_REUSEPORT), each serving what it is sent.
            host, port = self.listen
            self._peer_server = await asyncio.start_server(
                lambda reader, writer: self._serve(reader, writer, peer=True), host, port, ssl=self._server_ssl,
                reuse_port=True, limit=self._peer_line_limit)
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def stop(self) -> None:
        if self._flusher:
            self._flusher.cancel()
        if self._server:
            self._server.close()
        if self._peer_server:
            self._peer_server.close()
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
        it (any more: a restart or a removal may have come first). An op that
        may change the collections' names reports them before it returns, so
        the console's lists hold a collection as soon as its create answered."""
        async with self._turn(cluster_id):
            storage = self.local.get(cluster_id)
            if storage is None:
                raise _Moved
            try:
                result = await self._in_thread(storage.execute, BY_OP[op].handler, name, params, body)
            finally:
                named = op in NAMING_OPS
        if named:
            await self._report(cluster_id)
        return result

    async def _report(self, cluster_id: str) -> None:
        """Tells the console the cluster's collection names as they are now,
        one report at a time per cluster: reports sent side by side (the
        claim's and a create's) could arrive in either order and leave the
        console with the older names."""
        if self.owners is None:
            return
        async with self._reporting.setdefault(cluster_id, asyncio.Lock()):
            async with self._turn(cluster_id):
                storage = self.local.get(cluster_id)
                names = sorted(storage.collections) if storage is not None else None
            if names is not None and self._reported.get(cluster_id) != names:
                if await self.owners.report(cluster_id, names):
                    self._reported[cluster_id] = names

    async def execute(self, cluster_id: str, op: str, name: str | None, params: dict, body) -> object:
        """The op on the cluster's storage: here (or in the process of this
        front that holds it), or at the front that owns it."""
        if self.owners is not None:
            owner = await self.owners.owner(cluster_id)
            if not self.owners.mine(owner):
                return await self._forward_to_owner(owner, {"cluster": cluster_id, "op": op, "name": name,
                                                            "params": params, "body": body})
        return await self._execute_here(cluster_id, op, name, params, body)

    async def _execute_here(self, cluster_id: str, op: str, name: str | None, params: dict, body) -> object:
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

    def _claim(self, cluster_id: str) -> ClusterStorage | StorageProcess | None:
        root = self.cluster_dir(cluster_id)
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / "owner.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            storage = self._open_storage(root)
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
        # The console learns the names from the owner (a first claim, or a
        # storage that changed while another process or front held it).
        report = asyncio.get_running_loop().create_task(self._report(cluster_id))
        self._reports.add(report)  # held until done: the loop keeps only a weak reference to a task
        report.add_done_callback(self._reports.discard)
        return storage

    async def adopt(self) -> list[str]:
        """Claims each cluster whose storage is on this front's disk and that no
        front owns yet (kept from before the console recorded owners), and
        opens it, which reports its collections: the console lists them
        before any request. Returns the ids this process opened."""
        if self.owners is None:
            return []
        try:
            roots = [root for root in (self.data_dir / "clusters").iterdir() if (root / "collections").is_dir()]
        except FileNotFoundError:
            return []
        adopted = []
        for root in roots:
            if not self.owners.unowned(root.name):
                continue
            try:
                owner = await self.owners.owner(root.name)
            except StorageError:
                continue  # the console cannot be asked now: the next change of the key set tries again
            if self.owners.mine(owner):
                async with self._turn(root.name):
                    if root.name not in self.local and self._claim(root.name) is not None:
                        adopted.append(root.name)
        return adopted

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

    async def _forward_to_owner(self, owner: Owner, message: dict) -> object:
        """The op at the front that owns the cluster (keyset/wire.py's line between fronts)."""
        down = (f"Service unavailable: this cluster's storage is held by front '{owner.front}' at {owner.address}, "
                "which does not answer")
        if not owner.address:
            raise StorageError(503, f"Service unavailable: this cluster's storage is held by front '{owner.front}', "
                                    "which takes no operations from other fronts (its DATAPLANE_STORAGE_PORT is not set, "
                                    "or it has not yet claimed a cluster moved to it)")
        scheme, _, target = owner.address.partition("://")
        host, _, port = target.rpartition(":")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host.strip("[]"), int(port), ssl=(self._client_ssl or True) if scheme == "tls" else None,
                limit=_LINE_LIMIT), CONNECT_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, ValueError, ssl.SSLError) as exc:
            logger.warning("cannot reach front %s at %s for cluster %s: %s", owner.front, owner.address,
                           message["cluster"], exc)
            raise StorageError(503, down) from None
        try:
            writer.write(json.dumps(message | {"peer": self.owners.token}).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), FORWARD_TIMEOUT_SECONDS)
        except (TimeoutError, OSError):
            line = b""
        finally:
            writer.close()
        if not line:
            raise StorageError(503, down)
        self.forwarded += 1
        reply = json.loads(line)
        if reply.get("ok"):
            return reply["result"]
        raise StorageError(reply.get("status", 503), reply.get("error", down))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, peer: bool = False) -> None:
        """One operation from another process of this front (Unix socket), or
        from another front (`peer`: checked by its token, then served here or
        in the process of this front that holds the cluster)."""
        try:
            line = await reader.readline()
            if not line:
                return
            message = json.loads(line)
            try:
                args = (message["cluster"], message["op"], message["name"], message["params"], message["body"])
                if peer:
                    result = await self._serve_peer(message.get("peer"), *args)
                else:
                    result = await self._in_storage(*args)
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

    async def _serve_peer(self, token, cluster_id: str, op: str, name, params, body) -> object:
        if self.owners is None or not self.owners.admits(token):
            raise StorageError(403, "Forbidden: the forwarding front is not a live front of this console "
                                    "(revoked, or not known here yet)")
        owner = await self.owners.owner(cluster_id)
        if not self.owners.mine(owner):  # moved meanwhile: never open a copy of another front's cluster
            raise StorageError(503, f"Service unavailable: this cluster's storage is held by front "
                                    f"'{owner.front}', not by the front it was sent to")
        return await self._execute_here(cluster_id, op, name, params, body)

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

