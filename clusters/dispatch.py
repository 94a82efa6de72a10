"""The one place that hands work to Celery.

Tasks are sent by name, so nothing here imports clusters.tasks and the
services that call this never import the tasks either: the import graph runs
one way, tasks -> operations -> dispatch (tests/test_operations.py checks it).
"""

import logging

from celery import current_app as app  # the project's (console/celery.py): apps sit below it
from django.utils import timezone

from clusters.models import Operation

log = logging.getLogger(__name__)

OPERATION_RUN = "clusters.tasks.operation_run"


def operation_dispatch(operation_id) -> bool:
    """Hands the operation to the broker; False (and nothing lost) when it is down.

    The row stays PENDING with no `dispatched_at`, and the sweeper dispatches
    it once the broker is back. A duplicate message is harmless: only one
    worker can claim the operation.
    """
    try:
        # No result to wait for: with ignore_result the publish is the only
        # broker call, and it fails at once when the broker is down (the
        # Redis result backend would otherwise retry for 20 s first).
        app.send_task(OPERATION_RUN, (str(operation_id),), retry=False, ignore_result=True)
    except Exception as exc:  # noqa: BLE001 - kombu raises several types for an unreachable broker
        log.warning("Broker unavailable (%s); operation %s waits for the sweeper", type(exc).__name__, operation_id)
        return False
    Operation.objects.filter(id=operation_id, state=Operation.State.PENDING).update(dispatched_at=timezone.now())
    return True
