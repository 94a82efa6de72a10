"""The deadline of a rolled database key's old secret, on a cluster that
checks keys itself (reached directly): at the deadline the old secret's
marker is removed (clusters/connected.py). A message with that ETA is sent
when the key is rolled; the connected clusters' health check reconciles the
markers too, so a lost message delays the end by one check at most."""

import logging

from celery import current_app as app  # the project's (console/celery.py): apps sit below it

log = logging.getLogger(__name__)

KEY_RETIRE = "apikeys.tasks.key_retire_task"


def key_retire_dispatch(key_id, at) -> None:
    try:
        app.send_task(KEY_RETIRE, (str(key_id),), eta=at, retry=False, ignore_result=True)
    except Exception as exc:  # noqa: BLE001 - kombu raises several types for an unreachable broker
        log.warning("Broker unavailable (%s); key %s's old secret ends at the next health check", type(exc).__name__,
                    key_id)


def key_retire(key_id) -> None:
    """Removes the marker of the key if it is no longer usable (safe to run twice, or early: then nothing)."""
    from apikeys.models import DatabaseApiKey
    from clusters.runtime import runtime_for

    key = DatabaseApiKey.objects.select_related("cluster").filter(id=key_id).first()
    if key is None or DatabaseApiKey.objects.filter(id=key_id).usable().exists():
        return
    runtime_for(key.cluster).keys_admit(key.cluster, refuse=[key.pk])
