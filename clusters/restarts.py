"""Rolling restarts of a cluster, and the one that enables granular access.

The Operation row is what the user sees and what makes the work safe to run
twice: the task claims it (PENDING, or RUNNING with an expired lease when a
worker died), renews the lease node by node, and resumes after the last node
it finished. The sweeper (Celery beat) re-dispatches operations whose message
never reached the broker or whose worker died.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.models import Action
from audit.services import audit_record
from clusters.models import Cluster, ClusterNode, NodeState, Operation, Phase
from clusters.services import provision_dispatch
from dataplane.notify import keys_changed

log = logging.getLogger(__name__)


@transaction.atomic
def granular_access_enable(*, cluster: Cluster, by, client_ip: str | None) -> Operation:
    """Turns on JWT RBAC through a rolling restart; once, and never undone.

    A second call while the restart runs (double click, two tabs) returns the
    same operation instead of starting another.
    """
    cluster = Cluster.objects.select_for_update().get(id=cluster.id)
    if cluster.jwt_rbac:
        raise ValidationError("Granular access control is already enabled on this cluster.")
    active = cluster.operations.filter(state__in=Operation.ACTIVE).first()
    if active is None:
        active, created = _operation_start(cluster, Operation.Kind.ENABLE_JWT, by, client_ip)
        if created:
            audit_record(
                account=cluster.account,
                action=Action.GRANULAR_ACCESS_ENABLED,
                target=cluster,
                actor=by,
                client_ip=client_ip,
            )
    if active.kind != Operation.Kind.ENABLE_JWT:
        # A plain restart would finish without turning granular access on.
        raise ValidationError("The cluster is restarting; enable granular access when the restart is done.")
    return active


@transaction.atomic
def cluster_restart_start(*, cluster: Cluster, by, client_ip: str | None) -> Operation:
    """A plain rolling restart through the same machinery."""
    cluster = Cluster.objects.select_for_update().get(id=cluster.id)
    active = cluster.operations.filter(state__in=Operation.ACTIVE).first()
    return active or _operation_start(cluster, Operation.Kind.RESTART, by, client_ip)[0]


def _operation_start(cluster: Cluster, kind: str, by, client_ip: str | None) -> tuple[Operation, bool]:
    """(the cluster's live operation, whether this call created it)."""
    try:
        with transaction.atomic():
            operation = Operation.objects.create(cluster=cluster, kind=kind, created_by=by, client_ip=client_ip)
    except IntegrityError:
        # Lost a race with another request (SQLite has no row locks): the
        # partial unique constraint kept it to one live operation; use it.
        return cluster.operations.get(state__in=Operation.ACTIVE), False
    Cluster.objects.filter(id=cluster.id).update(phase=Phase.UPDATING, reason="Rolling restart")
    audit_record(account=cluster.account, action=Action.RESTART_STARTED, target=cluster, actor=by, client_ip=client_ip)
    transaction.on_commit(lambda: operation_dispatch(operation.id))
    return operation, True


def operation_dispatch(operation_id) -> bool:
    """Hands the operation to the broker; False (and nothing lost) when it is down."""
    from clusters.tasks import cluster_restart

    try:
        cluster_restart.apply_async((str(operation_id),), retry=False)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("Broker unavailable (%s); operation %s waits for the sweeper", type(exc).__name__, operation_id)
        return False
    Operation.objects.filter(id=operation_id).update(dispatched_at=timezone.now())
    return True


def _lease() -> timezone.datetime:
    return timezone.now() + timedelta(seconds=settings.OPERATION_LEASE_SECONDS)


def operation_run(operation_id) -> None:
    now = timezone.now()
    claimed = Operation.objects.filter(
        Q(state=Operation.State.PENDING) | Q(state=Operation.State.RUNNING, lease_until__lt=now), id=operation_id
    ).update(state=Operation.State.RUNNING, lease_until=_lease(), started_at=Coalesce("started_at", now))
    if not claimed:
        return  # done already, or a live worker owns it
    operation = Operation.objects.select_related("cluster__account", "created_by").get(id=operation_id)
    for node in list(operation.cluster.nodes.all())[operation.nodes_done :]:
        Operation.objects.filter(id=operation.id).update(current_node=node.index, lease_until=_lease())
        ClusterNode.objects.filter(pk=node.pk).update(state=NodeState.STARTING)
        time.sleep(settings.CLUSTER_RESTART_NODE_SECONDS)
        ClusterNode.objects.filter(pk=node.pk).update(state=NodeState.HEALTHY, started_at=timezone.now())
        Operation.objects.filter(id=operation.id).update(nodes_done=F("nodes_done") + 1)
    _operation_finish(operation)


@transaction.atomic
def _operation_finish(operation: Operation) -> None:
    cluster = operation.cluster
    changes = {"phase": Phase.HEALTHY, "reason": "", "restarted_at": timezone.now()}
    if operation.kind == Operation.Kind.ENABLE_JWT:
        changes["jwt_rbac"] = True
    Cluster.objects.filter(id=cluster.id).update(**changes)
    if operation.kind == Operation.Kind.ENABLE_JWT:
        keys_changed()  # the data plane starts accepting JWTs within a second
    Operation.objects.filter(id=operation.id).update(
        state=Operation.State.DONE, finished_at=timezone.now(), current_node=None, lease_until=None
    )
    audit_record(
        account=cluster.account,
        action=Action.RESTART_FINISHED,
        target=cluster,
        actor=operation.created_by,
        client_ip=operation.client_ip,
    )


def operations_sweep() -> int:
    """Re-dispatches operations that no worker is on; returns how many.

    Running with an expired lease (the worker died) goes back to pending;
    pending and never dispatched (the broker was down) or dispatched long ago
    and never claimed (the message was lost) is dispatched again. A duplicate
    message is harmless: only one task claims the operation.
    """
    now = timezone.now()
    Operation.objects.filter(state=Operation.State.RUNNING, lease_until__lt=now).update(
        state=Operation.State.PENDING, dispatched_at=None
    )
    patience = now - timedelta(seconds=settings.OPERATION_LEASE_SECONDS)
    stale = Operation.objects.filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=patience), state=Operation.State.PENDING
    ).values_list("id", flat=True)
    count = sum(operation_dispatch(operation_id) for operation_id in stale)
    # Provisioning whose message never reached the broker (or was lost) is
    # handed over again; the provisioning task skips nodes already up.
    creating = Cluster.objects.filter(phase=Phase.CREATING, created_at__lt=patience).values_list("id", flat=True)
    count += sum(provision_dispatch(cluster_id) for cluster_id in creating)
    # No cluster stays UPDATING without a live operation (e.g. one deleted by hand).
    orphans = Cluster.objects.filter(phase=Phase.UPDATING).exclude(operations__state__in=Operation.ACTIVE)
    orphans.update(phase=Phase.HEALTHY, reason="")
    return count
