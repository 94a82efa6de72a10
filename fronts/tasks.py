"""Celery beat runs this every few minutes (settings.CELERY_BEAT_SCHEDULE); thin, as every task here."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from fronts.changelog import CHANGES_RETENTION, changes_prune
from fronts.credentials import front_instances_prune

# A front process not heard from for this long is dropped from `list_fronts`.
INSTANCES_RETENTION = timedelta(days=1)


@shared_task(ignore_result=True, time_limit=600)
def keyset_prune_task() -> int:
    """Drops key set changes older than CHANGES_RETENTION: every live data plane
    process applied them long ago, and one that did not loads the whole key set;
    and the front processes not heard from for a day (each restart is a new one)."""
    front_instances_prune(before=timezone.now() - INSTANCES_RETENTION)
    return changes_prune(before=timezone.now() - CHANGES_RETENTION)
