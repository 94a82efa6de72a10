"""Expiry reminders: REMINDER_DAYS (7 and 1) days before a key expires, its
creator and the account's owners get one email each time, exactly once.

A reminder is claimed by inserting its ExpiryReminder row (unique per key,
threshold and expiry) in the transaction that sends the email: a second run at
the same moment waits on that row's unique index, then finds it taken and
sends nothing; a send that fails rolls the claim back, so the next run tries
again. A key already inside the 1-day window gets only that one: each
threshold covers the days down to the next.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership
from accounts.roles import Role
from apikeys.models import REMINDER_DAYS, AdminKey, DatabaseApiKey, ExpiryReminder, IssuedKey, time_left


def _windows(now: datetime) -> list[tuple[int, datetime, datetime]]:
    """(days, from, to]: the expiries each threshold reminds of now, largest first."""
    bounds = [*REMINDER_DAYS, 0]
    return [(days, now + timedelta(days=bounds[i + 1]), now + timedelta(days=days)) for i, days in enumerate(REMINDER_DAYS)]


def recipients(key: IssuedKey) -> list[str]:
    """The key's creator (while a member of the account) and the account's owners, once each."""
    account = key.cluster.account
    members = Membership.objects.filter(account=account).select_related("user")
    users = [m.user for m in members if m.role == Role.OWNER or m.user_id == key.created_by_id]
    return sorted({user.email for user in users if user.email})


def _message(key: IssuedKey, now: datetime) -> tuple[str, str]:
    # The real time left, not the threshold: a key first seen 3 days before its
    # expiry is inside the 7-day window but expires in 3 days.
    when = time_left(key.expires_at, now)
    subject = f"The {key.kind_label} {key.name} of {key.cluster.name} expires in {when}"
    body = (
        f"The {key.kind_label} {key.name} (…{key.postfix}) of the cluster {key.cluster.name} in "
        f"{key.cluster.account.name} expires in {when}, on {key.expires_at:%Y-%m-%d %H:%M} UTC.\n\n"
        "From then on the cluster refuses it. If an application still uses it, create a new key "
        "in the console and give it to the application before then, then delete this one:\n\n"
        f"{settings.CONSOLE_URL}{key.get_absolute_url()}\n"
    )
    if key.unused:
        body += (f"\nIt has not been used for {settings.KEY_UNUSED_DAYS} days or more: if nothing needs it, "
                 "let it expire or delete it now.\n")
    return subject, body


def _remind(key: IssuedKey, days: int, now: datetime) -> bool:
    """Claims and sends one reminder; False when another run has it already."""
    try:
        with transaction.atomic():
            ExpiryReminder.objects.create(key_kind=key.kind, key_id=key.id, days=days, expires_at=key.expires_at)
            to = recipients(key)
            if to:
                subject, body = _message(key, now)
                send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to)
    except IntegrityError:
        return False
    return True


def send_expiry_reminders(*, now: datetime | None = None) -> int:
    """Sends every reminder that is due and not sent yet; returns how many this run sent."""
    now = now or timezone.now()
    sent = 0
    for model in (DatabaseApiKey, AdminKey):
        for days, start, end in _windows(now):
            due = (
                model.objects.live()
                .filter(expires_at__gt=start, expires_at__lte=end)
                .select_related("cluster__account")
            )
            for key in due:
                # Most runs find every due reminder sent: a read, not a failed insert.
                if not ExpiryReminder.objects.filter(
                    key_kind=key.kind, key_id=key.id, days=days, expires_at=key.expires_at
                ).exists():
                    sent += _remind(key, days, now)
    return sent
