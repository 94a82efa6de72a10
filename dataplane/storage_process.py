"""One cluster's storage in a process of its own (DATAPLANE_STORAGE_PROCESSES).

qdrant-edge keeps the GIL for the whole of each call (bench/edge_gil.py): an
upsert of thousands of points, or a flush, stops every thread of the process
for 25-300 ms, whichever cluster or protocol it serves. In a child process a
cluster's calls hold that child only; the front's storage thread waits on a
pipe, which lets the GIL go. It costs a process per open cluster (forked from
one forkserver that has qdrant-edge loaded, so most of its memory is shared)
and a pipe round trip per call.

The child takes calls one at a time, as the engine gives them (one per
cluster at a time, dataplane/engine.py), and exits when its pipe closes: the
front closed the storage, or died. A child that died on its own (a panic that
aborts, a kill) fails the call it was in with a 500, and the next call starts
a new one on the same files: the front still holds the cluster's lock.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
from pathlib import Path

from dataplane.storage import ClusterStorage, StorageError

logger = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("forkserver")
# Every child forks from a server that has imported the storage engine once.
_CONTEXT.set_forkserver_preload(["dataplane.storage"])
# All of the front's environment the forkserver, so every storage process, gets:
# none of the front's secrets (its KEYSET_CREDENTIAL) and none of its settings.
_ENVIRONMENT_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")


def start_server() -> None:
    """Starts the forkserver, with _ENVIRONMENT_KEPT only: at the front's
    start, before its threads, as the server inherits os.environ."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update({name: value for name, value in saved.items() if name in _ENVIRONMENT_KEPT})
        multiprocessing.forkserver.ensure_running()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class StorageProcess:
    """What the engine calls of a ClusterStorage, run by a child process."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.collections: list[str] = []  # the names as of the last call, as ClusterStorage's keys
        self._conn = self._process = None
        self._start()

    def _start(self) -> None:
        self._conn, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(target=_serve, args=(str(self.root), child), daemon=True,
                                         name=f"storage {self.root.name}")
        self._process.start()
        child.close()
        self._call("open")  # raises what opening the storage raised

    def _call(self, method: str, *args):
        if self._process is None:
            self._start()
        try:
            self._conn.send((method, args))
            ok, value, names = self._conn.recv()
        except (EOFError, OSError):
            self._process.join(timeout=5)
            logger.error("the storage process of cluster %s died (exit code %s)", self.root.name,
                         self._process.exitcode)
            self._conn.close()
            self._conn = self._process = None
            raise StorageError(500, "Service internal error: the storage engine failed") from None
        self.collections = names
        if ok:
            return value
        raise StorageError(*value)

    def execute(self, handler, name: str | None, params: dict, body) -> object:
        return self._call("execute", handler.__name__, name, params, body)

    def flush(self) -> None:
        self._call("flush")

    def load_all(self) -> None:
        self._call("load_all")

    def close(self) -> None:
        if self._process is None:
            return
        try:
            self._call("close")
        finally:
            if self._conn is not None:
                self._conn.close()
                self._process.join(timeout=30)
            self._conn = self._process = None


def _serve(root: str, conn) -> None:
    """The child: the cluster's ClusterStorage, one call per message, until
    the pipe closes. Each reply carries the collection names as they are.

    It opens the storage only once the child before it has let it go (a lock
    of its own: the front's owner.lock goes with the front, and a child
    whose front was killed may still be flushing). Ctrl-C reaches the whole
    process group: the child leaves it to the front, which closes it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    storage = method = None
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            break
        try:
            if method == "open":
                lock = os.open(Path(root) / "storage.lock", os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(lock, fcntl.LOCK_EX)  # held until this process exits
                storage, value = ClusterStorage(Path(root)), None
            elif method == "execute":
                value = storage.execute(getattr(ClusterStorage, args[0]), *args[1:])
            else:
                value = getattr(storage, method)()
            reply = (True, value)
        except StorageError as exc:
            reply = (False, (exc.status, exc.message))
        except Exception as exc:  # noqa: BLE001 - opening, loading or closing failed: the front says so
            logger.error("cluster storage %s failed in %s: %s", root, method, exc)
            reply = (False, (500, f"Service internal error: {exc}"))
        conn.send((*reply, sorted(storage.collections) if storage is not None else []))
        if method == "close":
            break
    if storage is not None and method != "close":
        storage.close()  # the front died: its shards are flushed before they go
