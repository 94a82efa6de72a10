"""The key set: what the data plane knows of clusters and keys, and keeping it fresh.

A `KeySet` is a snapshot loaded from the console's database through
fronts.rows, the only way the data plane reads the console: per cluster
its master key, jwt_rbac and version; the live database API keys (by `jti`);
the admin keys (by digest). `KeyStore` holds the current snapshot and keeps
it in step with the console's change log (fronts.models.KeySetChange):

- the console's services call `fronts.changelog.keys_changed()`, which appends
  an entry naming what changed (a key, a cluster) in the same transaction and,
  after commit, asks every process to catch up at once (dataplane/control.py
  answers) and, when REDIS_URL is set, publishes;
- a background thread reads the entries after the last one it applied every
  DATAPLANE_POLL_SECONDS (with Redis, also on the message) and re-reads only
  the rows they name: a key by its id, a cluster with its keys. The cost of a
  change does not grow with the number of keys;
- it loads the whole key set when it cannot tell what changed: at start, an
  entry that names nothing, more than MAX_BEHIND entries to apply, a log
  pruned past what it applied, a new epoch (a database flushed or restored:
  read when the last entry applied is gone from the log, and every
  EPOCH_CHECK_SECONDS),
  and every DATAPLANE_RELOAD_SECONDS for a change made without the hook
  (e.g. in a shell).

Entry ids come from a sequence, so a transaction that commits after a later
one leaves a hole below the last id applied: those ids are remembered as gaps
and asked for again with every poll for GAP_SECONDS (longer than any key
write's transaction), so a slow commit is still seen.

A key row becomes a snapshot entry in one function per kind (cluster_entry,
database_key_entry, admin_key_entry), the same for a full load and a change.

When the database cannot be reached the last snapshot stays in force: the
data plane keeps serving the keys it knew and never admits one it has not seen.
A token that is in no snapshot is refused from memory: no request reads the
database (`Queries` counts every query the process makes, to prove it).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.backends.signals import connection_created

from fronts import rows as console_rows
from fronts.changelog import channel
from keyset.digest import digest as keyset_digest

logger = logging.getLogger(__name__)

# Verified tokens kept per snapshot; past this the cache starts over. Only
# tokens that passed verification get in, and minting one takes a master key.
TOKEN_CACHE_SIZE = 50_000


@dataclass(frozen=True, slots=True)
class ClusterEntry:
    id: str
    version: str  # without the leading "v", as Qdrant reports it
    jwt_rbac: bool
    master_key: bytes = field(repr=False)
    runtime: str = "embedded"  # "qdrant": the front forwards to the cluster's nodes

    @property
    def forwarded(self) -> bool:
        return self.runtime == "qdrant"


@dataclass(frozen=True, slots=True)
class Nodes:
    """Where the front sends a `qdrant` cluster's requests: its ready nodes."""

    http: tuple[str, ...] = ()  # base URLs
    grpc: tuple[str, ...] = ()  # host:port targets
    total: int = 0  # nodes with ports, ready or not


NO_NODES = Nodes()


def nodes_by_cluster(rows) -> dict[str, Nodes]:
    http: dict[str, list[str]] = {}
    grpc: dict[str, list[str]] = {}
    total: dict[str, int] = {}
    for cluster_id, _index, ready, http_url, grpc_target in rows:
        total[cluster_id] = total.get(cluster_id, 0) + 1
        if ready:
            http.setdefault(cluster_id, []).append(http_url)
            if grpc_target:
                grpc.setdefault(cluster_id, []).append(grpc_target)
    return {c: Nodes(tuple(http.get(c, ())), tuple(grpc.get(c, ())), n) for c, n in total.items()}


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A live key: a database API key (`kind="database"`) or an admin key."""

    id: str
    cluster_id: str
    kind: str
    expires_at: float | None  # seconds since the epoch
    # For a database key: the HMAC of the token the console minted, so the
    # front admits that token only, not another one made with the master key
    # (checked by keyset.digest.matches, as the console checks keys).
    pepper_id: int | None = None
    digest: str | None = field(default=None, repr=False)
    # Checked per request by dataplane.auth.refusal: a disabled key is refused,
    # a rolled key's old secret dies at `retires_at` (seconds since the epoch,
    # against dataplane.clock), and `networks` (empty: any) bound the client
    # address, each as (IP version, network address as int, netmask as int)
    # so the check is integer arithmetic.
    disabled: bool = False
    retires_at: float | None = None
    networks: tuple = ()


def _lifecycle(disabled: bool, retires_at, allowed_networks) -> dict:
    """KeyEntry's lifecycle fields from the end of a key's row (fronts.rows.LIFECYCLE_FIELDS)."""
    return {
        "disabled": bool(disabled),
        "retires_at": retires_at.timestamp() if retires_at else None,
        "networks": networks_of(allowed_networks or ()),
    }


def networks_of(cidrs) -> tuple:
    """CIDR strings as KeyEntry.networks holds them: (version, network as int, netmask as int)."""
    return tuple((n.version, int(n.network_address), int(n.netmask)) for n in map(ipaddress.ip_network, cidrs))


def cluster_entry(row, master_key: bytes) -> ClusterEntry:
    """One row of fronts.rows.cluster_rows as the snapshot holds it."""
    cluster_id, version, jwt_rbac, _encrypted, runtime = row
    return ClusterEntry(id=str(cluster_id), version=version.lstrip("v"), jwt_rbac=jwt_rbac, master_key=master_key,
                        runtime=runtime)


def database_key_entry(row, cluster_id: str) -> KeyEntry:
    """One row of fronts.rows.database_key_rows; `cluster_id` is the row's, as a shared string."""
    key_id, _cluster, expires_at, pepper_id, digest, *lifecycle = row
    return KeyEntry(str(key_id), cluster_id, "database", expires_at.timestamp() if expires_at else None,
                    pepper_id, digest, **_lifecycle(*lifecycle))


def admin_key_entry(row, cluster_id: str) -> tuple[tuple[int, str], KeyEntry]:
    """One row of fronts.rows.admin_key_rows, with the (pepper id, digest) it is found by."""
    key_id, _cluster, pepper_id, digest, expires_at, *lifecycle = row
    entry = KeyEntry(str(key_id), cluster_id, "admin", expires_at.timestamp() if expires_at else None,
                     **_lifecycle(*lifecycle))
    return (int(pepper_id), digest), entry


UNLOADED = object()  # the epoch of a snapshot never loaded from the database


@dataclass(slots=True)
class KeySet:
    # (the last change log id applied, the epoch's token): what the handshake reports.
    generation: tuple
    clusters: dict[str, ClusterEntry]
    database_keys: dict[str, KeyEntry]  # by id (the JWT's jti)
    admin_keys: dict[tuple[int, str], KeyEntry]  # by (pepper id, hex digest)
    # Encoded once per snapshot: admin_key_for digests a token under each.
    peppers: dict[int, bytes] = field(repr=False)
    loaded_at: float = 0.0
    # cluster id -> (ciphertext, decrypted master key), so a load or a change
    # decrypts only what is new or changed (Fernet costs ~50 µs a cluster).
    ciphertexts: dict[str, tuple[str, bytes]] = field(default_factory=dict, repr=False)
    # token -> Grant, filled by dataplane.auth. A grant counts only while its
    # key is the very entry it was verified against, so replacing or dropping
    # an entry retires its grants; a cluster's change empties the whole cache.
    tokens: dict = field(default_factory=dict, repr=False)
    # The ready nodes of each `qdrant` cluster. Replaced whole (one attribute
    # assignment) when the nodes' rows change, leaving keys and tokens alone.
    nodes: dict[str, Nodes] = field(default_factory=dict)
    node_rows: tuple = ()
    # What a change needs to find a cluster's keys and an admin key by its id.
    cluster_database_keys: dict[str, set[str]] = field(default_factory=dict, repr=False)
    cluster_admin_keys: dict[str, set[str]] = field(default_factory=dict, repr=False)
    admin_lookup: dict[str, tuple[int, str]] = field(default_factory=dict, repr=False)
    # Change log ids below the last applied that were not committed when read: id -> monotonic time first missed.
    gaps: dict[int, float] = field(default_factory=dict, repr=False)
    epoch_checked: float = 0.0  # monotonic time the epoch was last read
    # Every cluster the console has (those whose master key cannot be decrypted
    # too), and those this process has seen deleted since it started: the engine
    # removes the storage of a cluster that is gone (Engine.remove_deleted).
    # Replaced whole, like `clusters`: the event loop reads them.
    cluster_ids: frozenset[str] = frozenset()
    deleted: frozenset[str] = frozenset()

    @property
    def watermark(self) -> int:
        return self.generation[0]

    @property
    def epoch(self):
        """The token of the key set's epoch this snapshot was loaded under; None before any load."""
        token = self.generation[1]
        return None if token is UNLOADED else token

    @property
    def has_nodes(self) -> bool:
        return any(cluster.forwarded for cluster in self.clusters.values())

    def nodes_of(self, cluster_id: str) -> Nodes:
        return self.nodes.get(cluster_id, NO_NODES)

    @classmethod
    def empty(cls) -> KeySet:
        return cls(generation=(-1, UNLOADED), clusters={}, database_keys={}, admin_keys={}, peppers={})

    def admin_key_for(self, token: str) -> tuple[tuple[int, str], KeyEntry] | None:
        """The admin key whose digest is HMAC(pepper, token) under any configured pepper, with its index key."""
        if not self.admin_keys:
            return None
        for pepper_id, pepper in self.peppers.items():
            digest = keyset_digest(pepper, token)
            # Looked up by a keyed digest of the secret, not by the secret: how
            # long the lookup takes says nothing about any stored key.
            entry = self.admin_keys.get((pepper_id, digest))
            if entry is not None:
                return (pepper_id, digest), entry
        return None

    # Writes, by the refresher alone (under KeyStore's lock). Requests read
    # these dicts from other threads, so each write is one dict operation, and
    # `clusters`, which requests also iterate, is replaced instead of changed.

    def _decrypted(self, row) -> ClusterEntry | None:
        cluster_id, encrypted = str(row[0]), row[3]
        known = self.ciphertexts.get(cluster_id)
        if known is not None and known[0] == encrypted:
            master_key = known[1]
        else:
            try:
                master_key = console_rows.decrypt_master_key(encrypted)
            except Exception:  # noqa: BLE001 - one undecryptable cluster must not hide the others
                logger.error("cannot decrypt the master key of cluster %s; its keys are refused", cluster_id)
                return None
        self.ciphertexts[cluster_id] = (encrypted, master_key)
        return cluster_entry(row, master_key)

    def put_cluster(self, row) -> None:
        entry = self._decrypted(row)
        if entry is None:
            self.drop_cluster(str(row[0]), keys=False)
        else:
            self.clusters = self.clusters | {entry.id: entry}

    def drop_cluster(self, cluster_id: str, *, keys: bool = True) -> None:
        if keys:
            self.replace_keys(cluster_id, (), ())
        if cluster_id in self.clusters:
            self.clusters = {id: entry for id, entry in self.clusters.items() if id != cluster_id}
        self.ciphertexts.pop(cluster_id, None)

    def _cluster_id(self, value) -> str:
        """The cluster's id as the string its ClusterEntry holds: one copy for all its keys."""
        cluster_id = str(value)
        entry = self.clusters.get(cluster_id)
        return entry.id if entry is not None else cluster_id

    def put_database_key(self, row) -> None:
        entry = database_key_entry(row, self._cluster_id(row[1]))
        self.database_keys[entry.id] = entry
        self.cluster_database_keys.setdefault(entry.cluster_id, set()).add(entry.id)

    def put_admin_key(self, row) -> None:
        lookup, entry = admin_key_entry(row, self._cluster_id(row[1]))
        previous = self.admin_lookup.get(entry.id)
        if previous is not None and previous != lookup:
            self.admin_keys.pop(previous, None)
        self.admin_keys[lookup] = entry
        self.admin_lookup[entry.id] = lookup
        self.cluster_admin_keys.setdefault(entry.cluster_id, set()).add(entry.id)

    def drop_database_key(self, key_id: str) -> None:
        entry = self.database_keys.pop(key_id, None)
        if entry is not None:
            self.cluster_database_keys.get(entry.cluster_id, set()).discard(key_id)

    def drop_admin_key(self, key_id: str) -> None:
        lookup = self.admin_lookup.pop(key_id, None)
        entry = self.admin_keys.pop(lookup, None) if lookup is not None else None
        if entry is not None:
            self.cluster_admin_keys.get(entry.cluster_id, set()).discard(key_id)

    def replace_keys(self, cluster_id: str, database_rows, admin_rows) -> None:
        """Makes the cluster's keys exactly these rows."""
        database_rows, admin_rows = list(database_rows), list(admin_rows)
        keep = {str(row[0]) for row in database_rows}
        for key_id in list(self.cluster_database_keys.get(cluster_id, ())):
            if key_id not in keep:
                self.drop_database_key(key_id)
        keep = {str(row[0]) for row in admin_rows}
        for key_id in list(self.cluster_admin_keys.get(cluster_id, ())):
            if key_id not in keep:
                self.drop_admin_key(key_id)
        for row in database_rows:
            self.put_database_key(row)
        for row in admin_rows:
            self.put_admin_key(row)

    def apply(self, changes: list[tuple]) -> None:
        """Re-reads what the change log entries name and puts it in this snapshot:
        at most five queries, each by primary key or by cluster."""
        clusters = {str(cluster_id) for _, kind, cluster_id, _ in changes if kind == "cluster"}
        keys = {"database": set(), "admin": set()}
        for _, kind, cluster_id, key_id in changes:
            if kind in keys and str(cluster_id) not in clusters:
                keys[kind].add(str(key_id))
        if clusters:
            rows = {str(row[0]): row for row in console_rows.cluster_rows(ids=clusters)}
            database_rows: dict[str, list] = {}
            admin_rows: dict[str, list] = {}
            for row in console_rows.database_key_rows(clusters=rows):
                database_rows.setdefault(str(row[1]), []).append(row)
            for row in console_rows.admin_key_rows(clusters=rows):
                admin_rows.setdefault(str(row[1]), []).append(row)
            for cluster_id in clusters:
                if cluster_id in rows:
                    self.put_cluster(rows[cluster_id])
                    self.replace_keys(cluster_id, database_rows.get(cluster_id, ()), admin_rows.get(cluster_id, ()))
                else:  # deleted: its keys first, so none is ever found without its cluster
                    self.drop_cluster(cluster_id)
            gone = clusters - set(rows)
            self.cluster_ids = (self.cluster_ids | set(rows)) - gone
            self.deleted = self.deleted | gone
            # Tokens were verified with the old master key and jwt_rbac.
            self.tokens = {}
        if keys["database"]:
            found = list(console_rows.database_key_rows(ids=keys["database"]))
            for row in found:
                self.put_database_key(row)
            for key_id in keys["database"] - {str(row[0]) for row in found}:
                self.drop_database_key(key_id)
        if keys["admin"]:
            found = list(console_rows.admin_key_rows(ids=keys["admin"]))
            for row in found:
                self.put_admin_key(row)
            for key_id in keys["admin"] - {str(row[0]) for row in found}:
                self.drop_admin_key(key_id)


# More entries than this to apply: a full load is cheaper than catching up.
MAX_BEHIND = 1000
# How long an id skipped in the log is asked for again: longer than any key write's transaction.
GAP_SECONDS = 300.0
# More holes than this (a burst of rolled-back writes): start over with a full load.
MAX_GAPS = 1000
# The epoch is read when the last entry applied is gone from the log (a flush,
# a prune) and at least this often, e.g. for a database restored from a backup.
EPOCH_CHECK_SECONDS = 10.0


def load_key_set(previous: KeySet | None = None) -> KeySet:
    """Reads the whole key set. Master keys are decrypted once per ciphertext."""
    # Read where the log stands first: a change racing with this load has a
    # later id (applied by the next poll) or is a hole below it (a gap).
    token, _pruned = console_rows.epoch()
    recent = console_rows.recent_change_ids(MAX_GAPS)
    watermark = recent[0] if recent else 0
    now = time.monotonic()
    gaps = {i: now for i in range(recent[-1] + 1, watermark) if i not in set(recent)} if recent else {}
    key_set = KeySet(
        generation=(watermark, token),
        clusters={},
        database_keys={},
        admin_keys={},
        peppers={int(i): p.encode("utf-8") for i, p in getattr(settings, "API_KEY_PEPPERS", {}).items()},
        ciphertexts=dict(previous.ciphertexts) if previous is not None else {},
        gaps=gaps,
        epoch_checked=now,
    )
    rows = {str(row[0]): row for row in console_rows.cluster_rows()}
    key_set.cluster_ids = frozenset(rows)
    if previous is not None:  # what it knew and is gone now was deleted (grows only with deletions)
        key_set.deleted = (previous.deleted | previous.cluster_ids) - key_set.cluster_ids
    for cluster_id in set(key_set.ciphertexts) - set(rows):
        del key_set.ciphertexts[cluster_id]
    for row in rows.values():
        entry = key_set._decrypted(row)
        if entry is not None:
            key_set.clusters[entry.id] = entry  # not yet seen by any request: filled in place
    for row in console_rows.database_key_rows():
        key_set.put_database_key(row)
    for row in console_rows.admin_key_rows():
        key_set.put_admin_key(row)
    rows = console_rows.node_rows() if key_set.has_nodes else ()
    key_set.nodes, key_set.node_rows = nodes_by_cluster(rows), rows
    key_set.loaded_at = time.time()
    return key_set


def catch_up(key_set: KeySet) -> int | None:
    """Applies the change log entries this snapshot has not, and says how many;
    None when only a full load can tell (another epoch, pruned past it, too far
    behind, an entry that names nothing). One query when nothing changed."""
    watermark = key_set.watermark
    changes = console_rows.changes_since(watermark, key_set.gaps, MAX_BEHIND)
    now = time.monotonic()
    still_there = watermark > 0 and any(change[0] == watermark for change in changes)
    if not still_there or now - key_set.epoch_checked > EPOCH_CHECK_SECONDS:
        token, pruned_below = console_rows.epoch()
        if token != key_set.generation[1] or pruned_below - 1 > watermark:
            return None
        key_set.epoch_checked = now
    changes = [change for change in changes if change[0] != watermark]
    if len(changes) > MAX_BEHIND or any(kind == "all" for _, kind, _, _ in changes):
        return None
    if changes:
        key_set.apply(changes)
    gaps = key_set.gaps
    seen = {change[0] for change in changes}
    for change_id in seen:
        gaps.pop(change_id, None)
    newest = max(seen, default=watermark)
    if newest - watermark > MAX_GAPS + len(seen):
        return None
    for change_id in range(watermark + 1, newest):
        if change_id not in seen:
            gaps[change_id] = now
    for change_id, since in list(gaps.items()):
        if now - since > GAP_SECONDS:
            del gaps[change_id]
    if len(gaps) > MAX_GAPS:
        return None
    key_set.generation = (max(newest, watermark), key_set.generation[1])
    return len(changes)


class Queries:
    """Every database query this process makes, from any thread (for the
    handshake's `stats`): the proof that requests do not reach the database."""

    count = 0

    @classmethod
    def install(cls) -> None:
        connection_created.connect(cls._on_connection, weak=False, dispatch_uid="dataplane-queries")

    @classmethod
    def _on_connection(cls, sender, connection, **kwargs) -> None:
        if cls._count not in connection.execute_wrappers:
            connection.execute_wrappers.append(cls._count)

    @staticmethod
    def _count(execute, sql, params, many, context):
        Queries.count += 1
        return execute(sql, params, many, context)


class KeyStore:
    """The current KeySet of this process, and the thread that keeps it fresh."""

    def __init__(self, *, poll_seconds: float, reload_seconds: float, redis_url: str | None = None):
        self.current = KeySet.empty()
        self.poll_seconds = poll_seconds
        self.reload_seconds = reload_seconds
        self.redis_url = redis_url
        self.database_ok = False
        self.loads = 0  # full loads of the key set
        self.applies = 0  # catch-ups that applied at least one change
        self.changes = 0  # change log entries applied
        self.failures = 0  # refreshes that could not read the database
        # One refresh at a time: the background refresher and the console's
        # handshake (control.py) must not both load, or an older load could
        # replace a newer snapshot.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.refresh(force=True)
        refresher = threading.Thread(target=self._run, name="dataplane-keys", daemon=True)
        self._threads.append(refresher)
        refresher.start()
        if self.redis_url:
            listener = threading.Thread(target=self._listen, name="dataplane-keys-redis", daemon=True)
            self._threads.append(listener)
            listener.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def refresh(self, *, force: bool = False) -> bool:
        """Applies what changed since the snapshot (a full load when it cannot
        tell, or with `force`); False when the database failed.

        The change log is read after the lock is taken, so a caller that asks
        after a commit gets a snapshot that holds it.
        """
        with self._lock:
            return self._refresh(force)

    def _refresh(self, force: bool) -> bool:
        try:
            current = self.current
            applied = None if force or current.generation[1] is UNLOADED else catch_up(current)
            if applied is None:
                self.current = load_key_set(current)
                self.loads += 1
            else:
                if applied:
                    self.applies += 1
                    self.changes += applied
                if current.has_nodes:
                    self._refresh_nodes()
            self.database_ok = True
            return True
        except Exception as exc:  # noqa: BLE001 - any database failure: keep the last snapshot
            if self.database_ok or not self.current.loaded_at:
                logger.warning("cannot read the key set (%s); serving the one loaded at %s", exc, self.current.loaded_at)
            self.database_ok = False
            self.failures += 1
            # Drop the broken connection so the next attempt opens a new one.
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                pass
            return False

    def _refresh_nodes(self) -> None:
        rows = console_rows.node_rows()
        if rows != self.current.node_rows:
            current = self.current
            current.nodes, current.node_rows = nodes_by_cluster(rows), rows

    def _run(self) -> None:
        last_full = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            if self._stop.is_set():
                break
            self._wake.clear()
            full = time.monotonic() - last_full >= self.reload_seconds
            try:
                if self.refresh(force=full) and full:
                    last_full = time.monotonic()
                close_old_connections()
            except Exception:
                logger.exception("refreshing the key set failed")
        connection.close()

    def _listen(self) -> None:
        """Wakes the refresher on every message of the console's Redis channel."""
        import redis

        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self.redis_url, socket_timeout=None, socket_connect_timeout=2)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel())
                # A message may have been missed while (re)connecting.
                self._wake.set()
                while not self._stop.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        self._wake.set()
            except Exception as exc:  # noqa: BLE001 - Redis down: polling still runs; retry
                logger.warning("Redis subscription failed (%s); retrying, polling meanwhile", exc)
                self._stop.wait(1.0)
