from django.db.models import Exists, OuterRef, QuerySet

from accounts.models import Membership
from managementkeys.models import ManagementKey


def _with_creator_membership(keys: QuerySet[ManagementKey]) -> QuerySet[ManagementKey]:
    """Annotates `creator_is_member`: whether the key still has anyone to act as."""
    return keys.annotate(
        creator_is_member=Exists(Membership.objects.filter(account=OuterRef("account"), user=OuterRef("created_by")))
    )


def account_management_keys(account) -> QuerySet[ManagementKey]:
    return _with_creator_membership(ManagementKey.objects.filter(account=account).select_related("created_by"))


def management_key_by_prefix(prefix: str) -> ManagementKey | None:
    """The key with this prefix, its account and creator, in one query."""
    return (
        _with_creator_membership(ManagementKey.objects.filter(prefix=prefix))
        .select_related("account", "created_by")
        .first()
    )



def listed_with_scope(account, keys) -> list[ManagementKey]:
    """The keys with what a list shows of their scope, in two queries more
    whatever their number: `cluster_names` (a deleted cluster by its id) and
    `lost_permissions`, those the key holds but its creator's role no longer
    does (the key acts without them)."""
    keys = list(keys)
    names = {str(c.id): c.name for c in account.clusters.only("id", "name")}
    held = {m.user_id: m.permissions for m in Membership.objects.filter(account=account).select_related("custom_role")}
    for key in keys:
        key.cluster_names = [names.get(i, f"deleted cluster {i}") for i in key.cluster_ids]
        key.lost_permissions = [p for p in key.permissions or () if p not in held.get(key.created_by_id, frozenset())]
    return keys
