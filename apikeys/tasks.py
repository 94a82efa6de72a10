"""Celery beat runs this hourly (settings.CELERY_BEAT_SCHEDULE); thin, as every task here."""

from datetime import datetime

from celery import shared_task

from apikeys.digest import send_usage_digests
from apikeys.reminders import send_expiry_reminders
from apikeys.retire import key_retire
from apikeys.usage import usage_rollup


@shared_task(ignore_result=False, time_limit=600)
def expiry_reminders_task(at: str | None = None) -> int:
    """Sends the expiry reminders due now (or at `at`, an ISO time, for tests
    that move the clock); safe to run twice at once. Returns how many it sent."""
    return send_expiry_reminders(now=datetime.fromisoformat(at) if at else None)


@shared_task(ignore_result=True, time_limit=60, acks_late=True)
def key_retire_task(key_id: str) -> None:
    key_retire(key_id)


@shared_task(ignore_result=True, time_limit=600)
def usage_rollup_task() -> int:
    """Rolls per-minute key usage up into hours and prunes both; safe to run twice."""
    return usage_rollup()


@shared_task(ignore_result=False, time_limit=600)
def usage_digest_task(at: str | None = None) -> int:
    """Sends the weekly key digests not sent yet this week; safe to run twice at once."""
    return send_usage_digests(now=datetime.fromisoformat(at) if at else None)
