"""The key set: what the data plane knows of clusters and keys, and keeping it fresh.

A `KeySet` is a snapshot loaded from the console's database through
keyset.contract, the only way the data plane reads the console: per cluster
its master key, jwt_rbac and version; the live database API keys (by `jti`);
the admin keys (by digest). `KeyStore` holds the current
snapshot and replaces it whole when the console says the key set changed:

- the console's services call `keyset.contract.keys_changed()`, which bumps a
  one-row counter (`KeySetGeneration`) in the same transaction and, after
  commit, asks every process to reload at once (dataplane/control.py answers)
  and, when REDIS_URL is set, publishes;
- a background thread polls that counter every DATAPLANE_POLL_SECONDS (one
  primary-key read) and, with Redis, also wakes on the message;
- a full reload every DATAPLANE_RELOAD_SECONDS catches a change made without
  the hook (e.g. in a shell).

When the database cannot be reached the last snapshot stays in force: the
data plane keeps serving the keys it knew and never admits one it has not seen.
A token that is in no snapshot is refused from memory: no request reads the
database (`Queries` counts every query the process makes, to prove it).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass, field
from hashlib import sha256

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.backends.signals import connection_created

from keyset import contract
from keyset.contract import current_generation

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
    # (checked by keyset.contract.token_matches, as the console checks keys).
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
    """KeyEntry's lifecycle fields from the end of a key's row (keyset.contract.LIFECYCLE_FIELDS)."""
    return {
        "disabled": bool(disabled),
        "retires_at": retires_at.timestamp() if retires_at else None,
        "networks": networks_of(allowed_networks or ()),
    }


def networks_of(cidrs) -> tuple:
    """CIDR strings as KeyEntry.networks holds them: (version, network as int, netmask as int)."""
    return tuple((n.version, int(n.network_address), int(n.netmask)) for n in map(ipaddress.ip_network, cidrs))


@dataclass(slots=True)
class KeySet:
    generation: tuple
    clusters: dict[str, ClusterEntry]
    database_keys: dict[str, KeyEntry]  # by id (the JWT's jti)
    admin_keys: dict[tuple[int, str], KeyEntry]  # by (pepper id, hex digest)
    # Encoded once per snapshot: admin_key_for digests a token under each.
    peppers: dict[int, bytes] = field(repr=False)
    loaded_at: float = 0.0
    # Decrypted master keys by ciphertext, so the next load decrypts only what
    # is new or changed (Fernet costs ~50 µs a cluster).
    ciphertexts: dict[str, bytes] = field(default_factory=dict, repr=False)
    # token -> Grant, filled by dataplane.auth; dies with the snapshot, so a
    # reload (a key deleted, a master key or jwt_rbac changed) empties it.
    tokens: dict = field(default_factory=dict, repr=False)
    # The ready nodes of each `qdrant` cluster. Replaced whole (one attribute
    # assignment) when the nodes' rows change, leaving keys and tokens alone.
    nodes: dict[str, Nodes] = field(default_factory=dict)
    node_rows: tuple = ()

    @property
    def has_nodes(self) -> bool:
        return any(cluster.forwarded for cluster in self.clusters.values())

    def nodes_of(self, cluster_id: str) -> Nodes:
        return self.nodes.get(cluster_id, NO_NODES)

    @classmethod
    def empty(cls) -> KeySet:
        return cls(generation=(-1, None), clusters={}, database_keys={}, admin_keys={}, peppers={})

    def admin_key_for(self, token: str) -> tuple[tuple[int, str], KeyEntry] | None:
        """The admin key whose digest is HMAC(pepper, token) under any configured pepper, with its index key."""
        if not self.admin_keys:
            return None
        raw = token.encode("utf-8")
        for pepper_id, pepper in self.peppers.items():
            digest = hmac.new(pepper, raw, sha256).hexdigest()
            # Looked up by a keyed digest of the secret, not by the secret: how
            # long the lookup takes says nothing about any stored key.
            entry = self.admin_keys.get((pepper_id, digest))
            if entry is not None:
                return (pepper_id, digest), entry
        return None


def load_key_set(previous: KeySet | None = None) -> KeySet:
    """Reads the whole key set. Master keys are decrypted once per ciphertext."""
    # Read the counter first: a change racing with this load bumps it past
    # what we record, so the next poll loads again.
    generation = current_generation()
    decrypted = previous.ciphertexts if previous is not None else {}
    ciphertexts: dict[str, bytes] = {}
    clusters: dict[str, ClusterEntry] = {}
    for cluster_id, version, jwt_rbac, encrypted, runtime in contract.cluster_rows():
        master_key = decrypted.get(encrypted)
        if master_key is None:
            try:
                master_key = contract.decrypt_master_key(encrypted)
            except Exception:  # noqa: BLE001 - one undecryptable cluster must not hide the others
                logger.error("cannot decrypt the master key of cluster %s; its keys are refused", cluster_id)
                continue
        ciphertexts[encrypted] = master_key
        clusters[str(cluster_id)] = ClusterEntry(
            id=str(cluster_id), version=version.lstrip("v"), jwt_rbac=jwt_rbac, master_key=master_key,
            runtime=runtime,
        )
    database_keys = {}
    for key_id, cluster_id, expires_at, pepper_id, digest, *lifecycle in contract.database_key_rows():
        entry = KeyEntry(str(key_id), str(cluster_id), "database", expires_at.timestamp() if expires_at else None,
                         pepper_id, digest, **_lifecycle(*lifecycle))
        database_keys[entry.id] = entry
    admin_keys = {}
    for key_id, cluster_id, pepper_id, digest, expires_at, *lifecycle in contract.admin_key_rows():
        entry = KeyEntry(str(key_id), str(cluster_id), "admin", expires_at.timestamp() if expires_at else None,
                         **_lifecycle(*lifecycle))
        admin_keys[(int(pepper_id), digest)] = entry
    rows = contract.node_rows() if any(c.forwarded for c in clusters.values()) else ()
    key_set = KeySet(
        generation=generation,
        nodes=nodes_by_cluster(rows),
        node_rows=rows,
        clusters=clusters,
        database_keys=database_keys,
        admin_keys=admin_keys,
        peppers={int(i): p.encode("utf-8") for i, p in getattr(settings, "API_KEY_PEPPERS", {}).items()},
        loaded_at=time.time(),
        ciphertexts=ciphertexts,
    )
    return key_set


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
        """Reloads when the generation moved (or `force`); False when the database failed.

        The generation is read after the lock is taken, so a caller that asks
        after a commit gets a snapshot that holds it.
        """
        with self._lock:
            return self._refresh(force)

    def _refresh(self, force: bool) -> bool:
        try:
            if not force and current_generation() == self.current.generation:
                if self.current.has_nodes:
                    self._refresh_nodes()
                self.database_ok = True
                return True
            self.current = load_key_set(self.current)
            self.loads += 1
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
        rows = contract.node_rows()
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
                pubsub.subscribe(contract.channel())
                # A message may have been missed while (re)connecting.
                self._wake.set()
                while not self._stop.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        self._wake.set()
            except Exception as exc:  # noqa: BLE001 - Redis down: polling still runs; retry
                logger.warning("Redis subscription failed (%s); retrying, polling meanwhile", exc)
                self._stop.wait(1.0)
