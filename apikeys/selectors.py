from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone

from apikeys.models import REMINDER_DAYS, AdminKey, DatabaseApiKey, IssuedKey, unused_condition
from keyset.rights import FULL, Access, access_from_claim
from apikeys.tokens import access_claim


# How a key list can be sorted (the `order` filter; the API's orderBy names the same fields).
KEY_ORDERS = {
    "last_used": "Most recently used",
    "-last_used": "Least recently used",
    "created": "Oldest first",
    "name": "Name",
}
_ORDERINGS = {
    "last_used": [F("last_used_at").desc(nulls_last=True), "-created_at"],
    "-last_used": [F("last_used_at").asc(nulls_first=True), "-created_at"],
    "created": ["created_at", "id"],
    "name": ["name", "-created_at"],
}


def listed_keys(model: type[IssuedKey]) -> QuerySet:
    """A kind's keys as lists show them: not deleted, not the old secret of a
    roll past its deadline, each with `replaces_until` (the deadline of the
    old secret it replaces, if that still works)."""

    old = model.objects.live().filter(rolled_into=OuterRef("pk"), retires_at__gt=timezone.now())
    return (model.objects.listed().select_related("cluster", "created_by", "rolled_into")
            .annotate(replaces_until=Subquery(old.values("retires_at")[:1])))


def filtered_keys(keys: QuerySet, *, state: str = "", last_used: str = "", last_used_after=None,
                  last_used_before=None, order: str = "") -> QuerySet:
    """A key list narrowed and sorted as its filters say (apikeys.forms.KeyFilterForm,
    the management API's list): `last_used` "never", "ever", "unused" (not used
    for KEY_UNUSED_DAYS) or "recent" (the others: the API's unused=false); dates are whole UTC days."""
    keys = keys.in_state(state) if state else keys
    if last_used == "never":
        keys = keys.filter(last_used_at__isnull=True)
    elif last_used == "ever":
        keys = keys.filter(last_used_at__isnull=False)
    elif last_used == "unused":
        keys = keys.filter(unused_condition(timezone.now()))
    elif last_used == "recent":
        keys = keys.exclude(unused_condition(timezone.now()))
    if last_used_after is not None:
        keys = keys.filter(last_used_at__gte=datetime.combine(last_used_after, time(), UTC))
    if last_used_before is not None:
        keys = keys.filter(last_used_at__lt=datetime.combine(last_used_before, time(), UTC))
    if order in _ORDERINGS:
        keys = keys.order_by(*_ORDERINGS[order])
    return keys


def cluster_keys(cluster, **filters) -> QuerySet[DatabaseApiKey]:
    return filtered_keys(listed_keys(DatabaseApiKey).filter(cluster=cluster), **filters)


def usable_keys(cluster) -> QuerySet[DatabaseApiKey]:
    """The cluster's database keys that open it now, by name."""
    return DatabaseApiKey.objects.filter(cluster=cluster).usable().order_by("name")


def account_keys(account, **filters) -> QuerySet[DatabaseApiKey]:
    return filtered_keys(listed_keys(DatabaseApiKey).filter(cluster__account=account), **filters)


def account_key_lists(account, *, cluster=None, kind: str = "", **filters) -> dict[str, QuerySet]:
    """The API Keys page's lists, narrowed by its filters: {"database": ..., "admin": ...}.

    `kind` "database" or "admin" leaves the other list out; the other filters
    are filtered_keys'. Deleted keys are in no list.
    """
    lists = {}
    for name, model in (("database", DatabaseApiKey), ("admin", AdminKey)):
        if kind and kind != name:
            continue
        keys = listed_keys(model).filter(cluster__account=account)
        if cluster is not None:
            keys = keys.filter(cluster=cluster)
        lists[name] = filtered_keys(keys, **filters)
    return lists


def keys_page(keys: QuerySet[IssuedKey], number) -> Page:
    """One page of keys in two queries (count and rows), however many there are."""
    return Paginator(keys, settings.API_KEYS_PER_PAGE).get_page(number)


# Admin keys


def cluster_admin_keys(cluster, **filters) -> QuerySet[AdminKey]:
    return filtered_keys(listed_keys(AdminKey).filter(cluster=cluster), **filters)


def key_access(key: DatabaseApiKey | AdminKey) -> Access:
    """The Access the front gives this key: an admin key is global manage, a
    database key what its token's `access` claim reads as (the same parse)."""
    if key.kind == "admin":
        return FULL
    return access_from_claim(access_claim(key.rules))


def expiring_keys(cluster) -> list[DatabaseApiKey | AdminKey]:
    """The cluster's live keys of both kinds that expire within REMINDER_DAYS[0] days, soonest first."""
    now = timezone.now()
    window = {"expires_at__gt": now, "expires_at__lte": now + timedelta(days=REMINDER_DAYS[0])}
    keys = list(cluster_keys(cluster).filter(**window))
    if cluster.is_legacy:  # only clusters from before granular keys can have admin keys
        keys += cluster_admin_keys(cluster).filter(**window)
    return sorted(keys, key=lambda key: key.expires_at)
