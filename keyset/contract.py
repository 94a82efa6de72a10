"""How the console tells the data plane that the key set changed, and waits for it.

The console's services call `keys_changed()` whenever a database API key or an
admin key is created or deleted, a cluster is created or deleted, turns
jwt_rbac on, or changes its master key. It bumps `KeySetGeneration` inside the
caller's transaction (so the bump commits, or rolls back, with the change).
After commit it

- publishes on Redis when REDIS_URL is set (wakes every process at once), and
- asks every live data plane process to reload now and waits for each to say
  it has (read-your-writes): a key works on the first request after the
  create response, and is dead on the first request after the delete response.

The handshake: each data plane process listens on `run/<pid>.keyset` under
DATAPLANE_RUN_DIR and removes it when it stops. The console connects to every
such socket at once, sends one line `{"op": "refresh"}`, and waits up to
DATAPLANE_CONFIRM_SECONDS for `{"ok": true, ...}`. The process reloads under the
lock its background refresher takes, and decides whether to reload by reading
the generation after the request came in, so a reload that began before the
commit cannot count as the confirmation. A socket whose process is gone (kill
-9) is skipped: nothing is served from it, and its replacement loads the whole
key set at start. A process that lives but refuses, does not answer in time,
or cannot read the database is "lagging": the change still stands, the log
and the response say it may take a moment to reach it (its polling catches
up within DATAPLANE_POLL_SECONDS).

Both sides import this module; it is all the data plane knows of the
console's side (the reads of its key set, the digest check and the last-used
writes are at the end), and all the console knows of the data plane's keys.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import selectors
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apikeys.rights import FULL, MANAGE, READ, Access, Forbidden, access_from_claim  # noqa: F401 - for the data plane

logger = logging.getLogger(__name__)


def channel() -> str:
    """The Redis channel of this key set. Pub/sub ignores Redis's database
    numbers, so two consoles sharing one Redis server (on db 0 and db 1, say)
    would wake each other's data planes: the channel names the database the
    key set lives in."""
    database = settings.DATABASES["default"]
    return f"keyset:{database['ENGINE'].rsplit('.', 1)[-1]}:{database['NAME']}"

SOCKET_SUFFIX = ".keyset"
REFRESH = b'{"op":"refresh"}\n'
STATS = b'{"op":"stats"}\n'
MAX_REPLY_BYTES = 65536

_redis = None
_collector: contextvars.ContextVar[Propagation | None] = contextvars.ContextVar("keyset_propagation", default=None)


def socket_path(run_dir: Path, pid: int) -> Path:
    """Where the data plane process `pid` answers the handshake."""
    return Path(run_dir) / f"{pid}{SOCKET_SUFFIX}"


@dataclass
class Propagation:
    """What the data plane processes said about a change: how many confirmed,
    and the pids of those that did not (yet)."""

    confirmed: int = 0
    lagging: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # sockets left by processes that died: skipped

    def merge(self, other: Propagation) -> None:
        self.confirmed += other.confirmed
        self.lagging.extend(pid for pid in other.lagging if pid not in self.lagging)
        self.gone.extend(pid for pid in other.gone if pid not in self.gone)

    @property
    def message(self) -> str | None:
        """For the user, when a process did not confirm; None when all did."""
        if not self.lagging:
            return None
        count = len(self.lagging)
        processes = "1 data plane process" if count == 1 else f"{count} data plane processes"
        return f"The change is saved, but may take a moment to reach {processes}."

    @property
    def warning_header(self) -> str | None:
        """RFC 7234's Warning (199, miscellaneous): visible to a client, leaves the JSON body alone."""
        message = self.message
        return None if message is None else f'199 - "{message}"'


@contextmanager
def propagation():
    """Collects what the data plane said about every change committed inside the block.

    Views wrap the service they call with it, to tell the user when a change
    has not reached every process yet.
    """
    collected = Propagation()
    token = _collector.set(collected)
    try:
        yield collected
    finally:
        _collector.reset(token)


def keys_changed() -> None:
    from keyset.models import KeySetGeneration

    now = timezone.now()
    with transaction.atomic():
        bumped = KeySetGeneration.objects.filter(id=KeySetGeneration.ROW_ID).update(
            generation=F("generation") + 1, changed_at=now
        )
        if not bumped:  # the row the migration creates is gone: recreate it
            KeySetGeneration.objects.get_or_create(
                id=KeySetGeneration.ROW_ID, defaults={"generation": 1, "changed_at": now}
            )
    collector = _collector.get()
    transaction.on_commit(lambda: _after_commit(collector), robust=True)


def _after_commit(collector: Propagation | None) -> None:
    if settings.REDIS_URL:
        _publish()
    seconds = settings.DATAPLANE_CONFIRM_SECONDS
    if not seconds:
        return
    outcome = confirm(run_dir=settings.DATAPLANE_RUN_DIR, timeout=seconds)
    if outcome.gone:
        logger.info("skipped the sockets of data plane process(es) %s, which are gone", ", ".join(outcome.gone))
    if outcome.lagging:
        logger.warning(
            "key set change committed; data plane process(es) %s did not confirm within %g s: "
            "it may take a moment to reach them", ", ".join(outcome.lagging), seconds,
        )
    if collector is not None:
        collector.merge(outcome)


def _publish() -> None:
    global _redis
    try:
        if _redis is None:
            import redis

            _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        _redis.publish(channel(), b"changed")
    except Exception as exc:  # noqa: BLE001 - the handshake and the polling still carry the change
        logger.warning("could not publish a key set change on Redis: %s", exc)


def confirm(*, run_dir: Path, timeout: float) -> Propagation:
    """Asks every live data plane process under `run_dir` to reload now; waits up to `timeout` for all."""
    replies = ask_all(run_dir=run_dir, request=REFRESH, timeout=timeout)
    outcome = Propagation()
    for pid, reply in replies.items():
        if reply is GONE:
            outcome.gone.append(pid)
        elif reply is not None and reply.get("ok"):
            outcome.confirmed += 1
        else:
            outcome.lagging.append(pid)
    return outcome


GONE = {"gone": True}


def ask_all(*, run_dir: Path, request: bytes, timeout: float) -> dict[str, dict | None]:
    """One request line to every process at once: pid -> its reply, None if none came in time,
    GONE for a socket whose process is dead."""
    deadline = time.monotonic() + timeout
    replies: dict[str, dict | None] = {}
    selector = selectors.DefaultSelector()
    try:
        paths = sorted(Path(run_dir).glob(f"*{SOCKET_SUFFIX}"))
    except OSError:
        paths = []
    for path in paths:
        pid = path.name[: -len(SOCKET_SUFFIX)]
        if not pid.isdigit():
            continue
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(str(path))
            sock.send(request)  # a few bytes: the socket buffer takes them whole
        except OSError:
            sock.close()
            # Gone (its socket left by a kill -9): it serves nothing. Alive but
            # refusing (or its backlog full): it may be serving an old key set.
            replies[pid] = None if process_alive(int(pid)) else GONE
            continue
        replies[pid] = None
        selector.register(sock, selectors.EVENT_READ, [pid, b""])
    try:
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in selector.select(remaining):
                pid, buffer = key.data
                try:
                    chunk = key.fileobj.recv(4096)
                except OSError:
                    chunk = b""
                buffer += chunk
                key.data[1] = buffer
                if b"\n" in buffer or not chunk or len(buffer) > MAX_REPLY_BYTES:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()
                    try:
                        replies[pid] = json.loads(buffer.split(b"\n", 1)[0]) if b"\n" in buffer else None
                    except ValueError:
                        replies[pid] = None
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
    return replies


# What the data plane reads and writes of the console: nothing else.


def current_generation() -> tuple:
    """The counter with its time: a row deleted and made again (a flushed test
    database) restarts the counter, but never at the same moment."""
    from keyset.models import KeySetGeneration

    row = KeySetGeneration.objects.filter(id=KeySetGeneration.ROW_ID).values_list("generation", "changed_at").first()
    return row or (0, None)


def cluster_rows():
    """(id, version, jwt_rbac, encrypted master key, runtime) of every cluster."""
    from clusters.models import Cluster

    return Cluster.objects.values_list("id", "version", "jwt_rbac", "master_key_encrypted", "runtime")


# The `qdrant` runtime runs nodes on this machine's loopback (runtimes/qdrant.py);
# a runtime with nodes on other hosts would record their host with the ports.
NODE_HOST = "127.0.0.1"


def node_rows() -> tuple:
    """(cluster id, index, ready, http URL, grpc target) of every node of every
    `qdrant` cluster that has been given ports; ready = HEALTHY. One query, which
    the data plane repeats with each poll of the generation, so a node going
    down or coming back reaches the front without a key set reload."""
    from clusters.models import ClusterNode, NodeState, Runtime

    rows = (ClusterNode.objects.filter(cluster__runtime=Runtime.QDRANT, http_port__isnull=False)
            .order_by("cluster_id", "index").values_list("cluster_id", "index", "state", "http_port", "grpc_port"))
    return tuple(
        (str(cluster_id), index, state == NodeState.HEALTHY, f"http://{NODE_HOST}:{http}",
         f"{NODE_HOST}:{grpc}" if grpc else None)
        for cluster_id, index, state, http, grpc in rows
    )


def decrypt_master_key(encrypted: str) -> bytes:
    from clusters import crypto

    return crypto.decrypt(encrypted).encode("utf-8")


def database_key_rows():
    """(id, cluster id, expires_at, pepper id, digest) of every live database API key."""
    from apikeys.models import DatabaseApiKey

    return DatabaseApiKey.objects.live().values_list("id", "cluster_id", "expires_at", "pepper_id", "digest")


def admin_key_rows():
    """(id, cluster id, pepper id, digest, expires_at) of every live admin key."""
    from apikeys.models import AdminKey

    return AdminKey.objects.live().values_list("id", "cluster_id", "pepper_id", "digest", "expires_at")


def token_matches(key, token: str) -> bool:
    """The console's own check that `token` is the one it minted for `key` (its peppered digest)."""
    from apikeys.tokens import token_matches as matches

    return matches(key, token)


def record_last_used(kind: str, key_id: str, when, ip: str | None, *, interval_seconds: int) -> None:
    """Writes a key's last use unless one within `interval_seconds` is recorded already."""
    from apikeys.models import AdminKey, DatabaseApiKey

    model = {"database": DatabaseApiKey, "admin": AdminKey}[kind]
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=when - timedelta(seconds=interval_seconds))
    model.objects.filter(Q(id=key_id) & stale).update(last_used_at=when, last_used_ip=ip)


def embedded_collections(cluster_id) -> list[str]:
    """The names of an `embedded` cluster's collections as the data plane stores them, sorted.

    Read from the collections' records on disk (written atomically by the
    process that owns the cluster), so it needs neither a key nor a request.
    A cluster the data plane has never served has none. The console's one
    read of the data plane, here so that neither imports the other.
    """
    root = Path(settings.DATAPLANE_DATA_DIR) / "clusters" / str(cluster_id) / "collections"
    names = []
    for record in root.glob("*/collection.json"):
        try:
            names.append(json.loads(record.read_text())["name"])
        except (OSError, ValueError, KeyError):
            continue  # being written or removed right now
    return sorted(names)


def process_alive(pid: int) -> bool:
    """Whether a process of that pid exists (a socket left by a dead one is stale)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
