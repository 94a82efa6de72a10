from celery import shared_task

from clusters.restarts import operation_run, operations_sweep
from clusters.services import cluster_provision_run


@shared_task(acks_late=True, max_retries=5, time_limit=600)
def cluster_provision(cluster_id: str) -> None:
    cluster_provision_run(cluster_id)


@shared_task(acks_late=True, time_limit=1800)
def cluster_restart(operation_id: str) -> None:
    operation_run(operation_id)


@shared_task(time_limit=60)
def operations_sweep_task() -> int:
    return operations_sweep()
