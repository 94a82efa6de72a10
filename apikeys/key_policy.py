"""An account's key policy (apikeys.models.KeyPolicy): what every new key must meet.

One home for the rules, asked by every service that makes a key (database
API keys, admin keys, management keys: console and API alike), by the
create forms that show the limits before one types, and by the pages that
flag existing keys made before a rule (they are not revoked, as GitHub
does with tokens).
"""

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apikeys.models import AdminKey, ClusterAccess, DatabaseApiKey, KeyPolicy
from apikeys.policy import ADMIN, DATABASE, MANAGEMENT
from audit.models import Action
from audit.services import audit_record

KIND_PLURAL = {DATABASE: "database API keys", ADMIN: "admin keys", MANAGEMENT: "management keys"}
MAX_DAYS_FIELD = {DATABASE: "database_key_max_days", ADMIN: "admin_key_max_days",
                  MANAGEMENT: "management_key_max_days"}
# An expiry computed from "N days" a moment before the key is stored is no later than N days.
SLACK = timedelta(minutes=5)


def policy_of(account) -> KeyPolicy:
    """The account's policy; an unsaved one with no rules when none was ever set."""
    try:
        return account.key_policy
    except KeyPolicy.DoesNotExist:
        return KeyPolicy(account=account)


def max_days(policy: KeyPolicy, kind: str) -> int | None:
    return getattr(policy, MAX_DAYS_FIELD[kind])


def needs_allowlist(policy: KeyPolicy, kind: str, rules=None) -> bool:
    """Whether a key of `kind` (database keys: with these rules) needs allowed addresses."""
    if kind == MANAGEMENT:
        return policy.management_keys_need_allowlist
    manage = kind == ADMIN or (rules is not None and rules == [{"collection": None, "access": ClusterAccess.MANAGE}])
    return policy.manage_keys_need_allowlist and manage


def breaches(policy: KeyPolicy, kind: str, *, expires_at: datetime | None, created_at: datetime,
             allowed_networks, rules=None) -> dict[str, str]:
    """The rules a key with these properties breaks: {field: the rule in words}; empty when none."""
    found = {}
    limit = max_days(policy, kind)
    if expires_at is None:
        if limit is not None:
            found["expires_at"] = (
                f"The account's key policy: {KIND_PLURAL[kind]} expire within {limit} days; give an expiry."
            )
        elif not policy.allow_no_expiry:
            found["expires_at"] = "The account's key policy: every key needs an expiry."
    elif limit is not None and expires_at - created_at > timedelta(days=limit) + SLACK:
        found["expires_at"] = f"The account's key policy: {KIND_PLURAL[kind]} expire within {limit} days."
    if needs_allowlist(policy, kind, rules) and not allowed_networks:
        what = "management keys" if kind == MANAGEMENT else "keys with manage access"
        found["allowed_networks"] = f"The account's key policy: {what} need allowed addresses."
    return found


def check_new_key(account, kind: str, *, expires_at, allowed_networks, rules=None) -> None:
    """ValidationError by field, naming the rule, when a new key would break the account's policy."""
    found = breaches(policy_of(account), kind, expires_at=expires_at, created_at=timezone.now(),
                     allowed_networks=allowed_networks, rules=rules)
    if found:
        raise ValidationError(found)


def key_breaches(policy: KeyPolicy, key) -> list[str]:
    """What an existing key breaks of the policy, for the lists' badge (empty: nothing)."""
    kind = getattr(key, "kind", MANAGEMENT)
    return list(breaches(policy, kind, expires_at=key.expires_at, created_at=key.created_at,
                         allowed_networks=key.allowed_networks, rules=getattr(key, "rules", None)).values())


# Where the policy page finds keys of the kinds other apps own: each callable
# takes (account, policy) and yields candidate keys. managementkeys registers
# its own (apps.py), since apikeys sits below it and imports nothing of it.
KEY_SOURCES: list[Callable[[object, KeyPolicy], Iterable]] = []
SHOWN = 200  # rows of the policy page's list; the count says how many in all


def candidates(keys, policy: KeyPolicy, kind: str):
    """A query narrowed in SQL to keys that may break the policy (the exact check is key_breaches)."""
    limit = max_days(policy, kind)
    maybe = Q(pk__in=[])
    if limit is not None:
        maybe |= Q(expires_at__isnull=True) | Q(expires_at__gt=F("created_at") + timedelta(days=limit) + SLACK)
    elif not policy.allow_no_expiry:
        maybe |= Q(expires_at__isnull=True)
    if (policy.management_keys_need_allowlist if kind == MANAGEMENT else policy.manage_keys_need_allowlist):
        maybe |= Q(allowed_networks=[])
    return keys.filter(maybe)


def _own_keys(account, policy: KeyPolicy):
    live = {"cluster__account": account}
    yield from candidates(DatabaseApiKey.objects.listed().filter(**live), policy, DATABASE).select_related("cluster")
    yield from candidates(AdminKey.objects.listed().filter(**live), policy, ADMIN).select_related("cluster")


def keys_breaking(account, policy: KeyPolicy) -> dict:
    """The live keys of every kind that break the policy, each with the rules it breaks
    (`rows`, at most SHOWN) and how many in all (`count`)."""
    rows, count = [], 0
    for source in (_own_keys, *KEY_SOURCES):
        for key in source(account, policy):
            reasons = key_breaches(policy, key)
            if reasons:
                count += 1
                if len(rows) < SHOWN:
                    rows.append({"key": key, "reasons": reasons})
    return {"rows": rows, "count": count}


def limits_text(policy: KeyPolicy, kind: str, rules_matter: bool = False) -> str:
    """What the create form says before one types: this kind's limits, or ""."""
    parts = []
    limit = max_days(policy, kind)
    if limit is not None:
        plural = KIND_PLURAL[kind]
        parts.append(f"{plural[0].upper()}{plural[1:]} expire within {limit} days.")
    elif not policy.allow_no_expiry:
        parts.append("Every key needs an expiry.")
    if kind == MANAGEMENT and policy.management_keys_need_allowlist:
        parts.append("Management keys need allowed addresses.")
    elif kind == ADMIN and policy.manage_keys_need_allowlist:
        parts.append("Admin keys need allowed addresses.")
    elif kind == DATABASE and policy.manage_keys_need_allowlist:
        parts.append("Keys with cluster-wide Manage/Write access need allowed addresses.")
    return " ".join(parts)


@transaction.atomic
def key_policy_set(*, account, by, client_ip: str | None = None, **rules) -> KeyPolicy:
    """Saves the account's policy (fields of KeyPolicy); audited with what changed. Existing keys stay."""
    policy = KeyPolicy.objects.select_for_update().filter(account=account).first() or KeyPolicy(account=account)
    changes = []
    for field, value in rules.items():
        old = getattr(policy, field)
        if old != value:
            changes.append(f"{field.replace('_', ' ')}: {_words(old)} → {_words(value)}")
            setattr(policy, field, value)
    if not changes and policy.pk and not policy._state.adding:
        return policy
    policy.updated_by = by
    policy.full_clean()
    policy.save()
    if changes:
        audit_record(account=account, action=Action.KEY_POLICY_CHANGED, target=policy, actor=by,
                     client_ip=client_ip, detail="; ".join(changes))
    return policy


def _words(value) -> str:
    if value is None:
        return "no limit"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value} days"
