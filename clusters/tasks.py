"""Celery tasks: thin, taking ids; the work is in clusters/operations.py.

Both are sent by name, so no module imports this one: `operation_run` by
clusters/dispatch.py, `operations_sweep_task` by Celery beat
(CELERY_BEAT_SCHEDULE in console/settings.py).
No retries here: a task that fails leaves its operation's lease to expire,
and the sweeper hands the operation to a worker again.
"""

from celery import shared_task

from clusters import operations
from clusters.models import Cluster, Phase
from clusters.runtime import runtime_for


@shared_task(acks_late=True, ignore_result=True, time_limit=1800, soft_time_limit=1740)
def operation_run(operation_id: str) -> None:
    operations.operation_run(operation_id=operation_id)


@shared_task(ignore_result=True, time_limit=60)
def operations_sweep_task() -> int:
    return operations.operations_sweep()


@shared_task(ignore_result=True, time_limit=300)
def clusters_check_task() -> None:
    """The periodic health check of every cluster whose runtime has one (connected clusters)."""
    for cluster in Cluster.objects.exclude(phase=Phase.DELETING).iterator():
        runtime_for(cluster).check(cluster)
