"""Reads of an account's roles: the four system roles and its custom roles, by id."""

import uuid

from accounts.models import AnyRole, CustomRole, Membership
from accounts.roles import Role

SYSTEM_ROLES_BY_ID = {role.id: role for role in Role}


def account_roles(account) -> list[AnyRole]:
    """The system roles, then the account's custom roles by name."""
    return [*Role, *account.custom_roles.all()]


def account_role(account, role_id: uuid.UUID) -> AnyRole | None:
    """The role with this id in the account: a system role (the same id in every
    account) or one of its custom roles; None for another account's."""
    if role_id in SYSTEM_ROLES_BY_ID:
        return SYSTEM_ROLES_BY_ID[role_id]
    return account.custom_roles.filter(id=role_id).first()


def role_members(account, role: AnyRole):
    """The account's members who hold `role`."""
    members = account.memberships.select_related("user", "custom_role").order_by("user__username")
    if isinstance(role, CustomRole):
        return members.filter(custom_role=role)
    return members.filter(role=role.value)


def role_member_counts(account) -> dict:
    """role -> how many members hold it, for the roles page."""
    counts: dict = {}
    for membership in Membership.objects.filter(account=account).select_related("custom_role"):
        role = membership.custom_role or Role(membership.role)
        counts[role] = counts.get(role, 0) + 1
    return counts
