"""Connected clusters: a Qdrant the team already runs, managed for its keys.

The `connected` runtime (registered in clusters/runtime.py) runs no node:
provisioning and restarts are refused, removing touches nothing on the
cluster, collections and health are read over the cluster's own REST API
(runtimes/connected.py). `cluster_connect` checks a cluster before anything
is saved; every failure names the field that caused it.
"""

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from audit.models import Action
from audit.services import audit_record
from clusters import catalog, crypto
from clusters.models import Access, Cluster, ClusterNode, NodeState, Phase, Runtime, default_endpoint
from clusters.nodes import cluster_version
from clusters.runtime import ClusterRuntime, CollectionsUnreadable
from clusters.signals import cluster_checked
from fronts.changelog import keys_changed
from runtimes import connected
from runtimes.connected import Refused, Target

logger = logging.getLogger(__name__)

# The gRPC port a connected cluster is assumed to serve (Qdrant's default):
# the REST API does not say which one it listens on.
DEFAULT_GRPC_PORT = 6334


def target_of(cluster: Cluster, master_key: str | None = None) -> Target:
    return Target(url=cluster.url, master_key=master_key or cluster.master_key, ca_certificate=cluster.ca_certificate)


def _environment(url: str) -> str:
    """The Hybrid "region" of a connected cluster: the host it was connected at."""
    return (urlsplit(url).hostname or "connected")[:32]


def _refused(exc: Refused) -> ValidationError:
    return ValidationError({exc.field: exc.message})


def cluster_connect(*, account, name: str, url: str, api_key: str, ca_certificate: str = "", access: str,
                    grpc_port: int | None = None, by=None, client_ip: str | None = None) -> Cluster:
    """Checks the cluster (reachable, TLS trusted, Qdrant, master key accepted,
    peers, jwt_rbac), then records it HEALTHY. Raises ValidationError keyed
    by the field to blame (url, api_key, ca_certificate, access), saving nothing.
    Through the front, the fronts reach it over REST and gRPC (`grpc_port`,
    Qdrant's default when not given), over TLS verified against the CA given."""
    url = url.strip().rstrip("/")
    target = Target(url=url, master_key=api_key, ca_certificate=ca_certificate)
    try:
        probe = connected.probe(target)
        # The console's collection, on every node: the markers of keys used
        # directly, and the health check's heartbeat (runtimes/connected.py).
        connected.markers_prepare(target, replicas=len(probe.peers))
    except Refused as exc:
        raise _refused(exc) from None
    return _record(account=account, name=name, target=target, probe=probe, access=access,
                   grpc_port=grpc_port or DEFAULT_GRPC_PORT, by=by, client_ip=client_ip)


@transaction.atomic
def _record(*, account, name, target: Target, probe, access, grpc_port: int, by, client_ip) -> Cluster:
    parts = urlsplit(target.url)
    direct = access == Access.DIRECT
    cluster = Cluster(
        account=account, name=name, runtime=Runtime.CONNECTED, url=target.url,
        ca_certificate=target.ca_certificate.strip(), access=access,
        cloud_provider=catalog.HYBRID, region=_environment(target.url),
        version="v" + probe.version.lstrip("v"), number_of_nodes=len(probe.peers),
        phase=Phase.HEALTHY, jwt_rbac=probe.jwt_rbac, checked_at=timezone.now(),
        master_key_encrypted=crypto.encrypt(target.master_key), connected_grpc_port=grpc_port,
    )
    if direct:
        cluster.endpoint_url = f"{parts.scheme}://{parts.hostname}"
        cluster.rest_port = parts.port or (443 if parts.scheme == "https" else 6333)
        cluster.grpc_port = grpc_port
    else:
        cluster.endpoint_url = default_endpoint(cluster.id)
        cluster.rest_port = settings.DATAPLANE_PORT
        cluster.grpc_port = settings.DATAPLANE_GRPC_PORT
    # The version is whatever the cluster runs, not one of the versions the
    # console creates clusters with.
    cluster.full_clean(exclude=["version"])
    cluster.save()
    now = timezone.now()
    ClusterNode.objects.bulk_create(
        ClusterNode(cluster=cluster, index=i, state=NodeState.HEALTHY, started_at=now, version=probe.version,
                    detail=peer.uri[:255])
        for i, peer in enumerate(probe.peers)
    )
    keys_changed(cluster=cluster)
    audit_record(account=account, action=Action.CLUSTER_CREATED, target=cluster, actor=by, client_ip=client_ip)
    return cluster


def health_check(cluster: Cluster) -> None:
    """Sets a connected cluster's phase from what it answers now: HEALTHY,
    NOT_READY naming the nodes that are not, or UNREACHABLE with the error.
    An operation (a disconnect) owns the phase while it runs."""
    seen = connected.health(target_of(cluster))
    now = timezone.now()
    rows = Cluster.objects.filter(id=cluster.id, phase__in=(Phase.HEALTHY, Phase.NOT_READY, Phase.UNREACHABLE))
    if seen.error:
        rows.update(phase=Phase.UNREACHABLE, reason=seen.error[:255], checked_at=now)
        return
    # A connected cluster's node rows keep the peer's p2p URI in `detail`:
    # the only name Qdrant gives a peer besides its id.
    nodes = {row.detail: row for row in cluster.nodes.all()}
    down = []
    for peer in seen.peers:
        why = seen.not_ready.get(peer.id)
        row = nodes.get(peer.uri)
        state = NodeState.UNHEALTHY if why else NodeState.HEALTHY
        if row is None:
            row = ClusterNode.objects.create(cluster=cluster, index=_free_index(cluster), detail=peer.uri[:255])
        ClusterNode.objects.filter(pk=row.pk).update(state=state, version=seen.version if not why else row.version)
        if why:
            down.append(f"{row.name} ({peer.uri or peer.id}): {why}")
    known = {peer.id for peer in seen.peers}
    down += [why for peer_id, why in seen.not_ready.items() if peer_id not in known]
    if down:
        rows.update(phase=Phase.NOT_READY, reason=("Not every node is ready: " + "; ".join(down))[:255],
                    checked_at=now)
    else:
        rows.update(phase=Phase.HEALTHY, reason="", checked_at=now)


def _free_index(cluster: Cluster) -> int:
    return max(cluster.nodes.values_list("index", flat=True), default=-1) + 1


@transaction.atomic
def granular_access_check(*, cluster: Cluster, by, client_ip: str | None) -> bool:
    """The console cannot restart a connected cluster: the team turns
    jwt_rbac on where it runs, then this probes it; granular keys are on from
    the moment it accepts a JWT signed with its master key. False: not yet."""
    try:
        accepted = connected.accepts_jwt(target_of(cluster))
    except Refused as exc:
        raise ValidationError(exc.message) from None
    if accepted and Cluster.objects.filter(id=cluster.id, jwt_rbac=False).update(jwt_rbac=True):
        audit_record(account=cluster.account, action=Action.GRANULAR_ACCESS_ENABLED, target=cluster, actor=by,
                     client_ip=client_ip)
        keys_changed(cluster=cluster)
    return accepted


@transaction.atomic
def master_key_change(*, cluster: Cluster, api_key: str, by, client_ip: str | None) -> None:
    """Records the master key the team gave the cluster, once the cluster
    accepts it (ValidationError on `api_key` otherwise, nothing saved). Every
    usable database key stops working: each was signed with the old key,
    which the cluster no longer has."""
    try:
        connected.probe(target_of(cluster, master_key=api_key))
    except Refused as exc:
        raise _refused(exc) from None
    Cluster.objects.filter(id=cluster.id).update(master_key_encrypted=crypto.encrypt(api_key))
    audit_record(account=cluster.account, action=Action.MASTER_KEY_CHANGED, target=cluster, actor=by,
                 client_ip=client_ip)
    keys_changed(cluster=cluster)


# The class of PostgreSQL advisory locks that serialise a cluster's marker
# changes (see _markers_lock); the cluster is the second key.
MARKERS_LOCK_CLASS = 21


def _markers_lock(cluster) -> None:
    """Serialises, per cluster, the transactions that change its key markers:
    a key's create, delete, disable, enable or roll (which write the marker
    before the key's row commits) and the health check's reconcile (which
    reads the markers and the usable keys, then corrects one by the other).
    Without it a reconcile between a key's marker and its commit took the new
    marker for a stray one (the key's first request got 401), or put back the
    marker of a key being deleted. Held until the caller's transaction ends.
    PostgreSQL: an advisory lock, which no row lock can wait on in a cycle;
    SQLite: every transaction already holds the write lock from its start
    (BEGIN IMMEDIATE, console/settings.py)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [MARKERS_LOCK_CLASS, cluster.id.int & 0x7FFFFFFF])


class ConnectedQdrant(ClusterRuntime):
    restartable = False

    def where(self, cluster) -> str:
        reached = "clients reach it through the front" if cluster.access == Access.THROUGH_FRONT else \
            "clients reach it directly"
        return f"Connected: runs elsewhere, at {cluster.url}; {reached}"

    def provision_node(self, operation, node, renew) -> None:
        raise RuntimeError("The console does not run this cluster's nodes: restart them where they run.")

    restart_node = provision_node

    def remove(self, cluster, renew) -> None:
        pass  # disconnecting touches nothing on the cluster

    def collections(self, cluster) -> list[str]:
        try:
            names = connected.collections(target_of(cluster))
        except Refused as exc:
            raise CollectionsUnreadable(exc.message) from None
        return [name for name in names if name != connected.MARKER_COLLECTION]

    def version(self, cluster, nodes=None) -> str:
        return cluster_version(cluster, nodes)

    def check(self, cluster) -> None:
        health_check(cluster)
        if cluster.access == Access.DIRECT:
            cluster_checked.send(sender=Cluster, cluster=cluster)  # apikeys reconciles the markers (keys_reconcile)

    # Keys of a cluster reached directly are checked by the cluster itself:
    # each carries a `value_exists` condition on a marker point of its own
    # (spec/qdrant-auth.md), which exists exactly while the key is usable.

    def key_claims(self, cluster, key_id: str) -> dict:
        return {"value_exists": connected.value_exists_claim(key_id)} if cluster.access == Access.DIRECT else {}

    def keys_admit(self, cluster, *, admit=(), refuse=()) -> None:
        if cluster.access != Access.DIRECT:
            return
        target = target_of(cluster)
        _markers_lock(cluster)
        try:
            for key_id in admit:
                connected.marker_put(target, str(key_id))
            connected.marker_delete(target, [str(k) for k in refuse])
        except Refused as exc:
            raise ValidationError(f"The cluster did not take the change, so nothing changed: {exc.message}") from None

    def keys_reconcile(self, cluster, usable: Callable[[], set[str]]) -> None:
        """Makes the markers on a directly reached cluster match the keys usable
        now: a roll's deadline or an expiry passed removes a marker, a marker the
        console did not write (or a lost one of a usable key) is corrected."""
        if cluster.access != Access.DIRECT:
            return
        target = target_of(cluster)
        try:
            with transaction.atomic():
                # No key's marker changes while its row has not committed (_markers_lock).
                _markers_lock(cluster)
                # A marker collection deleted by someone with manage access comes back.
                connected.markers_prepare(target, replicas=cluster.number_of_nodes)
                present = set(connected.markers_present(target))
                usable = usable()
                connected.marker_delete(target, sorted(present - usable))
                for key_id in sorted(usable - present):
                    connected.marker_put(target, key_id)
        except Refused as exc:
            # The health check has set the phase; the next check tries again.
            logger.warning("cluster %s: its key markers could not be reconciled: %s", cluster.id, exc.message)

    def key_options_refusal(self, cluster, *, allowed_networks: bool, tenant: bool = False) -> dict[str, str]:
        refusals = {}
        if cluster.access == Access.DIRECT and allowed_networks:
            refusals["allowed_networks"] = ("Clients reach this cluster directly, not through the front, so an IP "
                                            "allowlist cannot be enforced: leave it empty, or connect the cluster "
                                            "through the front.")
        if cluster.access == Access.DIRECT and tenant:
            refusals["tenant_field"] = ("Clients reach this cluster directly, not through the front, so a tenant "
                                        "binding cannot be enforced: Qdrant's own keys cannot bind a tenant. "
                                        "Connect the cluster through the front to bind keys to tenants.")
        return refusals
