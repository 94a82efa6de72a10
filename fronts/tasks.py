"""Celery beat runs this every few minutes (settings.CELERY_BEAT_SCHEDULE); thin, as every task here."""

from celery import shared_task
from django.utils import timezone

from fronts.changelog import CHANGES_RETENTION, changes_prune


@shared_task(ignore_result=True, time_limit=600)
def keyset_prune_task() -> int:
    """Drops key set changes older than CHANGES_RETENTION: every live data plane
    process applied them long ago, and one that did not loads the whole key set."""
    return changes_prune(before=timezone.now() - CHANGES_RETENTION)
