"""The Celery worker's prefork pool, made to fail whole instead of hanging.

Without an event loop (the filesystem broker of the embedded default) Celery
uses billiard's blocking pool, whose children all read their jobs from one
pipe under one process-shared lock, and wait for work *holding* it
(`with self._rlock: recv_bytes()`). A child killed by a signal (kill -9, the
OOM killer, a hard time limit) while idle dies with that lock taken, and
every child after it, the replacements too, blocks on it for ever: the
worker stays up and runs nothing (issue 9: no task for over 150 s).

Nothing inside the worker can take the lock back, so on the first child lost
to a signal the worker exits (status 70, one log line); its supervisor
(`runall`, systemd, ...) starts a fresh one, and the lease and the sweeper
(clusters/operations.py) bring the operation it was running to the end. The
pool of an event loop (Redis: AsynPool, a pipe and no shared lock per child)
replaces lost children itself and is left as it is.
"""

import logging
import os
import signal

from billiard import active_children
from billiard.pool import RUN
from billiard.pool import Pool as BlockingPool
from celery.concurrency import prefork

log = logging.getLogger(__name__)

EXIT_POOL_BROKEN = 70  # EX_SOFTWARE


class _FailWholePool(BlockingPool):
    def _join_exited_workers(self, shutdown=False):
        exitcodes = super()._join_exited_workers(shutdown=shutdown)
        lost = [code for code in exitcodes if code is not None and code < 0]
        if lost and not shutdown and self._state == RUN:
            log.critical(
                "Pool child killed by signal %d; the blocking pool cannot recover, so the worker exits to be restarted",
                -lost[0],
            )
            for child in active_children():
                try:
                    os.kill(child.pid, signal.SIGKILL)
                except OSError:
                    pass
            os._exit(EXIT_POOL_BROKEN)
        return exitcodes


class TaskPool(prefork.TaskPool):
    BlockingPool = _FailWholePool
