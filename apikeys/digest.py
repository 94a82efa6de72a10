"""The weekly key digest: once a week (the first hourly run from Monday 00:00
UTC), each account's owners get one email naming its keys not used for
KEY_UNUSED_DAYS, those refused more than DIGEST_REFUSALS_OVER times in the
last 7 days (with the reasons), and those used from an address first seen
this week (KeyAddress), or none when there is nothing to say.

Claimed as the expiry reminders are (apikeys/reminders.py): a UsageDigest row,
unique per account and week, inserted in the transaction that sends.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, Membership
from accounts.roles import Role
from apikeys.models import AdminKey, DatabaseApiKey, KeyAddress, UsageDigest, unused_condition
from apikeys.states import WORKING_STATES
from apikeys.usage import usage_rows


def _working(model, account, now):
    return [key for key in model.objects.filter(cluster__account=account).select_related("cluster")
            if key.state in WORKING_STATES]


def digest_of(account: Account, now: datetime) -> dict:
    """What the digest names: unused keys, and keys refused more than the threshold this week with their reasons."""
    unused, keys = [], {}
    for model in (DatabaseApiKey, AdminKey):
        working = {key.id: key for key in _working(model, account, now)}
        keys.update(working)
        unused += [key for key in model.objects.filter(unused_condition(now), id__in=list(working))
                   .select_related("cluster").order_by("cluster__name", "name")]
    refusals: dict = defaultdict(lambda: defaultdict(int))
    where = Q(cluster_id__in=list(account.clusters.values_list("id", flat=True))) & ~Q(outcome="allowed")
    for row in usage_rows(where, now - timedelta(days=7), now):
        refusals[row.key_id][f"{row.outcome}: {row.reason}" if row.reason else row.outcome] += row.count
    refused = [(keys[key_id], sum(reasons.values()), sorted(reasons.items(), key=lambda item: -item[1]))
               for key_id, reasons in refusals.items()
               if key_id in keys and sum(reasons.values()) > settings.DIGEST_REFUSALS_OVER]
    # Addresses first seen this week by keys that had been used from another before it.
    week_ago = now - timedelta(days=7)
    seen = KeyAddress.objects.filter(key_id__in=list(keys))
    older = set(seen.filter(first_seen__lt=week_ago).values_list("key_id", flat=True))
    addresses: dict = defaultdict(list)
    for key_id, ip in seen.filter(first_seen__gte=week_ago, key_id__in=older).order_by("first_seen").values_list(
            "key_id", "ip"):
        addresses[key_id].append(ip)
    new_addresses = [(keys[key_id], ips) for key_id, ips in addresses.items()]
    return {"unused": unused, "refused": sorted(refused, key=lambda item: -item[1]),
            "new_addresses": sorted(new_addresses, key=lambda item: item[0].name)}


def _message(account: Account, digest: dict) -> tuple[str, str]:
    lines = [f"This week's keys of {account.name} that may need a look:", ""]
    if digest["unused"]:
        lines.append(f"Not used for {settings.KEY_UNUSED_DAYS} days or more (delete them if nothing needs them):")
        lines += [f"- {key.name} (…{key.postfix}), {key.kind_label} of {key.cluster.name}: "
                  f"{settings.CONSOLE_URL}{key.get_absolute_url()}" for key in digest["unused"]]
        lines.append("")
    if digest["refused"]:
        lines.append(f"Refused more than {settings.DIGEST_REFUSALS_OVER} times in the last 7 days:")
        for key, count, reasons in digest["refused"]:
            lines.append(f"- {key.name} (…{key.postfix}) of {key.cluster.name}: {count} refusals: "
                         + "; ".join(f"{reason} ×{n}" for reason, n in reasons[:3])
                         + f" {settings.CONSOLE_URL}{key.get_absolute_url()}")
        lines.append("")
    if digest["new_addresses"]:
        lines.append("Used from new addresses this week (check they are yours):")
        lines += [f"- {key.name} (…{key.postfix}) of {key.cluster.name}: {', '.join(ips)} "
                  f"{settings.CONSOLE_URL}{key.get_absolute_url()}" for key, ips in digest["new_addresses"]]
        lines.append("")
    subject = (f"Keys of {account.name}: {len(digest['unused'])} unused, {len(digest['refused'])} often refused, "
               f"{len(digest['new_addresses'])} used from new addresses")
    return subject, "\n".join(lines)


def send_usage_digests(*, now: datetime | None = None) -> int:
    """Sends this week's digest of every account that has something to say and
    has not had it yet; returns how many emails were sent."""
    now = now or timezone.now()
    week = (now - timedelta(days=now.weekday())).date()
    sent = 0
    for account in Account.objects.exclude(id__in=UsageDigest.objects.filter(week=week).values("account_id")):
        digest = digest_of(account, now)
        owners = sorted({m.user.email for m in Membership.objects.filter(account=account).select_related("user")
                         if m.role == Role.OWNER and m.user.email})
        try:
            with transaction.atomic():
                UsageDigest.objects.create(account=account, week=week)
                if owners and (digest["unused"] or digest["refused"] or digest["new_addresses"]):
                    subject, body = _message(account, digest)
                    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, owners)
                    sent += 1
        except IntegrityError:  # another run claimed it
            continue
    return sent
