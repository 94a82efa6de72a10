"""The nodes of `qdrant` clusters, between the database and the node supervisor.

The supervisor (`python -m runtimes.supervisor`, started by `make run` when
there is a Qdrant binary) runs in its own process and is the only one that
starts and stops nodes: a node dies with the process that started it, and a
Celery worker is not that process. It is given two callables of this module:

    --desired clusters.nodes:desired_clusters   what should run, read from the rows
    --report  clusters.nodes:node_seen          what runs, written to the rows

so the job machine (clusters/operations.py) drives nodes through rows alone:
a restart step raises a node's `generation` and waits until the supervisor
reports the node running that generation, ready and joined. The rows are the
truth the cluster page shows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from clusters.models import Cluster, ClusterNode, NodeState, Operation, Phase, Runtime
from clusters.runtime import ClusterRuntime, CollectionsUnreadable
from runtimes.base import ClusterSpec, Node, NodeAddress, NodeHealth, NodePorts

log = logging.getLogger(__name__)

# How often a waiting step looks at the node's row.
_POLL_SECONDS = 0.2


def node_runtime():
    """The runtime of `qdrant` clusters, on the nodes' directory (any process
    may look at the nodes through it, or remove a cluster's; only the
    supervisor starts them)."""
    from runtimes.qdrant import QdrantRuntime

    return QdrantRuntime(binary=settings.QDRANT_BINARY or "qdrant", root=settings.NODES_DIR,
                         node_ports=settings.QDRANT_NODE_PORTS)


# -- the supervisor's two callables -------------------------------------------


def desired_clusters() -> list[ClusterSpec]:
    """Every `qdrant` cluster not being deleted, with its nodes' generations and recorded ports."""
    enabling = set(
        Operation.objects.filter(kind=Operation.Kind.ENABLE_JWT, state__in=Operation.ACTIVE).values_list(
            "cluster_id", flat=True
        )
    )
    clusters = Cluster.objects.filter(runtime=Runtime.QDRANT).exclude(phase=Phase.DELETING).prefetch_related("nodes")
    # While granular access is being enabled, every node started (restarted
    # by the step, or after a crash) gets jwt_rbac on.
    return [cluster_spec(cluster, jwt_rbac=cluster.jwt_rbac or cluster.id in enabling) for cluster in clusters]


def cluster_spec(cluster: Cluster, *, jwt_rbac: bool | None = None) -> ClusterSpec:
    """What the runtime knows of a cluster: its size, master key, nodes'
    generations and recorded ports (uses prefetched nodes when there are)."""
    nodes = list(cluster.nodes.all())
    recorded = [n for n in nodes if n.http_port and n.grpc_port]
    ports = None
    if len(recorded) == len(nodes) == cluster.number_of_nodes:
        ports = tuple(NodePorts(http=n.http_port, grpc=n.grpc_port, p2p=n.p2p_port) for n in nodes)
    return ClusterSpec(
        id=str(cluster.id),
        size=cluster.number_of_nodes,
        master_key=cluster.master_key,
        jwt_rbac=cluster.jwt_rbac if jwt_rbac is None else jwt_rbac,
        node_generations={n.index: n.generation for n in nodes},
        ports=ports,
    )


def _state(health: NodeHealth) -> str:
    if health.healthy:
        return NodeState.HEALTHY
    if not health.running:
        return NodeState.UNHEALTHY
    if health.ready and health.joined:
        return NodeState.RECOVERING  # up, but a replica still catches up
    return NodeState.STARTING


def _version(node: Node) -> str:
    try:
        return str(node_runtime().version(node))
    except (RuntimeError, ValueError, KeyError, TypeError):
        return ""


def node_seen(node: Node, health: NodeHealth, address: NodeAddress | None) -> None:
    """Records what the supervisor sees of a node: its state, the generation it
    runs, its ports (allocated once, kept) and the version it reports."""
    state = _state(health)
    changes = {"state": state, "detail": health.detail[:255], "seen_at": timezone.now()}
    if health.running:
        changes["applied_generation"] = health.generation
    if address is not None:
        changes |= {"http_port": address.ports.http, "grpc_port": address.ports.grpc, "p2p_port": address.ports.p2p}
    if state == NodeState.HEALTHY:
        changes["version"] = _version(node)[:32]
    rows = ClusterNode.objects.filter(cluster_id=node.cluster.id, index=node.index)
    if state == NodeState.HEALTHY:
        rows.exclude(state=NodeState.HEALTHY).update(started_at=timezone.now())
    rows.update(**changes)
    cluster_phase_sync(node.cluster.id)


def cluster_phase_sync(cluster_id) -> None:
    """A `qdrant` cluster at rest is NOT_READY while any node is not healthy,
    and HEALTHY again once every node is (Qdrant Cloud's CLUSTER_PHASE_NOT_READY:
    "operational but not all components are ready or healthy"); the reason
    names the nodes. An operation owns the phase while it runs (CREATING,
    UPDATING, DELETING), and a failed one leaves its FAILED_TO_* with its
    reason: only HEALTHY and NOT_READY are changed here, and only with no
    operation live. The phase condition is in the UPDATE itself, so an
    operation that starts meanwhile (it sets UPDATING on the same row) wins."""
    down = [
        f"{ClusterNode(index=index).name} {NodeState(state).label.lower()}" + (f" ({detail})" if detail else "")
        for index, state, detail in ClusterNode.objects.filter(cluster_id=cluster_id)
        .exclude(state=NodeState.HEALTHY).values_list("index", "state", "detail")
    ]
    at_rest = Cluster.objects.filter(id=cluster_id, runtime=Runtime.QDRANT).exclude(
        operations__state__in=Operation.ACTIVE)
    if down:
        reason = ("Not every node is ready: " + ", ".join(down))[:255]
        at_rest.filter(phase__in=(Phase.HEALTHY, Phase.NOT_READY)).exclude(reason=reason).update(
            phase=Phase.NOT_READY, reason=reason)
    else:
        at_rest.filter(phase=Phase.NOT_READY).update(phase=Phase.HEALTHY, reason="")


# -- what the console reads of the nodes --------------------------------------

# The key form waits this long, in all, for a node to list the collections.
COLLECTIONS_TIMEOUT_SECONDS = 2.0


def cluster_collection_names(cluster: Cluster) -> list[str]:
    """The names of a `qdrant` cluster's collections, sorted, as one of its
    ready nodes lists them (the runtime asks it with the master key). Raises
    CollectionsUnreadable."""
    ready = [row for row in cluster.nodes.all() if row.state == NodeState.HEALTHY]
    if not ready:
        raise CollectionsUnreadable("no node of the cluster is ready")
    runtime = node_runtime()
    spec = cluster_spec(cluster)
    deadline = time.monotonic() + COLLECTIONS_TIMEOUT_SECONDS
    problems = []
    for row in ready:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return runtime.collections(Node(spec, row.index), timeout=remaining)
        except RuntimeError as exc:
            problems.append(str(exc))
    raise CollectionsUnreadable("; ".join(problems) or "no node answered in time")


# -- the steps of the job machine for `qdrant` clusters ---------------------------


def _wait(node: ClusterNode, done: Callable[[ClusterNode], bool], *, renew: Callable[[], None], what: str) -> None:
    """Waits until `done(row)`, renewing the operation's lease meanwhile (a
    worker that lost it stops here: `renew` raises LeaseLost)."""
    timeout = settings.CLUSTER_NODE_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    renew_every = max(0.5, settings.OPERATION_LEASE_SECONDS / 3)
    renewed = time.monotonic()
    while True:
        row = ClusterNode.objects.get(pk=node.pk)
        if done(row):
            return
        if time.monotonic() > deadline:
            detail = f" ({row.detail})" if row.detail else ""
            raise TimeoutError(f"not {what} within {timeout:g} s{detail}; is the node supervisor running?")
        if time.monotonic() - renewed >= renew_every:
            renew()
            renewed = time.monotonic()
        time.sleep(_POLL_SECONDS)


def node_start(operation: Operation, node: ClusterNode, renew: Callable[[], None]) -> None:
    """Provisioning: the supervisor starts every node of a new cluster (peers
    one at a time); the step waits until this one is ready and joined."""
    _wait(node, lambda row: row.state == NodeState.HEALTHY, renew=renew, what="ready and joined")


def node_restart(operation: Operation, node: ClusterNode, renew: Callable[[], None]) -> None:
    """One node of a rolling restart: asks for its next generation, once per
    operation (a resumed step finds it asked for already and only waits), then
    waits until the node runs it, ready, joined and with every replica active.
    The supervisor restarts it only while the rest of the cluster is settled."""
    ClusterNode.objects.filter(pk=node.pk).exclude(generation_operation=operation.id).update(
        generation=F("generation") + 1, generation_operation=operation.id
    )
    _wait(
        node,
        lambda row: row.applied_generation == row.generation and row.state == NodeState.HEALTHY,
        renew=renew,
        what="restarted, ready and joined",
    )


def cluster_nodes_remove(cluster: Cluster, renew: Callable[[], None]) -> None:
    """Deleting: the supervisor stops the nodes of a cluster that is DELETING;
    then its storage goes (whatever still runs of it is stopped first)."""
    runtime = node_runtime()
    cluster_id = str(cluster.id)
    deadline = time.monotonic() + 30
    while any(running == cluster_id for running, _ in runtime.running()) and time.monotonic() < deadline:
        renew()
        time.sleep(_POLL_SECONDS)
    runtime.remove(cluster_id)


def cluster_version(cluster: Cluster, nodes: list[ClusterNode] | None = None) -> str:
    """What the given nodes of the cluster report (all of them by default),
    several while they differ; "" until one has answered."""
    nodes = list(cluster.nodes.all()) if nodes is None else nodes
    versions = sorted({n.version for n in nodes if n.version})
    return ", ".join(v if v.startswith("v") else f"v{v}" for v in versions)


class LocalQdrantNodes(ClusterRuntime):
    """The `qdrant` runtime as the console sees it: Qdrant processes on this
    host, started by the node supervisor, driven through the rows."""

    def where(self, cluster) -> str:
        return f"Qdrant processes on this console's host, {cluster.region}"

    provision_node = staticmethod(node_start)
    restart_node = staticmethod(node_restart)

    def settle(self, cluster_id) -> None:
        cluster_phase_sync(cluster_id)

    def remove(self, cluster, renew) -> None:
        cluster_nodes_remove(cluster, renew)

    def collections(self, cluster) -> list[str]:
        return cluster_collection_names(cluster)

    def version(self, cluster, nodes=None) -> str:
        return cluster_version(cluster, nodes)
