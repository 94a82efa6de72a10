"""When and from where each key was last used: noted on the request path in
memory, sent to the console (keyset/wire.py's last-used report) by a background
thread, with the usage counted since the last report (dataplane/usage.py).

A key is noted at most once a minute per process for each address and
protocol (REST or gRPC) it is used from, and the UPDATE skips a row that
already records that address and protocol within the minute, so with several
processes a key is still written at most once a minute per place it is used
from (NetBox's rule), and a use from a new address, refused or not, shows.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import httpx

from keyset.wire import LAST_USED_INTERVAL_SECONDS as INTERVAL_SECONDS

logger = logging.getLogger(__name__)

MAX_NOTED = 100_000


class LastUsed:
    def __init__(self, *, client, flush_seconds: float, usage=None):
        self.client = client  # dataplane.keyset_client.KeysetClient
        self.usage = usage  # dataplane.usage.Usage: its counts go with each report
        self.flush_seconds = flush_seconds
        # (key id, ip, protocol) -> monotonic time it was last noted
        self._noted: dict[tuple[str, str | None, str], float] = {}
        # (kind, id) -> (when, ip, protocol): the latest use of each key
        self._pending: dict[tuple[str, str], tuple[datetime, str | None, str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0  # rounds of the writer so far (the handshake's `stats`)

    def note(self, key, client_ip: str | None, protocol: str) -> None:
        """Called for every request that presented a known key: a dict lookup unless a minute has passed."""
        now = time.monotonic()
        place = (key.id, client_ip, protocol)
        noted = self._noted.get(place)
        if noted is not None and now - noted < INTERVAL_SECONDS:
            return
        if len(self._noted) >= MAX_NOTED:
            self._noted.clear()  # bounded: forgetting only costs one more write
        self._noted[place] = now
        with self._lock:
            self._pending[(key.kind, key.id)] = (datetime.now(UTC), client_ip, protocol)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dataplane-last-used", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()
        self.flush()

    def flush(self) -> None:
        self.flushes += 1
        with self._lock:
            pending, self._pending = self._pending, {}
        usage = self.usage.take() if self.usage is not None else []
        if not pending and not usage:
            return
        try:
            self.client.last_used([[kind, str(key_id), when.timestamp(), ip, protocol]
                                   for (kind, key_id), (when, ip, protocol) in pending.items()], usage)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 400:
                self._keep(pending, usage, exc)
                return
            # The console refused the report's shape: sent again, it would be refused again.
            logger.warning("the console refused a report of last use and usage (%s); dropped", exc)
        except Exception as exc:  # noqa: BLE001 - console unreachable: try these again next time
            self._keep(pending, usage, exc)

    def _keep(self, pending: dict, usage: list, exc: Exception) -> None:
        """A report that did not reach the console, kept for the next flush."""
        logger.warning("cannot report when keys were last used (%s); will retry", exc)
        with self._lock:
            for item, value in pending.items():
                self._pending.setdefault(item, value)
        if usage:
            self.usage.give_back(usage)
