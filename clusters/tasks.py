from celery import shared_task

from clusters.services import cluster_provision_run


@shared_task(acks_late=True, max_retries=5, time_limit=600)
def cluster_provision(cluster_id: str) -> None:
    cluster_provision_run(cluster_id)
