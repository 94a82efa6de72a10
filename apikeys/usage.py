"""Usage per key and per cluster: the fronts' per-minute counts stored
(`usage_record`), rolled up into hours and pruned by beat (`usage_rollup`),
and read back as series (`key_series`, `cluster_series`).

Minute rows are kept USAGE_MINUTE_RETENTION_HOURS, hour rows
USAGE_HOUR_RETENTION_DAYS. A key has at most one row per period, protocol,
outcome and reason (the fronts bound the reasons: keyset.usage.MAX_REASONS).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from apikeys.models import MAX_KEY_ADDRESSES, AdminKey, DatabaseApiKey, KeyAddress, KeyUsage, UsagePeriod
from keyset.usage import BUCKETS, quantile

_MODELS = {"database": DatabaseApiKey, "admin": AdminKey}
_PLACE = ("key_kind", "key_id", "period", "start", "protocol", "outcome", "reason")


def usage_record(rows: list) -> int:
    """Adds a front's report (keyset.usage.ROW rows, already checked with
    valid_row) to the minute rows; rows of unknown keys are dropped. Two fronts
    reporting the same minute add up. Returns how many rows were kept."""
    clusters = {}
    for kind, model in _MODELS.items():
        ids = {row[1] for row in rows if row[0] == kind}
        if ids:
            clusters.update({(kind, str(key_id)): cluster_id for key_id, cluster_id
                             in model.objects.filter(id__in=ids).values_list("id", "cluster_id")})
    merged: dict[tuple, list] = {}
    for kind, key_id, minute, protocol, outcome, reason, count, latency in rows:
        cluster_id = clusters.get((kind, key_id))
        if cluster_id is None:
            continue
        place = (kind, key_id, UsagePeriod.MINUTE, datetime.fromtimestamp(minute * 60, UTC), protocol, outcome, reason)
        into = merged.setdefault(place, [cluster_id, 0, [0] * BUCKETS])
        into[1] += count
        into[2] = [a + b for a, b in zip(into[2], latency, strict=True)]
    for attempt in range(3):
        try:
            _add(merged)
            break
        except IntegrityError:  # another front inserted one of these rows meanwhile: read it and add again
            if attempt == 2:
                raise
    return len(merged)


@transaction.atomic
def _add(merged: dict[tuple, list]) -> None:
    if not merged:
        return
    condition = Q()
    for kind, key_id, period, start, *_ in merged:
        condition |= Q(key_kind=kind, key_id=key_id, period=period, start=start)
    existing = {tuple(str(getattr(row, f)) if f == "key_id" else getattr(row, f) for f in _PLACE): row
                for row in KeyUsage.objects.select_for_update().filter(condition)}
    new, changed = [], []
    for place, (cluster_id, count, latency) in merged.items():
        row = existing.get(place)
        if row is None:
            new.append(KeyUsage(**dict(zip(_PLACE, place, strict=True)), cluster_id=cluster_id, count=count,
                                latency=latency))
        else:
            row.count += count
            row.latency = [a + b for a, b in zip(row.latency, latency, strict=True)]
            changed.append(row)
    KeyUsage.objects.bulk_update(changed, ["count", "latency"])
    KeyUsage.objects.bulk_create(new)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@transaction.atomic
def _roll_up_hour(hour: datetime) -> None:
    """The hour rows of `hour`, made again from its minute rows (so running it twice changes nothing)."""
    sums: dict[tuple, list] = defaultdict(lambda: [None, 0, [0] * BUCKETS])
    minutes = KeyUsage.objects.filter(period=UsagePeriod.MINUTE, start__gte=hour, start__lt=hour + timedelta(hours=1))
    for row in minutes.iterator():
        into = sums[(row.key_kind, row.key_id, row.protocol, row.outcome, row.reason)]
        into[0] = row.cluster_id
        into[1] += row.count
        into[2] = [a + b for a, b in zip(into[2], row.latency, strict=True)]
    KeyUsage.objects.filter(period=UsagePeriod.HOUR, start=hour).delete()
    KeyUsage.objects.bulk_create([
        KeyUsage(key_kind=kind, key_id=key_id, cluster_id=cluster_id, period=UsagePeriod.HOUR, start=hour,
                 protocol=protocol, outcome=outcome, reason=reason, count=count, latency=latency)
        for (kind, key_id, protocol, outcome, reason), (cluster_id, count, latency) in sums.items()
    ])


# Reports come within seconds (DATAPLANE_LAST_USED_FLUSH_SECONDS) or, from a
# front that could not reach the console, when it can again: the last few
# complete hours are rolled up again at each run.
RECENT_HOURS = 6


def usage_rollup(now: datetime | None = None) -> int:
    """Rolls the complete hours' minute rows up into hour rows (the last
    RECENT_HOURS again, and any older one with minutes but no hour rows yet),
    then prunes both periods past their retention. Returns the hours rolled up."""
    now = now or timezone.now()
    this_hour = _hour(now)
    minute_cutoff = now - timedelta(hours=settings.USAGE_MINUTE_RETENTION_HOURS)
    # Every complete hour with minutes, also those about to be pruned: a beat that did not run for a while loses nothing.
    with_minutes = {_hour(start) for start in KeyUsage.objects.filter(
        period=UsagePeriod.MINUTE, start__lt=this_hour).values_list("start", flat=True).distinct()}
    rolled = set(KeyUsage.objects.filter(period=UsagePeriod.HOUR, start__in=with_minutes)
                 .values_list("start", flat=True).distinct())
    recent = {this_hour - timedelta(hours=n) for n in range(1, RECENT_HOURS + 1)}
    hours = sorted((with_minutes - rolled) | (recent & with_minutes))
    for hour in hours:
        _roll_up_hour(hour)
    KeyUsage.objects.filter(period=UsagePeriod.MINUTE, start__lt=minute_cutoff).delete()
    KeyUsage.objects.filter(period=UsagePeriod.HOUR,
                            start__lt=now - timedelta(days=settings.USAGE_HOUR_RETENTION_DAYS)).delete()
    return len(hours)


# The windows a page or the API shows: (length, bucket, period read).
WINDOWS = {
    "hour": (timedelta(hours=1), timedelta(minutes=1)),
    "day": (timedelta(days=1), timedelta(minutes=30)),
    "30d": (timedelta(days=30), timedelta(days=1)),
}
OUTCOME_LABELS = {"allowed": "Allowed", "401": "401 Unauthorized", "403": "403 Forbidden", "429": "429 Too many",
                  "5xx": "5xx Failed"}


def usage_rows(where: Q, since: datetime, now: datetime):
    """Usage rows from `since` to `now`: hour rows for the hours beat has rolled
    up, minute rows after them (the hour going on, and any not rolled up yet)."""
    if now - since <= timedelta(hours=settings.USAGE_MINUTE_RETENTION_HOURS):
        return KeyUsage.objects.filter(where, period=UsagePeriod.MINUTE, start__gte=since, start__lt=now)
    rolled = (KeyUsage.objects.filter(period=UsagePeriod.HOUR, start__gte=since).order_by("-start")
              .values_list("start", flat=True).first())
    until = rolled + timedelta(hours=1) if rolled else since
    return KeyUsage.objects.filter(
        where & (Q(period=UsagePeriod.HOUR, start__gte=since, start__lt=until)
                 | Q(period=UsagePeriod.MINUTE, start__gte=until, start__lt=now)))


def usage_series(*, key=None, cluster=None, window: str = "day", now: datetime | None = None) -> dict:
    """Requests of a key (or of every key of a cluster) over `window` ("hour",
    "day", "30d"), in buckets: counts by outcome, p50 and p99 latency (from
    the histograms, in ms), the refusals with their reasons, and for a cluster
    its top keys."""
    length, step = WINDOWS[window]
    now = now or timezone.now()
    seconds = int(step.total_seconds())
    end = datetime.fromtimestamp((int(now.timestamp()) // seconds + 1) * seconds, UTC)
    start = end - length
    starts = [start + step * n for n in range(int(length / step))]
    where = Q(key_id=key.id) if key is not None else Q(cluster_id=cluster.id)
    outcomes = {name: [0] * len(starts) for name in OUTCOME_LABELS}
    latency = [[0] * BUCKETS for _ in starts]
    refusals: dict[tuple, int] = defaultdict(int)
    keys: dict[tuple, int] = defaultdict(int)
    for row in usage_rows(where, start, end).iterator():
        index = int((row.start - start) / step)
        if not 0 <= index < len(starts):
            continue
        outcomes.setdefault(row.outcome, [0] * len(starts))[index] += row.count
        latency[index] = [a + b for a, b in zip(latency[index], row.latency, strict=True)]
        if row.outcome != "allowed":
            refusals[(row.outcome, row.reason)] += row.count
        keys[(row.key_kind, row.key_id)] += row.count
    def ms(histogram, q):
        value = quantile(histogram, q)
        return None if value is None else round(value * 1000, 1)

    series = {
        "window": window, "step_seconds": seconds, "starts": [int(s.timestamp()) for s in starts],
        "outcomes": outcomes, "labels": OUTCOME_LABELS, "order": list(OUTCOME_LABELS),
        "p50_ms": [ms(h, 0.5) for h in latency], "p99_ms": [ms(h, 0.99) for h in latency],
        "total": sum(sum(counts) for counts in outcomes.values()),
        "refusals": [{"outcome": outcome, "reason": reason, "count": count}
                     for (outcome, reason), count in sorted(refusals.items(), key=lambda item: -item[1])],
    }
    if cluster is not None:
        series["top_keys"] = _top_keys(keys)
    return series


def usage_table(series: dict) -> list[dict]:
    """The buckets that had requests, as rows: what the page's table (the chart without JavaScript) shows."""
    rows = []
    for index, start in enumerate(series["starts"]):
        counts = [series["outcomes"][name][index] for name in series["labels"]]
        if any(counts):
            rows.append({"start": datetime.fromtimestamp(start, UTC), "counts": counts,
                         "p50_ms": series["p50_ms"][index], "p99_ms": series["p99_ms"][index]})
    return rows


def _top_keys(keys: dict, limit: int = 10) -> list[dict]:
    top = sorted(keys.items(), key=lambda item: -item[1])[:limit]
    names = {}
    for kind, model in _MODELS.items():
        ids = [key_id for (k, key_id), _ in top if k == kind]
        names.update({(kind, key.id): key for key in model.objects.filter(id__in=ids)})
    return [{"kind": kind, "id": str(key_id), "name": names[(kind, key_id)].name if (kind, key_id) in names else "",
             "url": names[(kind, key_id)].get_absolute_url() if (kind, key_id) in names else "", "count": count}
            for (kind, key_id), count in top]


def addresses_seen(uses: list) -> None:
    """Notes the addresses keys were used from ((kind, key id, when, ip) of a
    last-used report), first sightings only, at most MAX_KEY_ADDRESSES a key."""
    uses = [(kind, str(key_id), when, ip) for kind, key_id, when, ip in uses if ip]
    existing = set()
    for kind, model in _MODELS.items():
        ids = {key_id for key_kind, key_id, _, _ in uses if key_kind == kind}
        if ids:  # a late report of a key deleted with its cluster names no row
            existing.update((kind, str(key_id)) for key_id in model.objects.filter(id__in=ids).values_list("id", flat=True))
    uses = [use for use in uses if (use[0], use[1]) in existing]
    if not uses:
        return
    key_ids = {key_id for _, key_id, _, _ in uses}
    known = {(str(key_id), ip) for key_id, ip in KeyAddress.objects.filter(key_id__in=key_ids)
             .values_list("key_id", "ip")}
    held = dict(KeyAddress.objects.filter(key_id__in=key_ids).values_list("key_id").annotate(n=Count("id"))
                .values_list("key_id", "n"))
    held = {str(key_id): n for key_id, n in held.items()}
    new = {}
    for kind, key_id, when, ip in uses:
        if (key_id, ip) in known or (key_id, ip) in new or held.get(key_id, 0) >= MAX_KEY_ADDRESSES:
            continue
        held[key_id] = held.get(key_id, 0) + 1
        new[(key_id, ip)] = KeyAddress(key_kind=kind, key_id=key_id, ip=ip, first_seen=when)
    KeyAddress.objects.bulk_create(new.values(), ignore_conflicts=True)


def cluster_usage_forget(*, cluster_id) -> None:
    """Deletes the usage and address rows of a cluster's keys (the cluster is
    being deleted, its keys with it)."""
    key_ids = [key_id for model in _MODELS.values()
               for key_id in model.objects.filter(cluster_id=cluster_id).values_list("id", flat=True)]
    KeyUsage.objects.filter(cluster_id=cluster_id).delete()
    KeyAddress.objects.filter(key_id__in=key_ids).delete()
