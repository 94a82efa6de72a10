"""The key set: what the front knows of clusters and keys, and keeping it fresh.

A `KeySet` is a snapshot the console sent over the contract (keyset/wire.py,
asked by dataplane/keyset_client.py): per cluster its master key, jwt_rbac and
version; the live database API keys (by `jti`); the admin keys (by digest);
the peppers their digests are made with. `KeyStore` holds the current
snapshot and keeps it in step with the console's change log:

- the console's services call `fronts.changelog.keys_changed()`, which appends
  an entry naming what changed (a key, a cluster) in the same transaction and,
  after commit, asks the processes on its host to catch up at once
  (dataplane/control.py answers), waits for the acknowledgement of those on
  other hosts and, when REDIS_URL is set, publishes;
- a background thread asks for the entries after the last one it applied
  every DATAPLANE_POLL_SECONDS (with Redis, also on the message); the console
  answers with the rows they name as they stand now: a key, a cluster with
  its keys. The cost of a change does not grow with the number of keys; the
  process acknowledges each change it applied;
- it asks for a whole snapshot when it cannot tell what changed: at start, an
  entry that names nothing, more than wire.MAX_BEHIND entries to apply, a log
  pruned past what it applied, a new epoch (a database flushed or restored),
  and every DATAPLANE_RELOAD_SECONDS for a change made without the hook
  (e.g. in a shell).

Entry ids come from a sequence, so a transaction that commits after a later
one leaves a hole below the last id applied: those ids are remembered as gaps
and asked for again with every poll for GAP_SECONDS (longer than any key
write's transaction), so a slow commit is still seen.

When the console cannot be reached the last snapshot stays in force: the
front keeps serving the keys it knew and never admits one it has not seen.
When the console refuses its credential (revoked) the front is cut off: it
drops its snapshot and admits no key. A token that is in no snapshot is
refused from memory: no request reaches the console (the client's `requests`
counts every request the process makes, to prove it).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass, field

from dataplane.keyset_client import KeysetClient, Refused
from keyset import wire
from keyset.digest import digest as keyset_digest
from keyset.tenant import Tenant, tenant_from_wire

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
    runtime: str = "embedded"  # "qdrant" or "connected": the front forwards to the cluster's nodes
    # How the front reaches the nodes of a cluster connected through it: over
    # TLS (an https URL), verified against this CA (PEM; None: the system's).
    tls: bool = False
    ca_certificate: bytes | None = field(default=None, repr=False)
    # An embedded cluster's storage: the front that holds it (None: none yet)
    # and where other fronts reach it (dataplane/engine.py forwards there).
    owner: str | None = None
    owner_address: str = ""

    @property
    def forwarded(self) -> bool:
        return self.runtime in ("qdrant", "connected")


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
    # A tenant-bound database key's binding (keyset.tenant.Tenant): every
    # request is bound by keyset.tenant.bind before it runs or is forwarded.
    tenant: Tenant | None = None


def _lifecycle(disabled: bool, retires_at, allowed_networks) -> dict:
    """KeyEntry's lifecycle fields from the end of a key's row (keyset.wire.LIFECYCLE)."""
    return {
        "disabled": bool(disabled),
        "retires_at": retires_at,
        "networks": networks_of(allowed_networks or ()),
    }


def networks_of(cidrs) -> tuple:
    """CIDR strings as KeyEntry.networks holds them: (version, network as int, netmask as int)."""
    return tuple((n.version, int(n.network_address), int(n.netmask)) for n in map(ipaddress.ip_network, cidrs))


def cluster_entry(row) -> ClusterEntry | None:
    """One wire.CLUSTER row as the snapshot holds it; None for a cluster whose
    master key the console could not decrypt (its keys are refused)."""
    cluster_id, version, jwt_rbac, master_key, runtime, *later = row
    if master_key is None:
        return None
    # A console of an older version sends fewer fields.
    tls, ca_certificate, owner, owner_address = (*later, False, None, None, "")[:4]
    return ClusterEntry(id=str(cluster_id), version=version.lstrip("v"), jwt_rbac=jwt_rbac,
                        master_key=master_key.encode("utf-8"), runtime=runtime, tls=bool(tls),
                        ca_certificate=ca_certificate.encode("utf-8") if ca_certificate else None,
                        owner=owner, owner_address=owner_address or "")


def database_key_entry(row, cluster_id: str) -> KeyEntry:
    """One wire.DATABASE_KEY row; `cluster_id` is the row's, as a shared string."""
    key_id, _cluster, expires_at, pepper_id, digest, tenant, *lifecycle = row
    return KeyEntry(str(key_id), cluster_id, "database", expires_at, pepper_id, digest, **_lifecycle(*lifecycle),
                    tenant=tenant_from_wire(tenant))


def admin_key_entry(row, cluster_id: str) -> tuple[tuple[int, str], KeyEntry]:
    """One wire.ADMIN_KEY row, with the (pepper id, digest) it is found by."""
    key_id, _cluster, pepper_id, digest, expires_at, *lifecycle = row
    entry = KeyEntry(str(key_id), cluster_id, "admin", expires_at, **_lifecycle(*lifecycle))
    return (int(pepper_id), digest), entry


UNLOADED = object()  # the epoch of a snapshot never loaded from the console


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
    # The Redis channel the console publishes changes on (the snapshot says which).
    channel: str | None = None
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
    # Every cluster the console has (those whose master key cannot be decrypted
    # too), and those this process has seen deleted since it started: the engine
    # removes the storage of a cluster that is gone (Engine.remove_deleted).
    # Replaced whole, like `clusters`: the event loop reads them.
    cluster_ids: frozenset[str] = frozenset()
    deleted: frozenset[str] = frozenset()
    # This front's credential name, the token it shows the owners of embedded
    # clusters it forwards to, and the digests of every live front's token:
    # an owner serves the fronts whose digest is here (dataplane/engine.py).
    front: str | None = None
    peer_token: str | None = field(default=None, repr=False)
    peers: frozenset[str] = field(default=frozenset(), repr=False)

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

    def put_cluster(self, row) -> None:
        entry = cluster_entry(row)
        if entry is None:
            self.drop_cluster(str(row[0]), keys=False)
        else:
            self.clusters = self.clusters | {entry.id: entry}

    def drop_cluster(self, cluster_id: str, *, keys: bool = True) -> None:
        if keys:
            self.replace_keys(cluster_id, (), ())
        if cluster_id in self.clusters:
            self.clusters = {id: entry for id, entry in self.clusters.items() if id != cluster_id}

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

    def apply(self, changes: list, answer: dict) -> None:
        """Puts in this snapshot the rows the console sent with the change log
        entries `changes` (keyset/wire.py): a named cluster or key it did not
        send is gone."""
        clusters = {str(cluster_id) for _, kind, cluster_id, _ in changes if kind == "cluster"}
        keys = {"database": set(), "admin": set()}
        for _, kind, cluster_id, key_id in changes:
            if kind in keys and str(cluster_id) not in clusters:
                keys[kind].add(str(key_id))
        database_rows: dict[str, list] = {}
        admin_rows: dict[str, list] = {}
        for row in answer.get("database_keys", ()):
            database_rows.setdefault(str(row[1]), []).append(row)
        for row in answer.get("admin_keys", ()):
            admin_rows.setdefault(str(row[1]), []).append(row)
        if clusters:
            rows = {str(row[0]): row for row in answer.get("clusters", ())}
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
        for kind, put, drop, by_cluster in (("database", self.put_database_key, self.drop_database_key, database_rows),
                                            ("admin", self.put_admin_key, self.drop_admin_key, admin_rows)):
            if not keys[kind]:
                continue
            found = [row for cluster_id, rows in by_cluster.items() if cluster_id not in clusters for row in rows]
            for row in found:
                put(row)
            for key_id in keys[kind] - {str(row[0]) for row in found}:
                drop(key_id)


MAX_BEHIND = wire.MAX_BEHIND
# How long an id skipped in the log is asked for again: longer than any key write's transaction.
GAP_SECONDS = 300.0
# More holes than this (a burst of rolled-back writes): start over with a full load.
MAX_GAPS = 1000


def load_key_set(client: KeysetClient, previous: KeySet | None = None) -> KeySet:
    """Asks the console for the whole key set (`previous`: the snapshot it replaces)."""
    snapshot = client.snapshot()
    token, _pruned = snapshot["epoch"]
    recent = snapshot["recent"]
    watermark = recent[0] if recent else 0
    now = time.monotonic()
    seen = set(recent)
    gaps = {i: now for i in range(recent[-1] + 1, watermark) if i not in seen} if recent else {}
    key_set = KeySet(
        generation=(watermark, token),
        clusters={},
        database_keys={},
        admin_keys={},
        peppers={int(i): p.encode("utf-8") for i, p in snapshot["peppers"].items()},
        gaps=gaps,
        channel=snapshot.get("channel"),
        front=snapshot.get("front"),
        peer_token=snapshot.get("peer_token"),
        peers=frozenset(snapshot.get("peers", ())),
    )
    rows = {str(row[0]): row for row in snapshot["clusters"]}
    key_set.cluster_ids = frozenset(rows)
    if previous is not None:  # what it knew and is gone now was deleted (grows only with deletions)
        key_set.deleted = (previous.deleted | previous.cluster_ids) - key_set.cluster_ids
    for row in rows.values():
        entry = cluster_entry(row)
        if entry is not None:
            key_set.clusters[entry.id] = entry  # not yet seen by any request: filled in place
    for row in snapshot["database_keys"]:
        key_set.put_database_key(row)
    for row in snapshot["admin_keys"]:
        key_set.put_admin_key(row)
    rows = tuple(map(tuple, snapshot["nodes"]))
    key_set.nodes, key_set.node_rows = nodes_by_cluster(rows), rows
    key_set.loaded_at = time.time()
    return key_set


def catch_up(key_set: KeySet, client: KeysetClient, answer: dict | None = None) -> int | None:
    """Applies the change log entries this snapshot has not, and says how many;
    None when only a snapshot can tell (another epoch, pruned past it, too far
    behind, an entry that names nothing). One request when nothing changed;
    none when `answer` is the console's answer to this very watermark and gaps
    (a long-poll's)."""
    watermark = key_set.watermark
    if answer is None:
        answer = client.changes(watermark, key_set.gaps)
    changes = answer["changes"]
    now = time.monotonic()
    token, pruned_below = answer["epoch"]
    if token != key_set.generation[1] or pruned_below - 1 > watermark:
        return None
    still_there = watermark <= 0 or any(change[0] == watermark for change in changes)
    if not still_there:
        return None  # the entry it applied last is gone: a flush or a prune past it
    changes = [change for change in changes if change[0] != watermark]
    if len(changes) > MAX_BEHIND or any(kind == "all" for _, kind, _, _ in changes):
        return None
    if changes:
        key_set.apply(changes, answer)
    rows = tuple(map(tuple, answer["nodes"]))
    if rows != key_set.node_rows:
        key_set.nodes, key_set.node_rows = nodes_by_cluster(rows), rows
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


class KeyStore:
    """The current KeySet of this process, and the thread that keeps it fresh."""

    def __init__(self, *, client: KeysetClient, poll_seconds: float, reload_seconds: float,
                 redis_url: str | None = None, long_poll_seconds: float = 0.0):
        self.client = client
        self.current = KeySet.empty()
        self.poll_seconds = poll_seconds
        # > 0: between polls, ask the console to answer when something changes (keyset/wire.py).
        self.long_poll_seconds = long_poll_seconds
        self.reload_seconds = reload_seconds
        self.redis_url = redis_url
        self.console_ok = False
        self.ok_at: float | None = None  # when the console last answered (the metrics' key set lag)
        self._said: str | None = None  # the failure last logged: said again only when it changes
        self.loads = 0  # snapshots loaded
        self.applies = 0  # catch-ups that applied at least one change
        self.changes = 0  # change log entries applied
        self.failures = 0  # refreshes that could not reach the console
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
        """Applies what changed since the snapshot (a whole snapshot when it
        cannot tell, or with `force`) and acknowledges it; False when the
        console could not be asked.

        The console is asked after the lock is taken, so a caller that asks
        after a commit gets a snapshot that holds it.
        """
        with self._lock:
            return self._refresh(force)

    def _refresh(self, force: bool, answer: dict | None = None, ack: bool = True) -> bool:
        try:
            current = self.current
            applied = (None if force or current.generation[1] is UNLOADED
                       else catch_up(current, self.client, answer))
            if applied is None:
                self.current = load_key_set(self.client, current)
                self.loads += 1
            elif applied:
                self.applies += 1
                self.changes += applied
            if applied is None or applied:
                if ack:
                    self.client.ack(self.current.watermark)
                else:  # the next request (the long-poll that follows at once) carries it
                    self.client.applied = self.current.watermark
            self.console_ok = True
            self.ok_at = time.time()
            self._said = None
            return True
        except Refused as exc:
            # Revoked (or never valid): this front is cut off and admits no key.
            if self.current.loaded_at or self.console_ok:
                logger.error("the console refused this front's credential (%s); serving no key", exc)
            self.current = KeySet.empty()
            self.console_ok = False
            self.failures += 1
            return False
        except Exception as exc:  # noqa: BLE001 - console unreachable or failing: keep the last snapshot
            self._unreachable(exc)
            return False

    def _unreachable(self, exc: Exception) -> None:
        if str(exc) != self._said:  # once, not at every poll
            self._said = str(exc)
            loaded = self.current.loaded_at
            serving = (f"serving the key set loaded at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(loaded))}"
                       if loaded else "admitting no key until one loads")
            logger.warning("cannot load the key set from the console (%s); %s", exc, serving)
        self.console_ok = False
        self.failures += 1

    def _long_poll(self) -> bool:
        """Asks the console to answer when something changes and applies what
        it says; True when the next may be asked at once: something changed, or
        the console held it (False: it answered at once with nothing, being
        busy with others, or could not be asked: the poll's pace then).

        The request is made outside the lock (the handshake's refresh must not
        wait behind it); its answer is applied only if nothing was applied
        meanwhile, else a plain refresh asks again."""
        current = self.current
        watermark, gaps = current.watermark, dict(current.gaps)
        started = time.monotonic()
        try:
            answer = self.client.changes_when_any(watermark, gaps, seconds=self.long_poll_seconds,
                                                  nodes=wire.nodes_digest(current.node_rows))
        except Refused:
            return self.refresh()  # says it, and cuts this front off
        except Exception as exc:  # noqa: BLE001 - console unreachable: the poll's pace, the last snapshot
            with self._lock:
                self._unreachable(exc)
            return False
        with self._lock:
            before = (self.loads, self.applies, self.current.node_rows)
            same = self.current is current and current.watermark == watermark and dict(current.gaps) == gaps
            self._refresh(False, answer if same else None, ack=False)
            changed = (self.loads, self.applies, self.current.node_rows) != before
        return changed or time.monotonic() - started >= self.long_poll_seconds / 2

    def _run(self) -> None:
        last_full = time.monotonic()
        quiet = False  # the last long-poll was answered at once with nothing: a poll's time before the next
        while not self._stop.is_set():
            if quiet or not self.long_poll_seconds:
                self._wake.wait(self.poll_seconds)
            if self._stop.is_set():
                break
            self._wake.clear()
            full = time.monotonic() - last_full >= self.reload_seconds
            try:
                if full or not self.long_poll_seconds or not self.console_ok:
                    ok = self.refresh(force=full)
                    if ok and full:
                        last_full = time.monotonic()
                    quiet = not ok
                else:
                    quiet = not self._long_poll()
            except Exception:
                logger.exception("refreshing the key set failed")
        self.client.close()

    def _listen(self) -> None:
        """Wakes the refresher on every message of the console's Redis channel (named in the snapshot)."""
        import redis

        while not self._stop.is_set():
            channel = self.current.channel
            if channel is None:
                self._stop.wait(1.0)
                continue
            try:
                client = redis.Redis.from_url(self.redis_url, socket_timeout=None, socket_connect_timeout=2)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel)
                # A message may have been missed while (re)connecting.
                self._wake.set()
                while not self._stop.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        self._wake.set()
            except Exception as exc:  # noqa: BLE001 - Redis down: polling still runs; retry
                logger.warning("Redis subscription failed (%s); retrying, polling meanwhile", exc)
                self._stop.wait(1.0)
