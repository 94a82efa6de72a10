"""How much each key is used: counted on the request path per key per minute
(keyset/usage.py's rows), shipped to the console with the last-used report
(dataplane/lastused.py).

`Counting.ended` is the one call every request makes when it ends, REST or
gRPC (dataplane.pipeline.Pipeline.finish): for an answered request with a
key, a clock read, two dict lookups and a few integer increments, no lock
(the event loop's thread alone changes the counts; the reporting thread has
the loop hand them over). Refusals also keep their reason, at most
keyset.usage.MAX_REASONS a key a minute, so a key's rows stay bounded
whatever its clients send.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import re
import time
import zlib
from bisect import bisect_left
from time import perf_counter

from dataplane.metrics import MEMO_TARGET_LENGTH, refusal_kind
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
        # Called (on the loop's thread) when the counts are handed over: Counting forgets the rows it remembers.
        self.swapped: list = []

    def row(self, key, minute: int, protocol: str, outcome: str, reason: str) -> list[int] | None:
        """The counts of `key` (a dataplane.keystore.KeyEntry) ending as `outcome`
        (keyset.usage.OUTCOMES) in `minute` (int(time.time()) // 60): [count,
        *latency buckets], made when first needed; None when MAX_ROWS rows are
        kept already (the request is dropped, and said so). `reason`: the
        refusal's message, "" when allowed. On the event loop's thread only."""
        if outcome != ALLOWED:
            reason = self._reason(key.id, minute, reason)
        place = (key.kind, key.id, minute, protocol, outcome, reason)
        counts = self._counts.get(place)
        if counts is None:
            if len(self._counts) >= MAX_ROWS:
                self.dropped += 1
                return None
            counts = self._counts[place] = [0] * (BUCKETS + 1)
        return counts

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
        for forget in self.swapped:
            forget()
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


# Row pairs Counting remembers for answered requests, at most; past it a
# request takes the way a refusal takes (paths come from clients).
MEMO_ROWS = 4096


class Counting:
    """Counts each request by how it ended (dataplane.pipeline.Pipeline.finish):
    in its key's usage (`usage`, a Usage, when a key was recognised) and in the
    front's metrics (`metrics`, a dataplane.metrics.Metrics); either may be
    None. The outcome and the latency bucket are worked out once, here, for
    both. On the event loop's thread only.

    This runs on every request (bench/usage_counting.py). An answered request
    (200, OK) with a key, by far the most common, takes the short way: the
    two rows it adds to (its key's usage row of this minute, the metrics'
    row) are remembered per protocol, REST path or gRPC method, and key, so
    it costs a clock read, two dict lookups and the increments, with no
    tuple made or hashed. The memo is forgotten when the minute changes and
    when the usage is handed over for a report (Usage.take), and holds at
    most MEMO_ROWS pairs of paths up to dataplane.metrics.MEMO_TARGET_LENGTH
    long, so its memory is bounded whatever paths clients send."""

    def __init__(self, usage: Usage | None, metrics) -> None:
        self.usage, self.metrics = usage, metrics
        # protocol -> {REST path or gRPC method -> {key id -> (usage row or None, metrics row or None)}}
        self._memo: dict[str, dict[str, dict[str, tuple]]] = {"rest": {}, "grpc": {}}
        self._remembered = 0
        # The minute counted into (int(time.time()) // 60) and where it ends on
        # perf_counter's clock (read for the latency anyway): the wall clock is
        # read again at each minute's end, not on every request.
        self._minute, self._ends = 0, 0.0
        if usage is not None:
            usage.swapped.append(self._forget)

    def _forget(self) -> None:
        self._memo = {"rest": {}, "grpc": {}}
        self._remembered = 0

    def _roll(self, now: float) -> None:
        """A new minute (`now`: perf_counter's): its rows are new ones."""
        wall = time.time()
        self._minute = int(wall) // 60
        self._ends = now + (self._minute + 1) * 60 - wall
        self._forget()

    def ended(self, request, status: int | str, reason: str) -> None:
        """`status`: the HTTP status, or the gRPC code's name; `reason`: what
        the client was told (kept for refusals only: `kept_reason`)."""
        now = perf_counter()
        seconds = now - request.started
        bucket = bisect_left(LATENCY_BOUNDS, seconds) + 1
        if now >= self._ends:
            self._roll(now)
        grant = request.grant
        if grant is not None and (status == 200 or status == "OK"):
            by_key = self._memo[request.protocol].get(request.target)
            rows = by_key.get(grant.key.id) if by_key is not None else None
            if rows is None:
                rows = self._rows(request, grant, by_key)
            usage_row, metrics_row = rows
            if usage_row is not None:
                usage_row[0] += 1
                usage_row[bucket] += 1
            if metrics_row is not None:
                metrics_row[0] += 1
                metrics_row[bucket] += 1
                metrics_row[-1] += seconds
            return
        if status == 200 or status == "OK":
            outcome, refusal = ALLOWED, ""
            reason = ""
        else:
            if request.protocol == "grpc":
                status = _GRPC_STATUS.get(status, 400)
            outcome = outcome_of(status)
            reason = kept_reason(status, reason)
            refusal = refusal_kind(status, reason, grant is not None and grant.key.tenant is not None)
        if grant is not None and self.usage is not None:
            counts = self.usage.row(grant.key, self._minute, request.protocol, outcome, reason)
            if counts is not None:
                counts[0] += 1
                counts[bucket] += 1
        if self.metrics is not None:
            counts = self.metrics.row(grant.cluster.id if grant is not None else "none", request.protocol,
                                      request.target, outcome, refusal)
            counts[0] += 1
            counts[bucket] += 1
            counts[-1] += seconds

    def _rows(self, request, grant, by_key: dict | None) -> tuple:
        """An answered request's two rows, remembered unless the memo is full or
        the usage is (a row it could not keep: each such request is a drop)."""
        usage, metrics = self.usage, self.metrics
        usage_row = usage.row(grant.key, self._minute, request.protocol, ALLOWED, "") if usage is not None else None
        metrics_row = metrics.row(grant.cluster.id, request.protocol, request.target, ALLOWED, "") \
            if metrics is not None else None
        rows = (usage_row, metrics_row)
        if ((usage is None or usage_row is not None) and self._remembered < MEMO_ROWS
                and len(request.target) <= MEMO_TARGET_LENGTH):
            if by_key is None:
                by_key = self._memo[request.protocol][request.target] = {}
            by_key[grant.key.id] = rows
            self._remembered += 1
        return rows
