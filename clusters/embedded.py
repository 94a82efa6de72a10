"""The `embedded` runtime as the console sees it: the data plane's own engine
(qdrant-edge) serves every node from one storage per cluster, which one front
owns (fronts.models.EmbeddedOwner) and, within it, the data plane process that
holds it open (dataplane/engine.py). A node's restart
restarts that storage: the console asks every data plane process on this host
over its control socket (keyset/handshake.py) and the step is done once each
has answered, the owner having closed the cluster's shards and loaded them back
from disk. Provisioning starts nothing (the storage is made on first use) and
takes the configured time (settings.CLUSTER_NODE_START_SECONDS) so the pages
follow it as they would a real one. The job machine records the node states
itself: nobody else reports on these nodes."""

import time

from django.conf import settings
from django.utils import timezone

from clusters.models import ClusterNode, NodeState
from clusters.runtime import ClusterRuntime
from fronts.embedded import embedded_collections, embedded_owner_elsewhere
from keyset.handshake import GONE, ask_all, restart_request

# How long one round waits for the data plane processes to answer.
_ASK_SECONDS = 5.0


class EmbeddedNodes(ClusterRuntime):
    def where(self, cluster) -> str:
        return f"Embedded in the front (the data plane serves it) on this console's host, {cluster.region}"

    def provision_node(self, operation, node, renew) -> None:
        time.sleep(settings.CLUSTER_NODE_START_SECONDS)

    def restart_node(self, operation, node, renew) -> None:
        # The engine reads the cluster's settings (jwt_rbac, master key) from
        # the key set, which changes when the operation finishes; the restart
        # is of the storage, as a Qdrant node reloads its shards.
        storage_restart(node.cluster_id, renew)

    def node_begin(self, node) -> None:
        ClusterNode.objects.filter(pk=node.pk).update(state=NodeState.STARTING)

    def node_done(self, node) -> None:
        ClusterNode.objects.filter(pk=node.pk).update(state=NodeState.HEALTHY, started_at=timezone.now())

    def remove(self, cluster, renew) -> None:
        pass  # its collections go with the cluster's rows

    def collections(self, cluster) -> list[str]:
        return embedded_collections(cluster.id)

    def version(self, cluster, nodes=None) -> str:
        return cluster.version


def storage_restart(cluster_id, renew) -> None:
    """Restarts an embedded cluster's storage in the data plane, and returns
    once every data plane process on this host has answered: the one that
    holds it open has reloaded it (a shard that does not load is its error,
    and the step's). With no data plane running nothing holds it open, and it
    loads from disk when one starts. A process that does not answer is asked
    again, renewing the operation's lease, until CLUSTER_NODE_TIMEOUT_SECONDS.
    A cluster whose owner front runs on another host fails at once, naming it."""
    elsewhere = embedded_owner_elsewhere(cluster_id)
    if elsewhere is not None:
        raise RuntimeError(f"the storage is held by front '{elsewhere}' on another host, which the console "
                           "cannot ask: restart that front to reload it")
    deadline = time.monotonic() + settings.CLUSTER_NODE_TIMEOUT_SECONDS
    while True:
        replies = ask_all(run_dir=settings.DATAPLANE_RUN_DIR, request=restart_request(cluster_id),
                          timeout=_ASK_SECONDS)
        silent = sorted(pid for pid, reply in replies.items() if reply is not GONE and not (reply or {}).get("ok"))
        if not silent:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the data plane (process {', '.join(silent)}) did not report the cluster restarted "
                               f"within {settings.CLUSTER_NODE_TIMEOUT_SECONDS:g} s")
        renew()
