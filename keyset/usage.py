"""The contract's usage counts: what a front counts per key per minute and
reports with last-used (keyset/wire.py), and how both sides read them.

A front counts each request that presented a known key under (kind, key id,
minute, protocol, outcome, reason): how many, and how long they took in a
small fixed histogram (LATENCY_BOUNDS), from which quantiles are derived
(`quantile`) without keeping one number per request. Plain Python: the front
and the console both import it.
"""

from __future__ import annotations

from bisect import bisect_left

# What became of a request: allowed (served, whatever the status: a 404 for
# a missing collection is an allowed request), refused with 401, 403 (with
# its reason: Qdrant's message), 429, or failed with a 5xx.
ALLOWED, UNAUTHORIZED, FORBIDDEN, TOO_MANY, FAILED = "allowed", "401", "403", "429", "5xx"
OUTCOMES = (ALLOWED, UNAUTHORIZED, FORBIDDEN, TOO_MANY, FAILED)

# Upper bounds in seconds of the latency buckets; the last bucket is above the last bound.
LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BUCKETS = len(LATENCY_BOUNDS) + 1

# A reason is cut to this many characters; a key gets at most MAX_REASONS
# distinct reasons a minute per front process, later ones are counted as OTHER_REASON.
MAX_REASON_LENGTH = 200
MAX_REASONS = 8
OTHER_REASON = "(other reasons)"

# One row of the report: the counts, then BUCKETS latency counts.
ROW = ("kind", "key_id", "minute", "protocol", "outcome", "reason", "count", "latency")


def outcome_of(status: int) -> str:
    if status == 401:
        return UNAUTHORIZED
    if status == 403:
        return FORBIDDEN
    if status == 429:
        return TOO_MANY
    if status >= 500:
        return FAILED
    return ALLOWED


def bucket_of(seconds: float) -> int:
    return bisect_left(LATENCY_BOUNDS, seconds)


def quantile(histogram, q: float) -> float | None:
    """The q-quantile (0..1) of a latency histogram, in seconds: the upper
    bound of the bucket it falls in (the last bound for the open bucket).
    None for an empty histogram."""
    total = sum(histogram)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank and count:
            return LATENCY_BOUNDS[min(index, len(LATENCY_BOUNDS) - 1)]
    return LATENCY_BOUNDS[-1]


def valid_row(row) -> bool:
    """Whether a report row has ROW's shape and sane values (the console checks
    every one; a reason holds no NUL, which PostgreSQL's text cannot store)."""
    if not isinstance(row, list | tuple) or len(row) != len(ROW):
        return False
    kind, key_id, minute, protocol, outcome, reason, count, latency = row
    return (kind in ("database", "admin") and isinstance(key_id, str) and isinstance(minute, int)
            and minute >= 0 and protocol in ("rest", "grpc") and outcome in OUTCOMES
            and isinstance(reason, str) and len(reason) <= MAX_REASON_LENGTH and "\x00" not in reason
            and isinstance(count, int) and count > 0
            and isinstance(latency, list) and len(latency) == BUCKETS
            and all(isinstance(n, int) and n >= 0 for n in latency) and sum(latency) == count)
