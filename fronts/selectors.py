"""The key set as the contract sends it to a front (shapes in keyset/wire.py),
waiting for a change to send (a long-poll), and the fronts as the operators'
page lists them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from fronts import rows
from fronts.changelog import CONTACT_STALE_SECONDS, channel, long_polls_now, long_polls_wait
from fronts.credentials import front_peer_token
from fronts.models import FrontCredential, KeySetChange
from keyset import wire

logger = logging.getLogger(__name__)


def _clusters(cluster_rows) -> list:
    """Cluster rows with the master key decrypted: the front verifies JWTs with it
    and holds no encryption key of the console's. One that cannot be decrypted
    is sent with none (the front refuses its keys, and knows it still exists)."""
    out = []
    for cluster_id, version, jwt_rbac, encrypted, runtime, *rest in cluster_rows:
        try:
            master_key = rows.decrypt_master_key(encrypted).decode("utf-8")
        except Exception:  # noqa: BLE001 - one undecryptable cluster must not hide the others
            logger.error("cannot decrypt the master key of cluster %s; the fronts refuse its keys", cluster_id)
            master_key = None
        out.append(wire.plain((cluster_id, version, jwt_rbac, master_key, runtime, *rest)))
    return out


def snapshot(front: FrontCredential) -> dict:
    """The whole key set, as `front` is to get it: with its own peer token."""
    # Where the log stands first: a change racing with this read has a later
    # id (the front's next poll applies it) or is a hole below it (a gap).
    token, pruned_below = rows.epoch()
    return {
        "epoch": [wire.plain(token), pruned_below],
        "recent": rows.recent_change_ids(wire.MAX_BEHIND),
        "peppers": {str(i): pepper for i, pepper in settings.API_KEY_PEPPERS.items()},
        "clusters": _clusters(rows.cluster_rows()),
        "database_keys": wire.plain(list(rows.database_key_rows())),
        "admin_keys": wire.plain(list(rows.admin_key_rows())),
        "nodes": wire.plain(rows.node_rows()),
        # Where the console publishes changes when REDIS_URL is set: a front with Redis wakes on it.
        "channel": channel(),
        "front": front.name,
        "peer_token": front_peer_token(front),
        "peers": [wire.peer_digest(front_peer_token(live)) for live in FrontCredential.objects.filter(
            revoked_at__isnull=True).only("id")],
    }


# A long-poll is woken when a change commits (fronts.changelog's waker) and
# looks at the log itself every LOOK_SECONDS besides (a change made where
# neither the marker nor Redis reaches); at the nodes (their rows change
# without a log entry) as often. It notes the front's contact every
# TOUCH_SECONDS, well inside CONTACT_STALE_SECONDS, so the console keeps
# waiting for a front that is holding a long-poll.
LOOK_SECONDS = 1.0
TOUCH_SECONDS = CONTACT_STALE_SECONDS / 2.5

_held = 0
_held_lock = threading.Lock()


def _something_new(after: int, also: list[int]) -> bool:
    """A change after `after` or among `also`; or `after` gone from the log (pruned, flushed)."""
    if KeySetChange.objects.filter(Q(id__gt=after) | Q(id__in=also)).exists():
        return True
    return after > 0 and not KeySetChange.objects.filter(id=after).exists()


def changes_wait(*, after: int, also: list[int], nodes: str | None, seconds: float,
                 still_in_contact: Callable[[], bool]) -> None:
    """Returns once GET changes has something to tell a front that applied
    `after` and holds nodes of digest `nodes`, or after `seconds` (a
    long-poll, keyset/wire.py). `still_in_contact` notes the front's contact
    and says whether its credential is still live (False: answer now, it is
    refused at its next request). Returns at once when this process already
    holds settings.KEYSET_LONG_POLLS of them: each holds a thread, which the
    console's pages need too."""
    global _held
    with _held_lock:
        if _held >= settings.KEYSET_LONG_POLLS:
            return
        _held += 1
    try:
        _wait(after, also, nodes, min(seconds, wire.MAX_WAIT_SECONDS), still_in_contact)
    finally:
        with _held_lock:
            _held -= 1


def _wait(after, also, nodes, seconds, still_in_contact) -> None:
    now = time.monotonic()
    deadline, look_at, touch_at = now + seconds, now, now + TOUCH_SECONDS
    woken = False
    while True:
        since = long_polls_now()
        now = time.monotonic()
        if woken or now >= look_at:
            if _something_new(after, also):
                return
            if nodes is not None and wire.nodes_digest(rows.node_rows()) != nodes:
                return
            look_at = now + LOOK_SECONDS
        if woken or now >= touch_at:  # woken by no change: a revocation, say
            if not still_in_contact():
                return
            touch_at = now + TOUCH_SECONDS
        if now >= deadline:
            return
        woken = long_polls_wait(since, max(0.0, min(look_at, deadline, touch_at) - now))


def changes(after: int, also: list[int]) -> dict:
    token, pruned_below = rows.epoch()
    entries = rows.changes_since(after, also, wire.MAX_BEHIND)
    answer = {"epoch": [wire.plain(token), pruned_below], "changes": wire.plain(entries),
              "nodes": wire.plain(rows.node_rows())}
    new = [entry for entry in entries if entry[0] != after]
    if len(new) > wire.MAX_BEHIND or any(kind == "all" for _, kind, _, _ in new):
        return answer  # the front loads a snapshot
    clusters = {cluster_id for _, kind, cluster_id, _ in new if kind == "cluster"}
    keys = {"database": set(), "admin": set()}
    for _, kind, cluster_id, key_id in new:
        if kind in keys and cluster_id not in clusters:
            keys[kind].add(key_id)
    database_keys, admin_keys = [], []
    if clusters:
        database_keys += rows.database_key_rows(clusters=clusters)
        admin_keys += rows.admin_key_rows(clusters=clusters)
    if keys["database"]:
        database_keys += rows.database_key_rows(ids=keys["database"])
    if keys["admin"]:
        admin_keys += rows.admin_key_rows(ids=keys["admin"])
    answer |= {
        "clusters": _clusters(rows.cluster_rows(ids=clusters)) if clusters else [],
        "database_keys": wire.plain(database_keys),
        "admin_keys": wire.plain(admin_keys),
    }
    return answer


@dataclass(frozen=True)
class FrontProcess:
    """One process of a front as the operators' page shows it."""

    instance: str
    address: str | None
    last_contact_at: datetime
    applied_sequence: int
    behind: int  # changes made since the one it applied
    connected: bool  # spoke within CONTACT_STALE_SECONDS: the console waits for its acknowledgements


def fronts_listed() -> tuple[list, int]:
    """Every front credential, newest-contact processes first, and the console's latest change id."""
    latest = KeySetChange.objects.order_by("-id").values_list("id", flat=True).first() or 0
    stale_before = timezone.now() - timedelta(seconds=CONTACT_STALE_SECONDS)
    fronts = list(FrontCredential.objects.order_by("revoked_at", "name").prefetch_related("instances"))
    for front in fronts:
        front.processes = [
            FrontProcess(instance=p.instance, address=p.address, last_contact_at=p.last_contact_at,
                         applied_sequence=p.applied_sequence, behind=max(0, latest - p.applied_sequence),
                         connected=p.last_contact_at > stale_before)
            for p in sorted(front.instances.all(), key=lambda p: p.last_contact_at, reverse=True)
        ]
    return fronts, latest
