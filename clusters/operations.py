"""One job machine for everything long a cluster goes through: provisioning,
rolling restarts, and the restart that enables granular access.

    start      a row (PENDING), dispatched on commit (clusters/dispatch.py)
    claim      PENDING, or RUNNING with an expired lease: a fresh random token
    step       one node at a time (`STEPS`: the call that does the node's work)
    fenced     every write after the claim, progress and finish alike, is one
               transaction that first updates the operation row on condition
               that it still carries this claim's token (and renews the lease);
               without the token nothing is written and the worker stops
    sweep      Celery beat: expired leases go back to PENDING (clearing the
               token, so the old worker is fenced out even before anyone else
               claims), and PENDING rows with no live message are dispatched

The fence is a conditional UPDATE of the operation row at the start of the
transaction: on PostgreSQL it locks the row until commit, so a competing
claim waits and then sees the new token; SQLite's BEGIN IMMEDIATE
(console/settings.py) serialises the writers. The node step itself runs
outside any transaction and must be safe to repeat: a worker that stalls in
a step past its lease may find, when it wakes, that another worker did the
same step again.
"""

import logging
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.models import Action
from audit.services import audit_record
from clusters.dispatch import operation_dispatch
from clusters.models import Cluster, NodeState, Operation, Phase
from clusters.runtime import runtime_for
from fronts.changelog import keys_changed

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """This worker no longer holds the operation: it must write nothing more."""


def operation_start(*, cluster: Cluster, kind: str, by=None, client_ip: str | None = None) -> tuple[Operation, bool]:
    """(the cluster's live operation, whether this call created it).

    Call inside the caller's transaction; the message is sent on commit.
    """
    try:
        with transaction.atomic():
            operation = Operation.objects.create(cluster=cluster, kind=kind, created_by=by, client_ip=client_ip)
    except IntegrityError:
        # Lost a race with another request (SQLite has no row locks): the
        # partial unique constraint kept it to one live operation; use it.
        return cluster.operations.get(state__in=Operation.ACTIVE), False
    if kind == Operation.Kind.DELETE:
        Cluster.objects.filter(id=cluster.id).update(phase=Phase.DELETING, reason="")
    elif kind != Operation.Kind.PROVISION:
        Cluster.objects.filter(id=cluster.id).update(phase=Phase.UPDATING, reason="Rolling restart")
        audit_record(
            account=cluster.account, action=Action.RESTART_STARTED, target=cluster, actor=by, client_ip=client_ip
        )
    transaction.on_commit(lambda: operation_dispatch(operation.id))
    return operation, True


@dataclass(frozen=True)
class Claim:
    operation_id: object
    token: str


def _lease() -> timezone.datetime:
    return timezone.now() + timedelta(seconds=settings.OPERATION_LEASE_SECONDS)


def operation_claim(operation_id) -> Claim | None:
    """Takes the operation with a new token, or None when it is done or a live worker holds it."""
    token = secrets.token_hex(16)
    now = timezone.now()
    claimed = Operation.objects.filter(
        Q(state=Operation.State.PENDING) | Q(state=Operation.State.RUNNING, lease_until__lt=now), id=operation_id
    ).update(state=Operation.State.RUNNING, lease_token=token, lease_until=_lease(), started_at=Coalesce("started_at", now))
    return Claim(operation_id, token) if claimed else None


@contextmanager
def fenced(claim: Claim, **changes):
    """A transaction that commits only while `claim` holds: the operation row
    is updated first (renewing the lease, plus `changes`), on condition that
    it still carries the claim's token; otherwise LeaseLost, and nothing."""
    with transaction.atomic():
        held = Operation.objects.filter(
            id=claim.operation_id, lease_token=claim.token, state=Operation.State.RUNNING
        ).update(**({"lease_until": _lease()} | changes))
        if not held:
            raise LeaseLost(f"operation {claim.operation_id}")
        yield


def operation_run(*, operation_id) -> None:
    """Claims the operation and runs it to the end, resuming after the last node done."""
    claim = operation_claim(operation_id)
    if claim is None:
        return  # done already, or a live worker owns it
    try:
        _run(claim)
    except LeaseLost:
        log.warning(
            "Operation %s: this worker lost its lease (another took it over, or it is gone); it stops and writes nothing",
            operation_id,
        )


def _run(claim: Claim) -> None:
    operation = Operation.objects.select_related("cluster__account", "created_by").get(id=claim.operation_id)
    cluster = operation.cluster

    def renew() -> None:
        with fenced(claim):
            pass

    runtime = runtime_for(cluster)
    if operation.kind == Operation.Kind.DELETE:
        runtime.remove(cluster, renew)
        _finish(claim, operation)
        return
    # Each step does one node's work and returns when the node is up (clusters/runtime.py).
    step = runtime.provision_node if operation.kind == Operation.Kind.PROVISION else runtime.restart_node
    for node in list(cluster.nodes.all())[operation.nodes_done :]:
        already_up = operation.kind == Operation.Kind.PROVISION and node.state == NodeState.HEALTHY
        if not already_up:
            with fenced(claim, current_node=node.index):
                runtime.node_begin(node)
            try:
                step(operation, node, renew)
            except LeaseLost:
                raise
            except Exception as exc:
                log.exception("Operation %s: %s failed", claim.operation_id, node.name)
                _fail(claim, operation, f"{node.name}: {exc}"[:255])
                return
        with fenced(claim, nodes_done=F("nodes_done") + 1):
            runtime.node_done(node)
    _finish(claim, operation)


def _finish(claim: Claim, operation: Operation) -> None:
    now = timezone.now()
    cluster = operation.cluster
    with fenced(claim, state=Operation.State.DONE, finished_at=now, current_node=None, lease_until=None, lease_token=""):
        if operation.kind == Operation.Kind.PROVISION:
            Cluster.objects.filter(id=cluster.id).update(phase=Phase.HEALTHY, reason="")
            runtime_for(cluster).settle(cluster.id)  # a node may have gone down since its step
            return
        if operation.kind == Operation.Kind.DELETE:
            audit_record(
                account=cluster.account,
                action=Action.CLUSTER_DELETED,
                target=cluster,
                actor=operation.created_by,
                client_ip=operation.client_ip,
            )
            Cluster.objects.filter(id=cluster.id).delete()  # its nodes, keys and operations with it
            keys_changed(cluster=cluster.id)
            return
        changes = {"phase": Phase.HEALTHY, "reason": "", "restarted_at": now}
        if operation.kind == Operation.Kind.ENABLE_JWT:
            changes["jwt_rbac"] = True
        Cluster.objects.filter(id=cluster.id).update(**changes)
        runtime_for(cluster).settle(cluster.id)  # a node may have gone down since its step
        if operation.kind == Operation.Kind.ENABLE_JWT:
            keys_changed(cluster=cluster)  # every data plane process accepts its JWTs once this has committed
        audit_record(
            account=cluster.account,
            action=Action.RESTART_FINISHED,
            target=cluster,
            actor=operation.created_by,
            client_ip=operation.client_ip,
        )


def _fail(claim: Claim, operation: Operation, error: str) -> None:
    phase = Phase.FAILED_TO_CREATE if operation.kind == Operation.Kind.PROVISION else Phase.FAILED_TO_UPDATE
    with fenced(
        claim, state=Operation.State.FAILED, finished_at=timezone.now(), lease_until=None, lease_token="", error=error
    ):
        Cluster.objects.filter(id=operation.cluster_id).update(phase=phase, reason=error)


def operations_sweep() -> int:
    """Re-dispatches operations that no worker is on; returns how many.

    Running with an expired lease (the worker died or stalled) goes back to
    pending, without its token; pending and never dispatched (the broker was
    down) or dispatched long ago and never claimed (the message was lost) is
    dispatched again.
    """
    now = timezone.now()
    Operation.objects.filter(state=Operation.State.RUNNING, lease_until__lt=now).update(
        state=Operation.State.PENDING, dispatched_at=None, lease_token=""
    )
    patience = now - timedelta(seconds=settings.OPERATION_LEASE_SECONDS)
    stale = Operation.objects.filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=patience), state=Operation.State.PENDING
    ).values_list("id", flat=True)
    count = sum(operation_dispatch(operation_id) for operation_id in stale)
    # No cluster stays UPDATING without a live operation (e.g. one deleted by hand).
    orphans = Cluster.objects.filter(phase=Phase.UPDATING).exclude(operations__state__in=Operation.ACTIVE)
    orphans.update(phase=Phase.HEALTHY, reason="")
    return count
