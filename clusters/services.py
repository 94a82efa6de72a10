from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import audit_record
from clusters import catalog, crypto
from clusters.models import Cluster, ClusterNode, Operation, default_endpoint
from clusters.operations import operation_start
from clusters.signals import cluster_deleting
from fronts.changelog import keys_changed


@transaction.atomic
def cluster_create(
    *,
    account,
    name: str,
    version: str,
    number_of_nodes: int,
    created_at=None,
    runtime: str | None = None,
    by=None,
    client_ip: str | None = None,
) -> Cluster:
    """Records a new cluster in CREATING, with its provisioning operation dispatched on commit.

    Its runtime is fixed here for good: `qdrant` when the console has a Qdrant
    binary (settings.QDRANT_BINARY), else `embedded`. Either way its nodes
    run on this host, which is what its provider and region say.
    """
    cluster = Cluster(
        runtime=runtime or settings.CLUSTER_RUNTIME,
        account=account,
        name=name,
        cloud_provider=catalog.HYBRID,
        region=catalog.this_host(),
        version=version,
        number_of_nodes=number_of_nodes,
        master_key_encrypted=crypto.encrypt(crypto.new_master_key()),
        created_at=created_at or timezone.now(),
    )
    cluster.endpoint_url = default_endpoint(cluster.id)
    cluster.rest_port = settings.DATAPLANE_PORT  # where this project's data plane serves it
    cluster.grpc_port = settings.DATAPLANE_GRPC_PORT
    cluster.jwt_rbac = not cluster.is_legacy
    cluster.full_clean()
    cluster.save()
    ClusterNode.objects.bulk_create(ClusterNode(cluster=cluster, index=i) for i in range(number_of_nodes))
    keys_changed(cluster=cluster)  # the data plane learns the cluster's master key and version
    # Provisioning is an operation like a restart: the page follows it, a
    # worker runs it, the sweeper resumes it (clusters/operations.py).
    operation_start(cluster=cluster, kind=Operation.Kind.PROVISION, by=by, client_ip=client_ip)
    audit_record(account=account, action=Action.CLUSTER_CREATED, target=cluster, actor=by, client_ip=client_ip)
    return cluster


@transaction.atomic
def cluster_delete(*, cluster: Cluster, by, client_ip: str | None) -> Operation:
    """Deletes a cluster: its keys stop working at once, then a job stops its
    nodes, removes their storage and the cluster's rows (clusters/operations.py);
    the data plane removes an embedded cluster's storage when it sees the
    cluster gone (dataplane/engine.py).

    An operation still running on it (a restart) is cancelled: clearing its
    lease token fences its worker out. A second call joins the delete.
    """
    cluster = Cluster.objects.select_for_update().get(id=cluster.id)
    active = cluster.operations.filter(state__in=Operation.ACTIVE).first()
    if active is not None and active.kind == Operation.Kind.DELETE:
        return active
    if active is not None:
        Operation.objects.filter(id=active.id).update(
            state=Operation.State.FAILED, error="Cancelled: the cluster is being deleted.", lease_token="",
            lease_until=None, finished_at=timezone.now(),
        )
    cluster_deleting.send(sender=Cluster, cluster=cluster, by=by, client_ip=client_ip)  # apikeys revokes its keys
    keys_changed(cluster=cluster)  # all its keys at once
    return operation_start(cluster=cluster, kind=Operation.Kind.DELETE, by=by, client_ip=client_ip)[0]


def master_keys_rotate() -> int:
    """Re-encrypts every master key under the newest encryption key."""
    count = 0
    for cluster in Cluster.objects.only("id", "master_key_encrypted").iterator():
        Cluster.objects.filter(id=cluster.id).update(master_key_encrypted=crypto.rotate(cluster.master_key_encrypted))
        count += 1
    return count
