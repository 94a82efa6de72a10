"""How the console tells the data plane that the key set changed.

Call `keys_changed()` from every service that creates or deletes a database
API key or an admin key, creates or deletes a cluster, turns a cluster's
jwt_rbac on, or changes its master key. It bumps `KeySetGeneration` inside the
caller's transaction (so the bump commits, or rolls back, with the change),
and after commit publishes on Redis when REDIS_URL is set. Data plane
processes see the bump within DATAPLANE_POLL_SECONDS either way.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from dataplane.models import KeySetGeneration

logger = logging.getLogger(__name__)

CHANNEL = "dataplane:keys"

_redis = None


def keys_changed() -> None:
    now = timezone.now()
    with transaction.atomic():
        bumped = KeySetGeneration.objects.filter(id=KeySetGeneration.ROW_ID).update(
            generation=F("generation") + 1, changed_at=now
        )
        if not bumped:  # the row the migration creates is gone: recreate it
            KeySetGeneration.objects.get_or_create(
                id=KeySetGeneration.ROW_ID, defaults={"generation": 1, "changed_at": now}
            )
    if settings.REDIS_URL:
        transaction.on_commit(_publish)


def _publish() -> None:
    global _redis
    try:
        if _redis is None:
            import redis

            _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        _redis.publish(CHANNEL, b"changed")
    except Exception as exc:  # noqa: BLE001 - the data plane's polling still sees the bump
        logger.warning("could not publish a key set change on Redis: %s", exc)
