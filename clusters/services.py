import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clusters import crypto
from clusters.models import Cluster, ClusterNode, NodeState, Phase, default_endpoint
from keyset.contract import keys_changed

log = logging.getLogger(__name__)


@transaction.atomic
def cluster_create(
    *, account, name: str, cloud_provider: str, region: str, version: str, number_of_nodes: int, created_at=None
) -> Cluster:
    """Records a new cluster in CREATING and enqueues its provisioning on commit."""
    cluster = Cluster(
        account=account,
        name=name,
        cloud_provider=cloud_provider,
        region=region,
        version=version,
        number_of_nodes=number_of_nodes,
        master_key_encrypted=crypto.encrypt(crypto.new_master_key()),
        created_at=created_at or timezone.now(),
    )
    cluster.endpoint_url = default_endpoint(cluster.id)
    cluster.rest_port = settings.DATAPLANE_PORT  # where this project's data plane serves it
    cluster.jwt_rbac = not cluster.is_legacy
    cluster.full_clean()
    cluster.save()
    ClusterNode.objects.bulk_create(ClusterNode(cluster=cluster, index=i) for i in range(number_of_nodes))
    keys_changed()  # the data plane learns the cluster's master key and version
    transaction.on_commit(lambda: provision_dispatch(cluster.id))
    return cluster


def provision_dispatch(cluster_id) -> bool:
    """Hands provisioning to the broker; False when it is down, and the
    sweeper (clusters.restarts.operations_sweep) tries again later."""
    from clusters.tasks import cluster_provision

    try:
        cluster_provision.apply_async((str(cluster_id),), retry=False)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("Broker unavailable (%s); cluster %s waits for the sweeper", type(exc).__name__, cluster_id)
        return False
    return True


def cluster_provision_run(cluster_id) -> None:
    """Brings up a CREATING cluster's nodes one by one, then marks it HEALTHY.

    Safe to run twice: a cluster that is no longer CREATING is left alone, and
    nodes already up are skipped, so a redelivered task finishes the job.
    """
    cluster = Cluster.objects.filter(id=cluster_id, phase=Phase.CREATING).first()
    if cluster is None:
        return
    for node in cluster.nodes.exclude(state=NodeState.HEALTHY):
        time.sleep(settings.CLUSTER_NODE_START_SECONDS)
        ClusterNode.objects.filter(pk=node.pk).update(state=NodeState.HEALTHY, started_at=timezone.now())
    Cluster.objects.filter(id=cluster_id, phase=Phase.CREATING).update(phase=Phase.HEALTHY, reason="")


def master_keys_rotate() -> int:
    """Re-encrypts every master key under the newest encryption key."""
    count = 0
    for cluster in Cluster.objects.only("id", "master_key_encrypted").iterator():
        Cluster.objects.filter(id=cluster.id).update(master_key_encrypted=crypto.rotate(cluster.master_key_encrypted))
        count += 1
    return count
