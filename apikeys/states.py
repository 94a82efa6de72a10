"""A key's state: the one rule, in Python (`state_of`) and in SQL (`state_expression`).

The first that holds:

    deleted    deleted while it still worked (`revoked_at`)
    retired    the old secret of a roll, past its deadline (`retires_at` passed):
               it never works again. A roll "now" deletes the old row at the
               moment it retires: that key is retired, not deleted
    expired    `expires_at` passed
    disabled   `disabled_at`: refused until enabled again
    rolled     the old secret of a roll, still working until `retires_at`
    active     none of these

What can never be undone comes before what can (an expiry can be edited, a
key enabled), so a key both disabled and expired is "expired": enabling it
would not make it work. Every page, filter, list, Explain and the management
API ask this module. The front (dataplane/auth.py, which imports nothing of
the console) opens the cluster to active and rolled keys only: a deleted key
is not in its key set, a retired or disabled one is refused (401), an expired
one too (a JWT with Qdrant's 403 ExpiredSignature, after Qdrant's 30 s leeway
on `exp`); tests/test_key_states.py checks the combinations there too.
"""

from datetime import datetime

from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone


class KeyState(models.TextChoices):
    # The management API numbers them in this order (KEY_STATE_*): add at the end only.
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    ROLLED = "rolled", "Rolled"
    EXPIRED = "expired", "Expired"
    RETIRED = "retired", "Retired"
    DELETED = "deleted", "Deleted"


# The states a key list shows and filters by (lists leave out deleted and retired keys).
LISTED_STATES = (KeyState.ACTIVE, KeyState.DISABLED, KeyState.ROLLED, KeyState.EXPIRED)
# The states in which a key opens its cluster.
WORKING_STATES = (KeyState.ACTIVE, KeyState.ROLLED)


def state_of(key, now: datetime | None = None) -> KeyState:
    """The state of a key (anything with the IssuedKey fields) at `now`."""
    now = now or timezone.now()
    retires_at = key.retires_at
    if key.revoked_at is not None and (retires_at is None or retires_at > key.revoked_at):
        return KeyState.DELETED
    if retires_at is not None and retires_at <= now:
        return KeyState.RETIRED
    if key.expires_at is not None and key.expires_at <= now:
        return KeyState.EXPIRED
    if key.disabled_at is not None:
        return KeyState.DISABLED
    if retires_at is not None:
        return KeyState.ROLLED
    return KeyState.ACTIVE


def state_expression(now: datetime | None = None) -> Case:
    """`state_of` as a SQL expression, to annotate or filter a queryset of keys."""
    now = now or timezone.now()
    deleted = Q(revoked_at__isnull=False) & (Q(retires_at__isnull=True) | Q(retires_at__gt=F("revoked_at")))
    return Case(
        When(deleted, then=Value(KeyState.DELETED.value)),
        When(retires_at__lte=now, then=Value(KeyState.RETIRED.value)),
        When(expires_at__lte=now, then=Value(KeyState.EXPIRED.value)),
        When(disabled_at__isnull=False, then=Value(KeyState.DISABLED.value)),
        When(retires_at__isnull=False, then=Value(KeyState.ROLLED.value)),
        default=Value(KeyState.ACTIVE.value),
        output_field=models.CharField(),
    )
