"""How the console tells the data plane that the key set changed, and waits for it.

The console's services call `keys_changed()` whenever a database API key or an
admin key is created, deleted, rolled, disabled or enabled, a cluster is created or deleted, turns
jwt_rbac on, or changes its master key, naming the key or the cluster. It
appends one entry to the change log (`KeySetChange`) inside the caller's
transaction (so the entry commits, or rolls back, with the change). After
commit it

- publishes on Redis when REDIS_URL is set (wakes every process at once), and
- asks every live data plane process to catch up now and waits for each to
  say it has (read-your-writes): a key works on the first request after the
  create response, and is dead on the first request after the delete response.

Why a change log and not per-row versions: a change must reach the data
plane as "this key" or "this cluster" whatever was written, and some writes
leave no row to carry a version (a cluster's delete removes its rows and its
keys' rows; `.update()`s across many keys bypass any save hook). An entry
names what to re-read; the process re-reads that row (by primary key) or that
cluster's keys (by the cluster index), so applying a change costs the same at
a thousand keys as at a hundred thousand. An insert with a sequence id is the
only write, so key writes in different clusters never wait on each other, as
they did on the one counter row this replaces (each held its row lock until
commit). Fields added to a key's snapshot need nothing here: the entry names
the key, the process re-reads the whole row (dataplane/keystore.py converts it
in one function per kind). A process that cannot tell what changed (an entry
that names nothing, a log pruned past it, a new epoch: a flushed database)
loads the whole key set, as it does at start.

The handshake: each data plane process listens on `run/<pid>.keyset` under
DATAPLANE_RUN_DIR and removes it when it stops. The console connects to every
such socket at once, sends one line `{"op": "refresh"}`, and waits up to
DATAPLANE_CONFIRM_SECONDS for `{"ok": true, ...}`. The process catches up under
the lock its background refresher takes, reading the log after the request
came in, so a read that began before the commit cannot count as the
confirmation. A socket whose process is gone (kill
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

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


def keys_changed(*, key=None, cluster=None) -> None:
    """Records, in the caller's transaction, that the key set changed; after
    commit tells the data plane (the handshake, and Redis when configured).

    Say what changed and every process re-reads only that:

    - `key=`: that one key (a DatabaseApiKey or an AdminKey) was created,
      revoked or changed in any field the data plane holds;
    - `cluster=` (a Cluster or its id): the cluster itself (created, deleted,
      jwt_rbac, master key, runtime) or many of its keys at once;
    - neither: something changed and the processes find out by loading the
      whole key set, which costs each of them time in the number of keys.

    One insert into the change log and nothing else: no row is updated, so
    concurrent writes wait on nobody (the epoch row is inserted only when it
    is missing, and ON CONFLICT DO NOTHING takes no lock on an existing row).
    """
    from keyset.models import KeySetChange, KeySetEpoch

    if key is not None:
        entry = KeySetChange(kind=key.kind, cluster_id=key.cluster_id, key_id=key.pk)
    elif cluster is not None:
        entry = KeySetChange(kind=KeySetChange.Kind.CLUSTER, cluster_id=getattr(cluster, "pk", cluster))
    else:
        entry = KeySetChange(kind=KeySetChange.Kind.ALL)
    entry.changed_at = timezone.now()
    with transaction.atomic():
        KeySetEpoch.objects.bulk_create([KeySetEpoch(id=KeySetEpoch.ROW_ID)], ignore_conflicts=True)
        entry.save(force_insert=True)
    collector = _collector.get()
    transaction.on_commit(lambda: _after_commit(collector), robust=True)


# Entries older than this may be pruned (keyset.tasks): a data plane process
# further behind than that loads the whole key set instead.
CHANGES_RETENTION = timedelta(minutes=10)


def changes_prune(*, before) -> int:
    """Deletes the change log's entries made before `before`, except the newest
    (a process finds the last entry it applied still there while nothing
    changes); the epoch records how far, so a process that had not applied
    them loads the whole key set."""
    from keyset.models import KeySetChange, KeySetEpoch

    with transaction.atomic():
        newest = KeySetChange.objects.order_by("-id").values_list("id", flat=True).first()
        last = (KeySetChange.objects.filter(changed_at__lt=before, id__lt=newest or 0).order_by("-id")
                .values_list("id", flat=True).first())
        if last is None:
            return 0
        KeySetEpoch.objects.bulk_create([KeySetEpoch(id=KeySetEpoch.ROW_ID)], ignore_conflicts=True)
        KeySetEpoch.objects.filter(id=KeySetEpoch.ROW_ID).update(pruned_below=last + 1)
        deleted, _ = KeySetChange.objects.filter(id__lte=last).delete()
    return deleted


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


def epoch() -> tuple:
    """(token, pruned_below) of the key set's history; (None, 0) when the row is gone (a flushed database)."""
    from keyset.models import KeySetEpoch

    row = KeySetEpoch.objects.filter(id=KeySetEpoch.ROW_ID).values_list("token", "pruned_below").first()
    return row or (None, 0)


def recent_change_ids(limit: int) -> list[int]:
    """The ids of the last `limit` entries of the change log, newest first."""
    from keyset.models import KeySetChange

    return list(KeySetChange.objects.order_by("-id").values_list("id", flat=True)[:limit])


def changes_since(after: int, also: Iterable[int] = (), limit: int = 1000) -> list[tuple]:
    """(id, kind, cluster id, key id) of the entry `after` itself (so the caller
    sees that the log still holds it), of the entries after it and of those
    among `also` (ids skipped earlier: not committed yet when last read),
    oldest first, at most `limit` + 2 (more than `limit` new: too far behind)."""
    from keyset.models import KeySetChange

    condition = Q(id__gte=after)
    also = list(also)
    if also:
        condition |= Q(id__in=also)
    return list(KeySetChange.objects.filter(condition).order_by("id")
                .values_list("id", "kind", "cluster_id", "key_id")[: limit + 2])


def cluster_rows(ids: Iterable | None = None):
    """(id, version, jwt_rbac, encrypted master key, runtime) of every cluster, or of those in `ids`."""
    from clusters.models import Cluster

    clusters = Cluster.objects.all() if ids is None else Cluster.objects.filter(id__in=list(ids))
    return clusters.values_list("id", "version", "jwt_rbac", "master_key_encrypted", "runtime")


# The `qdrant` runtime runs nodes on this machine's loopback (runtimes/qdrant.py);
# a runtime with nodes on other hosts would record their host with the ports.
NODE_HOST = "127.0.0.1"


def node_rows() -> tuple:
    """(cluster id, index, ready, http URL, grpc target) of every node of every
    `qdrant` cluster that has been given ports; ready = HEALTHY. One query, which
    the data plane repeats with each poll of the change log, so a node going
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


# What the front checks per request besides the secret, at the end of each
# key's row: disabled (bool), retires_at (the deadline of a rolled key's old
# secret, or None), allowed networks (CIDR strings; empty: anywhere).
LIFECYCLE_FIELDS = ("disabled", "retires_at", "allowed_networks")


def _with_lifecycle(keys, *fields: str):
    from django.db.models import BooleanField, ExpressionWrapper

    disabled = ExpressionWrapper(Q(disabled_at__isnull=False), output_field=BooleanField())
    return keys.annotate(disabled=disabled).values_list(*fields, *LIFECYCLE_FIELDS)


def _live(model, ids: Iterable | None, clusters: Iterable | None):
    keys = model.objects.live()
    if ids is not None:
        keys = keys.filter(id__in=list(ids))
    if clusters is not None:
        keys = keys.filter(cluster_id__in=list(clusters))
    return keys


def database_key_rows(ids: Iterable | None = None, clusters: Iterable | None = None):
    """(id, cluster id, expires_at, pepper id, digest, *LIFECYCLE_FIELDS) of every
    live database API key, or of the live ones among `ids`, or of `clusters`. An
    id asked for and not answered is not live (revoked, or its cluster deleted)."""
    from apikeys.models import DatabaseApiKey

    return _with_lifecycle(_live(DatabaseApiKey, ids, clusters), "id", "cluster_id", "expires_at", "pepper_id", "digest")


def admin_key_rows(ids: Iterable | None = None, clusters: Iterable | None = None):
    """(id, cluster id, pepper id, digest, expires_at, *LIFECYCLE_FIELDS) of every live
    admin key; `ids` and `clusters` as for database_key_rows."""
    from apikeys.models import AdminKey

    return _with_lifecycle(_live(AdminKey, ids, clusters), "id", "cluster_id", "pepper_id", "digest", "expires_at")


def record_last_used(kind: str, key_id: str, when, ip: str | None, protocol: str, *, interval_seconds: int) -> None:
    """Writes a key's last use ("rest" or "grpc", from `ip`) unless one within
    `interval_seconds` from the same address over the same protocol is recorded
    already: a use from somewhere new (say, a refused address) always shows.
    Nor over a later use: another process may have written a newer one first."""
    from apikeys.models import AdminKey, DatabaseApiKey

    model = {"database": DatabaseApiKey, "admin": AdminKey}[kind]
    same_ip = Q(last_used_ip__isnull=True) if ip is None else Q(last_used_ip=ip)
    recent = Q(last_used_at__gt=when - timedelta(seconds=interval_seconds)) & same_ip & Q(last_used_protocol=protocol)
    newer = Q(last_used_at__gte=when)
    model.objects.filter(id=key_id).exclude(recent | newer).update(
        last_used_at=when, last_used_ip=ip, last_used_protocol=protocol
    )


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
