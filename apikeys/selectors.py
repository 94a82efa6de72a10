from datetime import timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apikeys.models import REMINDER_DAYS, AdminKey, DatabaseApiKey
from apikeys.tokens import access_claim
from apikeys.rights import FULL, Access, Decision, access_from_claim, rights_matrix
from keyset.contract import embedded_collections


def cluster_collections(cluster) -> list[str]:
    """The collections the create form offers for this cluster, sorted.

    The one place the console learns a cluster's collections: the live
    cluster, as its data plane stores them.
    """
    return embedded_collections(cluster.id)


def cluster_keys(cluster) -> QuerySet[DatabaseApiKey]:
    return DatabaseApiKey.objects.live().filter(cluster=cluster).select_related("cluster", "created_by")


def account_keys(account) -> QuerySet[DatabaseApiKey]:
    return DatabaseApiKey.objects.live().filter(cluster__account=account).select_related("cluster", "created_by")


def account_key_lists(account, *, cluster=None, kind: str = "", state: str = "") -> dict[str, QuerySet]:
    """The API Keys page's lists, narrowed by its filters: {"database": ..., "admin": ...}.

    `kind` "database" or "admin" leaves the other list out; `state` is
    "active" (not expired) or "expired". Deleted keys are in no list.
    """
    from django.db.models import Q

    lists = {}
    now = timezone.now()
    for name, model in (("database", DatabaseApiKey), ("admin", AdminKey)):
        if kind and kind != name:
            continue
        keys = model.objects.live().filter(cluster__account=account).select_related("cluster", "created_by")
        if cluster is not None:
            keys = keys.filter(cluster=cluster)
        if state == "active":
            keys = keys.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        elif state == "expired":
            keys = keys.filter(expires_at__lte=now)
        lists[name] = keys
    return lists


def keys_page(keys: QuerySet[DatabaseApiKey], number) -> Page:
    """One page of keys in two queries (count and rows), however many there are."""
    return Paginator(keys, settings.API_KEYS_PER_PAGE).get_page(number)


def cluster_key(cluster, key_id) -> DatabaseApiKey:
    """A key of this cluster, deleted or not; 404 for any other id."""
    return get_object_or_404(
        DatabaseApiKey.objects.filter(cluster=cluster).select_related("cluster", "created_by", "revoked_by"), id=key_id
    )


# Admin keys


def cluster_admin_keys(cluster) -> QuerySet[AdminKey]:
    return AdminKey.objects.live().filter(cluster=cluster).select_related("cluster", "created_by")


def cluster_admin_key(cluster, admin_key_id) -> AdminKey:
    """An admin key of this cluster, deleted or not; 404 for any other id."""
    return get_object_or_404(
        AdminKey.objects.filter(cluster=cluster).select_related("cluster", "created_by", "revoked_by"),
        id=admin_key_id,
    )


def key_access(key: DatabaseApiKey | AdminKey) -> Access:
    """The Access the front gives this key: an admin key is global manage, a
    database key what its token's `access` claim reads as (the same parse)."""
    if key.kind == "admin":
        return FULL
    return access_from_claim(access_claim(key.rules))


def key_rights(key: DatabaseApiKey | AdminKey) -> list[tuple[str, list[Decision]]]:
    """What the key may do on each live collection of its cluster, decided by
    the checks the front applies (apikeys.rights)."""
    return rights_matrix(key_access(key), cluster_collections(key.cluster))


def expiring_keys(cluster) -> list[DatabaseApiKey | AdminKey]:
    """The cluster's live keys of both kinds that expire within REMINDER_DAYS[0] days, soonest first."""
    now = timezone.now()
    window = {"expires_at__gt": now, "expires_at__lte": now + timedelta(days=REMINDER_DAYS[0])}
    keys = list(cluster_keys(cluster).filter(**window))
    if cluster.is_legacy:  # only clusters from before granular keys can have admin keys
        keys += cluster_admin_keys(cluster).filter(**window)
    return sorted(keys, key=lambda key: key.expires_at)
