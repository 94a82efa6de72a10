"""The key set as the console's database holds it: what a front reads (every
cluster, its nodes, the live keys with their lifecycle fields, the change log)
and writes (when a key was last used), and nothing else.

The contract views (fronts/views.py) answer the fronts from these reads; row
shapes are documented per function and put on the wire by keyset/wire.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from apikeys.models import TENANT_FIELDS, AdminKey, DatabaseApiKey
from clusters import crypto
from clusters.models import Access as ClusterAccess
from clusters.models import Cluster, ClusterNode, NodeState, Phase, Runtime
from fronts.changelog import keys_changed
from fronts.models import EmbeddedOwner, KeySetChange, KeySetEpoch
from keyset import wire
from keyset.tenant import tenant_to_wire



def epoch() -> tuple:
    """(token, pruned_below) of the key set's history; (None, 0) when the row is gone (a flushed database)."""
    row = KeySetEpoch.objects.filter(id=KeySetEpoch.ROW_ID).values_list("token", "pruned_below").first()
    return row or (None, 0)


def recent_change_ids(limit: int) -> list[int]:
    """The ids of the last `limit` entries of the change log, newest first."""
    return list(KeySetChange.objects.order_by("-id").values_list("id", flat=True)[:limit])


def changes_since(after: int, also: Iterable[int] = (), limit: int = 1000) -> list[tuple]:
    """(id, kind, cluster id, key id) of the entry `after` itself (so the caller
    sees that the log still holds it), of the entries after it and of those
    among `also` (ids skipped earlier: not committed yet when last read),
    oldest first, at most `limit` + 2 (more than `limit` new: too far behind)."""
    condition = Q(id__gte=after)
    also = list(also)
    if also:
        condition |= Q(id__in=also)
    return list(KeySetChange.objects.filter(condition).order_by("id")
                .values_list("id", "kind", "cluster_id", "key_id")[: limit + 2])


def cluster_rows(ids: Iterable | None = None) -> list[tuple]:
    """(id, version, jwt_rbac, encrypted master key, runtime, tls, CA certificate
    or None, owner, owner address) of every cluster, or of those in `ids`. TLS:
    the front reaches the cluster's nodes over TLS (a connected cluster's https
    URL). Owner: the front holding an embedded cluster's storage (EmbeddedOwner)."""
    clusters = Cluster.objects.all() if ids is None else Cluster.objects.filter(id__in=list(ids))
    return [(*row, url.startswith("https://"), ca or None, owner, address or "")
            for *row, url, ca, owner, address in clusters.values_list(
                "id", "version", "jwt_rbac", "master_key_encrypted", "runtime", "url", "ca_certificate",
                "embedded_owner__front", "embedded_owner__address")]


def embedded_claim(*, front: str, cluster_id, address: str) -> EmbeddedOwner | None:
    """The owner of an embedded cluster's storage: `front`, at `address`, if
    no front owns it yet (or `front` does: its address is brought up to date);
    else the front that does. None when no embedded cluster has that id.
    One insert or update, in the change log's transaction: every front learns
    a new owner (a change of the cluster's row) without being waited for."""
    with transaction.atomic():
        if not Cluster.objects.filter(id=cluster_id, runtime=Runtime.EMBEDDED).select_for_update().exists():
            return None
        owner, created = EmbeddedOwner.objects.select_for_update().get_or_create(
            cluster_id=cluster_id, defaults={"front": front, "address": address, "claimed_at": timezone.now()})
        if not created and owner.front == front and owner.address != address:
            owner.address = address
            owner.save(update_fields=["address"])
            created = True
        if created:
            keys_changed(cluster=cluster_id, confirm=False)
    return owner


def embedded_move(*, cluster_id, front: str) -> bool:
    """Gives an embedded cluster's storage to `front` (an operator's move,
    once its directory is on that front's disk); False when no embedded
    cluster has that id. The address is that front's to say: it claims the
    cluster again as soon as it learns it owns it (dataplane/owners.py).
    The fronts are waited for, as for a key's change."""
    with transaction.atomic():
        if not Cluster.objects.filter(id=cluster_id, runtime=Runtime.EMBEDDED).select_for_update().exists():
            return False
        EmbeddedOwner.objects.update_or_create(cluster_id=cluster_id, defaults={
            "front": front, "address": "", "claimed_at": timezone.now()})
        keys_changed(cluster=cluster_id)
    return True


def embedded_collections_report(*, front: str, cluster_id, names: list[str]) -> bool:
    """Stores the collection names the owner of an embedded cluster reports;
    False (nothing stored) when `front` is not its owner."""
    return bool(EmbeddedOwner.objects.filter(cluster_id=cluster_id, front=front).update(collections=sorted(names)))


# The `qdrant` runtime runs nodes on this machine's loopback (runtimes/qdrant.py);
# a runtime with nodes on other hosts would record their host with the ports.
NODE_HOST = "127.0.0.1"


def node_rows() -> tuple:
    """(cluster id, index, ready, http URL, grpc target) of every node of every
    `qdrant` cluster that has been given ports; ready = HEALTHY. One query, which
    the data plane repeats with each poll of the change log, so a node going
    down or coming back reaches the front without a key set reload."""
    rows = (ClusterNode.objects.filter(cluster__runtime=Runtime.QDRANT, http_port__isnull=False)
            .order_by("cluster_id", "index").values_list("cluster_id", "index", "state", "http_port", "grpc_port"))
    local = tuple(
        (str(cluster_id), index, state == NodeState.HEALTHY, f"http://{NODE_HOST}:{http}",
         f"{NODE_HOST}:{grpc}" if grpc else None)
        for cluster_id, index, state, http, grpc in rows
    )
    # A connected cluster reached through the front is one upstream: the URL
    # it was connected with (its load balancer or one node), and the gRPC
    # port at that host; over TLS when the URL is https (see cluster_rows).
    connected = (Cluster.objects.filter(runtime=Runtime.CONNECTED, access=ClusterAccess.THROUGH_FRONT)
                 .order_by("id").values_list("id", "phase", "url", "connected_grpc_port"))
    return local + tuple((str(cluster_id), 0, phase in (Phase.HEALTHY, Phase.NOT_READY), url,
                          _grpc_target(url, grpc_port or CONNECTED_GRPC_PORT))
                         for cluster_id, phase, url, grpc_port in connected)


# Qdrant's default gRPC port, for a cluster connected before its port was asked for.
CONNECTED_GRPC_PORT = 6334


def _grpc_target(url: str, port: int) -> str | None:
    host = urlsplit(url).hostname
    if not host:
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def decrypt_master_key(encrypted: str) -> bytes:
    return crypto.decrypt(encrypted).encode("utf-8")


# At the end of each key's row: disabled (bool), retires_at (the deadline of
# a rolled key's old secret, or None), allowed networks (CIDR strings; empty: anywhere).
LIFECYCLE_FIELDS = wire.LIFECYCLE


def _with_lifecycle(keys, *fields: str):
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
    """(id, cluster id, expires_at, pepper id, digest, tenant, *LIFECYCLE_FIELDS) of every
    live database API key, or of the live ones among `ids`, or of `clusters`. An
    id asked for and not answered is not live (revoked, or its cluster deleted)."""
    rows = _with_lifecycle(_live(DatabaseApiKey, ids, clusters), "id", "cluster_id", "expires_at", "pepper_id",
                           "digest", *TENANT_FIELDS)
    tenant = len(TENANT_FIELDS)
    return [(*row[:5], tenant_to_wire(*row[5:5 + tenant]), *row[5 + tenant:]) for row in rows]


def admin_key_rows(ids: Iterable | None = None, clusters: Iterable | None = None):
    """(id, cluster id, pepper id, digest, expires_at, *LIFECYCLE_FIELDS) of every live
    admin key; `ids` and `clusters` as for database_key_rows."""
    return _with_lifecycle(_live(AdminKey, ids, clusters), "id", "cluster_id", "pepper_id", "digest", "expires_at")


def record_last_used(kind: str, key_id: str, when, ip: str | None, protocol: str, *, interval_seconds: int) -> None:
    """Writes a key's last use ("rest" or "grpc", from `ip`) unless one within
    `interval_seconds` from the same address over the same protocol is recorded
    already: a use from somewhere new (say, a refused address) always shows.
    Nor over a later use: another process may have written a newer one first."""
    model = {"database": DatabaseApiKey, "admin": AdminKey}[kind]
    same_ip = Q(last_used_ip__isnull=True) if ip is None else Q(last_used_ip=ip)
    recent = Q(last_used_at__gt=when - timedelta(seconds=interval_seconds)) & same_ip & Q(last_used_protocol=protocol)
    newer = Q(last_used_at__gte=when)
    model.objects.filter(id=key_id).exclude(recent | newer).update(
        last_used_at=when, last_used_ip=ip, last_used_protocol=protocol
    )

