"""How much each key is used: counted on the request path per key per minute
(keyset/usage.py's rows), shipped to the console with the last-used report
(dataplane/lastused.py).

`Usage.ended` is the one call a request that presented a known key makes
when it ends, REST or gRPC: a clock read, one dict lookup and two integer
increments, no lock (the event loop's thread alone changes the counts; the
reporting thread has the loop hand them over). Refusals also keep their reason, at most keyset.usage.MAX_REASONS a
key a minute, so a key's rows stay bounded whatever its clients send.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import re
import time
import zlib
from bisect import bisect_left

from dataplane.metrics import refusal_kind
from keyset.usage import (ALLOWED, BUCKETS, LATENCY_BOUNDS, MAX_REASON_LENGTH, MAX_REASONS, OTHER_REASON,
                          outcome_of)

logger = logging.getLogger(__name__)

# Counts kept while the console cannot be reached: past this many rows the
# newest are dropped (and said so), so an unreachable console costs no more memory.
MAX_ROWS = 200_000


class Usage:
    """Counts kept by the event loop's thread alone (REST and gRPC both run on
    it), so the request path takes no lock: the reporting thread has the loop
    itself swap the counts out (`take`, `give_back`)."""

    def __init__(self) -> None:
        # (kind, key id, minute, protocol, outcome, reason) -> [count, *latency buckets]
        self._counts: dict[tuple, list[int]] = {}
        # (key id, minute) -> reasons seen: bounds the rows one key can make
        self._reasons: dict[tuple[str, int], set[str]] = {}
        self.loop = None  # the serving event loop, set at start (DataPlane.lifespan)
        self.dropped = 0

    def ended(self, key, protocol: str, outcome: str, reason: str, bucket: int) -> None:
        """A request with `key` (a dataplane.keystore.KeyEntry) ended as `outcome`
        (keyset.usage.OUTCOMES) in latency bucket `bucket` (1-based, as the counts
        are kept); `reason`: the refusal's message, "" when allowed. On the
        event loop's thread only."""
        minute = int(time.time()) // 60
        if outcome != ALLOWED:
            reason = self._reason(key.id, minute, reason)
        place = (key.kind, key.id, minute, protocol, outcome, reason)
        counts = self._counts.get(place)
        if counts is None:
            if len(self._counts) >= MAX_ROWS:
                self.dropped += 1
                return
            counts = self._counts[place] = [0] * (BUCKETS + 1)
        counts[0] += 1
        counts[bucket] += 1

    def _reason(self, key_id: str, minute: int, reason: str) -> str:
        seen = self._reasons.get((key_id, minute))
        if seen is None:
            seen = self._reasons[(key_id, minute)] = set()
        if reason in seen:
            return reason
        if len(seen) >= MAX_REASONS:
            return OTHER_REASON
        seen.add(reason)
        return reason

    def _on_loop(self, function, *args):
        """Runs `function` on the event loop's thread (where the counts change) and returns what it returns."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return function(*args)
        done = concurrent.futures.Future()

        def run():
            try:
                done.set_result(function(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=5)

    def take(self) -> list[list]:
        """The rows counted since the last take (keyset.usage.ROW), for the report."""
        counts = self._on_loop(self._swap)
        return [[kind, key_id, minute, protocol, outcome, reason, values[0], values[1:]]
                for (kind, key_id, minute, protocol, outcome, reason), values in counts.items()]

    def _swap(self) -> dict:
        counts, self._counts = self._counts, {}
        # Reasons of past minutes are done with; this minute's stay (requests go on counting into it).
        now = int(time.time()) // 60
        self._reasons = {place: seen for place, seen in self._reasons.items() if place[1] >= now}
        return counts

    def give_back(self, rows: list[list]) -> None:
        """Rows a report could not deliver: counted again, to go with the next one."""
        self._on_loop(self._add, rows)

    def _add(self, rows: list[list]) -> None:
        for kind, key_id, minute, protocol, outcome, reason, count, latency in rows:
            place = (kind, key_id, minute, protocol, outcome, reason)
            counts = self._counts.get(place)
            if counts is None:
                if len(self._counts) >= MAX_ROWS:
                    self.dropped += count
                    continue
                counts = self._counts[place] = [0] * (BUCKETS + 1)
            counts[0] += count
            for index, value in enumerate(latency, start=1):
                counts[index] += value


# The statuses whose message is kept as the refusal's reason, and how much of
# a node's answer is read for it (Qdrant's error envelope, whole).
REASONED = frozenset({401, 403, 429})
REASON_BYTES = 4096


def reason_of(status: int, body: bytes, encoding: bytes = b"") -> str:
    """Qdrant's message in a refusal's body (plain text, or REST's JSON error),
    the body's start as the node sent it, in its Content-Encoding (a node
    compresses what the client accepts: gzip and deflate are read, others give
    no reason); what of it is counted is `kept_reason`'s."""
    if status not in REASONED:
        return ""
    encoding = encoding.strip().lower()
    if encoding in (b"gzip", b"x-gzip", b"deflate"):
        try:
            # 47: a gzip or zlib header, found by zlib; a partial stream gives what it holds.
            body = zlib.decompressobj(wbits=47).decompress(body, REASON_BYTES)
        except zlib.error:
            return ""
    elif encoding not in (b"", b"identity"):
        return ""
    text = body[:REASON_BYTES].decode("utf-8", "replace")
    if text.startswith("{"):
        try:
            text = json.loads(text)["status"]["error"]
        except (ValueError, KeyError, TypeError):
            pass
    return text


# A tenant-bound key's refusal names its point (keyset/tenant.py: "point 7 is
# another tenant's: …"): counted without the id, so one cause is one reason.
_A_POINT = re.compile(r"^point \S+ ")


def kept_reason(status: int, message: str) -> str:
    """A refusal's reason as counted: a 401's or 403's message without
    "Forbidden: "; a 429's (a node's strict mode rate limit: "Rate limiting
    exceeded: Read rate limit exceeded: Operation requires 1 tokens but only
    0.3 were available. Retry after 42s") up to its first part with a number,
    which differs from one refusal to the next, so one cause is one reason;
    a tenant-bound key's refusal without the point it names."""
    # A client's own bytes can reach a message (a collection's name with %00 in
    # the path); the console stores no NUL (keyset.usage.valid_row).
    message = message.replace("\x00", "\ufffd")
    if status == 429:
        parts = []
        for part in message.split(": "):
            if any(character.isdigit() for character in part):
                break
            parts.append(part)
        return ": ".join(parts).rstrip(".")[:MAX_REASON_LENGTH]
    if status in (401, 403):
        return _A_POINT.sub("a point ", message.removeprefix("Forbidden: "))[:MAX_REASON_LENGTH]
    return ""


# A gRPC call's end as the HTTP status the counts use (keyset.usage.outcome_of).
_GRPC_STATUS = {"OK": 200, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429,
                "INTERNAL": 500, "UNAVAILABLE": 503, "UNKNOWN": 500, "DATA_LOSS": 500,
                "DEADLINE_EXCEEDED": 504}


def request_ended(usage: Usage | None, metrics, request, status: int | str, reason: str) -> None:
    """Counts one request by how it ended (dataplane.pipeline.Pipeline.finish):
    in the front's metrics, and in its key's usage when a key was recognised.
    `status`: the HTTP status, or the gRPC code's name; `reason`: what the
    client was told (kept for refusals only: `kept_reason`). Its outcome and
    latency bucket are worked out once, here, for both counts.

    This runs on every request (bench/usage_counting.py): an answered request
    (200, OK), by far the most common, takes the short way, without the
    refusal's reason and kind."""
    seconds = time.perf_counter() - request.started
    bucket = bisect_left(LATENCY_BOUNDS, seconds) + 1
    if status == 200 or status == "OK":
        outcome, reason, refusal = ALLOWED, "", ""
    else:
        if request.protocol == "grpc":
            status = _GRPC_STATUS.get(status, 400)
        outcome = outcome_of(status)
        reason = kept_reason(status, reason)
        refusal = refusal_kind(status, reason, request.grant is not None and request.grant.key.tenant is not None)
    grant = request.grant
    if grant is not None and usage is not None:
        usage.ended(grant.key, request.protocol, outcome, reason, bucket)
    if metrics is not None:
        metrics.ended(grant.cluster.id if grant is not None else "none", request.protocol,
                      request.target, outcome, refusal, bucket, seconds)
