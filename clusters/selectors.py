from django.db.models import Count, Q, QuerySet
from clusters.models import Cluster, NodeState
from clusters.runtime import runtime_for


def clusters_of(account) -> QuerySet[Cluster]:
    return Cluster.objects.filter(account=account).annotate(
        nodes_up=Count("nodes", filter=Q(nodes__state=NodeState.HEALTHY))
    )


def cluster_status(cluster: Cluster) -> dict:
    """What the cluster page polls to follow provisioning and restarts live."""
    nodes = list(cluster.nodes.all())
    operation = cluster.active_operation  # cached: the page's notices read it too, one query
    return {
        "id": str(cluster.id),
        "phase": cluster.phase,
        "phase_label": cluster.get_phase_display(),
        "reason": cluster.reason,
        "jwt_rbac": cluster.jwt_rbac,
        "runtime": cluster.runtime,
        "version": runtime_for(cluster).version(cluster, nodes),
        "nodes_up": sum(node.state == NodeState.HEALTHY for node in nodes),
        "nodes": [
            {
                "name": node.name,
                "state": node.state,
                "state_label": _node_label(node),
                "version": node.version,
                "detail": node.detail if node.state != NodeState.HEALTHY else "",
            }
            for node in nodes
        ],
        "restarted_at": cluster.restarted_at.isoformat() if cluster.restarted_at else None,
        "operation": {"kind": operation.kind, "state": operation.state, "progress": operation.progress}
        if operation
        else None,
    }


def _node_label(node) -> str:
    # A real node asked to restart (its generation raised) still runs the old
    # one until the supervisor gets to it: say so, rather than just "Healthy".
    pending = node.applied_generation is not None and node.applied_generation != node.generation
    if pending and node.state == NodeState.HEALTHY:
        return "Healthy · restart pending"
    return node.get_state_display()
