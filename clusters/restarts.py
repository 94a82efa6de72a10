"""Rolling restarts of a cluster, and the one that enables granular access.

Both are operations of the one job machine (clusters/operations.py), which
claims, fences, resumes and sweeps them.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import Action
from audit.services import audit_record
from clusters.models import Cluster, Operation
from clusters.operations import operation_start

NOT_RESTARTABLE = "The console does not run this cluster's nodes: restart them where they run."


@transaction.atomic
def granular_access_enable(*, cluster: Cluster, by, client_ip: str | None) -> Operation:
    """Turns on JWT RBAC through a rolling restart; once, and never undone.

    A second call while the restart runs (double click, two tabs) returns the
    same operation instead of starting another.
    """
    cluster = Cluster.objects.select_for_update().get(id=cluster.id)
    if cluster.jwt_rbac:
        raise ValidationError("Granular access control is already enabled on this cluster.")
    if not cluster.restartable:
        raise ValidationError(NOT_RESTARTABLE + " Turn jwt_rbac on there, then check the cluster.")
    active = cluster.operations.filter(state__in=Operation.ACTIVE).first()
    if active is None:
        active, created = operation_start(
            cluster=cluster, kind=Operation.Kind.ENABLE_JWT, by=by, client_ip=client_ip
        )
        if created:
            audit_record(
                account=cluster.account,
                action=Action.GRANULAR_ACCESS_ENABLED,
                target=cluster,
                actor=by,
                client_ip=client_ip,
            )
    if active.kind == Operation.Kind.PROVISION:
        raise ValidationError("The cluster is being created; enable granular access when it is healthy.")
    if active.kind != Operation.Kind.ENABLE_JWT:
        # A plain restart would finish without turning granular access on.
        raise ValidationError("The cluster is restarting; enable granular access when the restart is done.")
    return active


@transaction.atomic
def cluster_restart_start(*, cluster: Cluster, by, client_ip: str | None) -> Operation:
    """A plain rolling restart through the same machinery; joins one that runs."""
    cluster = Cluster.objects.select_for_update().get(id=cluster.id)
    if not cluster.restartable:
        raise ValidationError(NOT_RESTARTABLE)
    active = cluster.operations.filter(state__in=Operation.ACTIVE).first()
    return active or operation_start(cluster=cluster, kind=Operation.Kind.RESTART, by=by, client_ip=client_ip)[0]
