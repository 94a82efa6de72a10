"""The key set as the contract sends it to a front (shapes in keyset/wire.py)."""

from __future__ import annotations

import logging

from django.conf import settings

from fronts import rows
from fronts.changelog import channel
from keyset import wire

logger = logging.getLogger(__name__)


def _clusters(cluster_rows) -> list:
    """Cluster rows with the master key decrypted: the front verifies JWTs with it
    and holds no encryption key of the console's. One that cannot be decrypted
    is sent with none (the front refuses its keys, and knows it still exists)."""
    out = []
    for cluster_id, version, jwt_rbac, encrypted, runtime, tls, ca_certificate in cluster_rows:
        try:
            master_key = rows.decrypt_master_key(encrypted).decode("utf-8")
        except Exception:  # noqa: BLE001 - one undecryptable cluster must not hide the others
            logger.error("cannot decrypt the master key of cluster %s; the fronts refuse its keys", cluster_id)
            master_key = None
        out.append(wire.plain((cluster_id, version, jwt_rbac, master_key, runtime, tls, ca_certificate)))
    return out


def snapshot() -> dict:
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
    }


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
