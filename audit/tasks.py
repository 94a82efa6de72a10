"""Celery beat runs this hourly (settings.CELERY_BEAT_SCHEDULE); thin, as every task here."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from audit.services import audit_prune


@shared_task(ignore_result=True, time_limit=600)
def audit_prune_task() -> int:
    """Prunes entries past AUDIT_RETENTION_DAYS; without the setting, keeps everything."""
    days = settings.AUDIT_RETENTION_DAYS
    if days is None:
        return 0
    return audit_prune(before=timezone.now() - timedelta(days=days))
