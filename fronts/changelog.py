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

The handshake's wire (socket names, the request lines, asking every socket at
once) is the contract's: keyset/handshake.py.
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fronts.models import FrontInstance, KeySetChange, KeySetEpoch
from keyset.handshake import GONE, REFRESH, ask_all

logger = logging.getLogger(__name__)


def channel() -> str:
    """The Redis channel of this key set. Pub/sub ignores Redis's database
    numbers, so two consoles sharing one Redis server (on db 0 and db 1, say)
    would wake each other's data planes: the channel names the database the
    key set lives in."""
    database = settings.DATABASES["default"]
    return f"keyset:{database['ENGINE'].rsplit('.', 1)[-1]}:{database['NAME']}"


_redis = None
_collector: contextvars.ContextVar[Propagation | None] = contextvars.ContextVar("keyset_propagation", default=None)


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


def keys_changed(*, key=None, cluster=None, confirm: bool = True) -> None:
    """Records, in the caller's transaction, that the key set changed; after
    commit tells the data plane (the handshake, and Redis when configured).

    Say what changed and every process re-reads only that:

    - `key=`: that one key (a DatabaseApiKey or an AdminKey) was created,
      revoked or changed in any field the data plane holds;
    - `cluster=` (a Cluster or its id): the cluster itself (created, deleted,
      jwt_rbac, master key, runtime) or many of its keys at once;
    - neither: something changed and the processes find out by loading the
      whole key set, which costs each of them time in the number of keys.

    `confirm=False`: the processes are told but not waited for (a front's
    claim of an embedded cluster: the claimer has its answer, the others
    learn it with their next poll or ask the console themselves).

    One insert into the change log and nothing else: no row is updated, so
    concurrent writes wait on nobody (the epoch row is inserted only when it
    is missing, and ON CONFLICT DO NOTHING takes no lock on an existing row).
    """
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
    sequence = entry.id
    transaction.on_commit(lambda: _after_commit(collector, sequence, confirm), robust=True)


# Entries older than this may be pruned (fronts.tasks): a data plane process
# further behind than that loads the whole key set instead.
CHANGES_RETENTION = timedelta(minutes=10)


def changes_prune(*, before) -> int:
    """Deletes the change log's entries made before `before`, except the newest
    (a process finds the last entry it applied still there while nothing
    changes); the epoch records how far, so a process that had not applied
    them loads the whole key set."""
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


def _after_commit(collector: Propagation | None, sequence: int, confirm_it: bool) -> None:
    long_polls_wake()
    if settings.REDIS_URL:
        _publish()
    seconds = settings.DATAPLANE_CONFIRM_SECONDS
    if not seconds or not confirm_it:
        return
    started = time.monotonic()
    outcome = confirm(run_dir=settings.DATAPLANE_RUN_DIR, timeout=seconds)
    outcome.merge(await_acks(sequence=sequence, timeout=max(0.0, seconds - (time.monotonic() - started))))
    if outcome.gone:
        logger.info("skipped the sockets of data plane process(es) %s, which are gone", ", ".join(outcome.gone))
    if outcome.lagging:
        logger.warning(
            "key set change committed; data plane process(es) %s did not confirm within %g s: "
            "it may take a moment to reach them", ", ".join(outcome.lagging), seconds,
        )
    if collector is not None:
        collector.merge(outcome)


# A front process that has not spoken for this long is not waited for: it
# polls several times a second (and notes its contact at least once a second),
# so it is gone, or cut off from the console.
CONTACT_STALE_SECONDS = 5.0
ACK_POLL_SECONDS = 0.02


def handshaken(instance: str) -> bool:
    """Whether the Unix-socket handshake (confirm) already asked this process:
    one on this host answering under DATAPLANE_RUN_DIR (its instance names
    its host and its socket, dataplane/console.py)."""
    host, _, path = instance.partition(":")
    return host == socket.gethostname() and Path(path).parent == Path(settings.DATAPLANE_RUN_DIR)


def await_acks(*, sequence: int, timeout: float) -> Propagation:
    """Waits up to `timeout` until every front process in contact (on any host)
    has acknowledged change `sequence` (keyset/wire.py's X-Front-Applied)."""
    deadline = time.monotonic() + timeout
    waited: set[str] = set()
    while True:
        recent = timezone.now() - timedelta(seconds=CONTACT_STALE_SECONDS)
        pending = {
            str(instance) for instance in
            FrontInstance.objects.filter(last_contact_at__gt=recent, credential__revoked_at__isnull=True,
                                         applied_sequence__lt=sequence).select_related("credential")
            if not handshaken(instance.instance)
        }
        waited |= pending
        if not pending or time.monotonic() >= deadline:
            return Propagation(confirmed=len(waited - pending), lagging=sorted(pending))
        time.sleep(ACK_POLL_SECONDS)


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




# Touched after every change this host's console processes commit (web
# workers, Celery): a long-poll in another process of this host sees it with
# a stat() every MARKER_LOOK_SECONDS, not a query.
MARKER_LOOK_SECONDS = 0.05


def _marker() -> Path:
    return Path(settings.VAR_DIR) / "keyset-changed"


def _marker_stamp() -> int | None:
    try:
        return _marker().stat().st_mtime_ns
    except OSError:
        return None


class _Waker:
    """Wakes the contract's long-polls (fronts/selectors.changes_wait) held
    by this process: at once for a change this process committed; within
    MARKER_LOOK_SECONDS for one another process on this host committed (the
    marker file); on the Redis channel's message for one committed on another
    host (when REDIS_URL is set: one subscription per process, not one per
    long-poll). The long-polls look at the log itself once a second besides."""

    def __init__(self):
        self._changed = threading.Condition()
        self.generation = 0
        self._listening = False

    def wake(self, *, here: bool = False) -> None:
        if here:
            try:
                now = time.time_ns()
                _marker().touch()
                os.utime(_marker(), ns=(now, now))
            except OSError as exc:  # the log itself is looked at every second
                logger.warning("cannot touch %s: %s", _marker(), exc)
        with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def now(self) -> tuple[int, int | None]:
        return self.generation, _marker_stamp()

    def wait(self, since: tuple[int, int | None], timeout: float) -> bool:
        """Returns when woken after `since` (a `now()`: True), or after `timeout` seconds (False)."""
        if settings.REDIS_URL and not self._listening:
            self._listen()
        (generation, stamp), deadline = since, time.monotonic() + timeout
        with self._changed:
            while self.generation == generation:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(MARKER_LOOK_SECONDS, remaining))
                if _marker_stamp() != stamp:
                    return True
            return True

    def _listen(self) -> None:
        with self._changed:
            if self._listening:
                return
            self._listening = True
        threading.Thread(target=self._subscribe, name="keyset-long-polls", daemon=True).start()

    def _subscribe(self) -> None:
        import redis

        while (url := settings.REDIS_URL) is not None:
            try:
                pubsub = redis.Redis.from_url(url, socket_timeout=None,
                                              socket_connect_timeout=2).pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel())
                self.wake()  # a change may have been missed while (re)connecting
                for _message in pubsub.listen():
                    self.wake()
            except Exception as exc:  # noqa: BLE001 - the long-polls look at the log meanwhile
                logger.warning("Redis subscription for the fronts' long-polls failed (%s); retrying", exc)
            time.sleep(1.0)
        with self._changed:
            self._listening = False  # no Redis any more (settings changed, in tests): the next wait starts anew


_waker = _Waker()


def long_polls_wake() -> None:
    """Answers the long-polls of this host's console processes now (they look
    at the log and the credential); those of other hosts through Redis."""
    _waker.wake(here=True)


def long_polls_now() -> tuple:
    """Where the wake-ups stand: wait from here (read before looking at the log)."""
    return _waker.now()


def long_polls_wait(since: tuple, timeout: float) -> bool:
    """Waits until woken after `since` (True) or `timeout` (False)."""
    return _waker.wait(since, timeout)


def publish() -> None:
    """Wakes every console process's long-polls."""
    long_polls_wake()
    if settings.REDIS_URL:
        _publish()
