"""What a management key may do: its permissions, clusters and networks.

One home for the rules of a key's scope, both when it is made (a subset of
what its maker holds) and when it is used (the management API asks here on
every request, so a creator demoted later drags the key down at once).
"""

import copy
import ipaddress
import uuid

from django.core.exceptions import ValidationError

from accounts.models import Membership
from accounts.roles import PERMISSIONS
from managementkeys.models import KeyMembership, ManagementKey


def acting_membership(membership: Membership, key: ManagementKey | None) -> Membership:
    """The membership a request acts with: the member's own, or, through a key,
    the creator's bounded by the key (its `permissions` are the intersection)."""
    if key is None:
        return membership
    scoped = copy.copy(membership)  # the loaded account, role and user come along: no query more
    scoped.__class__ = KeyMembership  # a proxy model: the same row and fields, another `permissions`
    scoped.key = key
    return scoped


def missing_permission_message(membership: Membership, needed: str) -> str:
    """PERMISSION_DENIED's message: which permission, and what lacks it (the key or the creator's role)."""
    if isinstance(membership, KeyMembership):
        if needed not in membership.role_permissions:
            return (
                f"Permission denied: {needed} is required, and the {membership.get_role_display()} role of the "
                f"management key's creator lacks it."
            )
        return (
            f"Permission denied: {needed} is required, and the management key {membership.key.audit_name} "
            "does not hold it."
        )
    return f"Permission denied: {needed} is required, and the {membership.get_role_display()} role lacks it."


def cluster_refusal(key: ManagementKey | None, cluster_id) -> str | None:
    """Why `key` may not touch the cluster, or None when it may (no key: a member's session)."""
    if key is None or not key.cluster_ids or str(cluster_id) in key.cluster_ids:
        return None
    return f"Permission denied: the management key {key.audit_name} may not touch the cluster {cluster_id}."


def cluster_filter(key: ManagementKey | None) -> dict:
    """Lookups that narrow a query of clusters (prefix `cluster__` for their keys) to those the key may touch."""
    return {"id__in": key.cluster_ids} if key is not None and key.cluster_ids else {}


def create_cluster_refusal(key: ManagementKey | None) -> str | None:
    if key is None or not key.cluster_ids:
        return None
    return (
        f"Permission denied: the management key {key.audit_name} is limited to chosen clusters, "
        "so it cannot create clusters."
    )


def address_allowed(key: ManagementKey, address: str | None) -> bool:
    if not key.allowed_networks:
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in key.allowed_networks)


def clean_scope(
    *, account, creator: Membership, via: ManagementKey | None, permissions, cluster_ids
) -> tuple[list | None, list]:
    """The scope of a new key as stored, or ValidationError by field.

    `creator` bounds the permissions: a key never gets a permission its
    creator's role lacks. Made through a management key (`via`), the new key
    gets no more than that key either: no permission it lacks, no cluster
    outside its own. `permissions` None: unscoped, whatever the creator's
    role holds at each request (through a key: what that key holds).
    """
    held = creator.permissions if via is None else creator.permissions & via.permission_set
    if permissions is None and via is not None and via.permissions is not None:
        permissions = [p for p in via.permissions if p in held]  # what the making key may give now
    errors = {}
    if permissions is not None:
        refusal = _permissions_refusal(permissions, held, creator)
        if refusal:
            errors["permissions"] = refusal

    ids = []
    for value in cluster_ids or ():
        try:
            ids.append(str(uuid.UUID(str(value))))
        except ValueError:
            errors["cluster_ids"] = f"{str(value)[:60]} is not a cluster id (a GUID)."
            break
    ids = list(dict.fromkeys(ids))
    if "cluster_ids" not in errors and ids:
        known = {str(i) for i in account.clusters.filter(id__in=ids).values_list("id", flat=True)}
        unknown_ids = [i for i in ids if i not in known]
        if unknown_ids:
            errors["cluster_ids"] = f"No cluster with the id {unknown_ids[0]} in {account.name}."
    if "cluster_ids" not in errors and via is not None and via.cluster_ids:
        outside = [i for i in ids if i not in via.cluster_ids] if ids else ["every cluster"]
        if outside:
            errors["cluster_ids"] = (
                f"The management key making this one may not touch {outside[0]}: "
                "a key cannot reach clusters its maker cannot."
            )
    if errors:
        raise ValidationError(errors)
    stored = None if permissions is None else [p for p in PERMISSIONS if p in set(permissions)]
    return stored, ids


def _permissions_refusal(permissions, held: frozenset[str], creator: Membership) -> str | None:
    unknown = [p for p in permissions if p not in PERMISSIONS]
    if unknown:
        return f"Not a permission: {', '.join(map(repr, unknown))}. The permissions are those IAM's ListPermissions lists."
    if not permissions:
        return "Choose at least one permission."
    if set(permissions) <= held:
        return None
    # The role first: a permission the creator lacks is theirs to ask for, not the key's.
    by_role = set(permissions) - creator.permissions
    lacking = ", ".join(p for p in PERMISSIONS if p in (by_role or set(permissions) - held))
    if by_role:
        return f"You do not hold {lacking}: a management key gets only permissions its creator holds."
    return f"The management key making this one does not hold {lacking}: a key cannot give more than it has."
