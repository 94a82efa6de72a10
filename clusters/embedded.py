"""The `embedded` runtime as the console sees it: the data plane's own engine
(qdrant-edge) serves every node, so nothing starts or stops. Node steps take
the configured time (settings.CLUSTER_NODE_START_SECONDS and
CLUSTER_RESTART_NODE_SECONDS) so that the pages and the API follow an
operation as they would a real one, and the job machine records the node
states itself: nobody else reports on these nodes."""

import time

from django.conf import settings
from django.utils import timezone

from clusters.models import ClusterNode, NodeState
from clusters.runtime import ClusterRuntime


class EmbeddedNodes(ClusterRuntime):
    def where(self, cluster) -> str:
        return f"Embedded in the front (the data plane serves it) on this console's host, {cluster.region}"

    def provision_node(self, operation, node, renew) -> None:
        time.sleep(settings.CLUSTER_NODE_START_SECONDS)

    def restart_node(self, operation, node, renew) -> None:
        # The engine reads the cluster's settings (jwt_rbac, master key) from
        # the key set, which changes when the operation finishes: nothing
        # restarts, only the time a node would take passes.
        time.sleep(settings.CLUSTER_RESTART_NODE_SECONDS)

    def node_begin(self, node) -> None:
        ClusterNode.objects.filter(pk=node.pk).update(state=NodeState.STARTING)

    def node_done(self, node) -> None:
        ClusterNode.objects.filter(pk=node.pk).update(state=NodeState.HEALTHY, started_at=timezone.now())

    def remove(self, cluster, renew) -> None:
        pass  # its collections go with the cluster's rows

    def collections(self, cluster) -> list[str]:
        from fronts.embedded import embedded_collections

        return embedded_collections(cluster.id)

    def version(self, cluster, nodes=None) -> str:
        return cluster.version
