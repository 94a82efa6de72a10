"""System roles as sets of Qdrant Cloud permission strings.

The strings are the ones Qdrant Cloud's IAM service uses (iam.v1 and the
"Required permissions" of every method in spec/cloud-api/). Views
check a permission, never a role name, so roles can change in one place.
"""

import uuid
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def id(self) -> uuid.UUID:
        """Stable ids for the system roles: the same in every account and every install."""
        return uuid.uuid5(SYSTEM_ROLE_NAMESPACE, self.value)

    @property
    def description(self) -> str:
        return SYSTEM_ROLE_DESCRIPTIONS[self]


SYSTEM_ROLE_NAMESPACE = uuid.UUID("6f1d4c52-2a0e-4c8b-9a57-3f0e8d7b1c21")
SYSTEM_ROLE_DESCRIPTIONS = {
    Role.OWNER: "Everything, including giving the account away and deleting it.",
    Role.ADMIN: "Everything but giving the account away or deleting it.",
    Role.DEVELOPER: "Works with clusters, backups and their keys; reads users and roles.",
    Role.VIEWER: "Reads everything but the audit log.",
}


# permission -> category, in the order the IAM service lists them.
PERMISSIONS: dict[str, str] = {
    "read:clusters": "Cluster",
    "write:clusters": "Cluster",
    "delete:clusters": "Cluster",
    "read:backups": "Backup",
    "write:backups": "Backup",
    "restore:backups": "Backup",
    "delete:backups": "Backup",
    "read:api_keys": "Cluster API Keys",
    "write:api_keys": "Cluster API Keys",
    "delete:api_keys": "Cluster API Keys",
    "read:management_keys": "Management Keys",
    "write:management_keys": "Management Keys",
    "delete:management_keys": "Management Keys",
    "read:users": "User Management",
    "write:users": "User Management",
    "delete:users": "User Management",
    "read:roles": "User Management",
    "write:roles": "User Management",
    "delete:roles": "User Management",
    "read:audit_logs": "Account",
    "read:account": "Account",
    "write:account": "Account",
    "delete:account": "Account",
}

# What each permission allows, in words, for the pages that list roles.
PERMISSION_DESCRIPTIONS: dict[str, str] = {
    "read:clusters": "See clusters, their nodes, endpoints and status.",
    "write:clusters": "Create clusters, restart them and enable granular access.",
    "delete:clusters": "Delete clusters.",
    "read:backups": "See backups and backup schedules.",
    "write:backups": "Create backups and backup schedules.",
    "restore:backups": "Restore a cluster from a backup.",
    "delete:backups": "Delete backups and backup schedules.",
    "read:api_keys": "See the database API keys and admin keys of clusters (never the keys themselves).",
    "write:api_keys": "Create, roll, disable and enable database API keys and admin keys.",
    "delete:api_keys": "Delete database API keys and admin keys, and roll one with its old secret stopping now.",
    "read:management_keys": "See the account's management keys (by name and prefix).",
    "write:management_keys": "Create management keys, which act with the creator's permissions.",
    "delete:management_keys": "Delete management keys.",
    "read:users": "See the account's members, their roles and pending invitations.",
    "write:users": "Invite members, revoke invitations and change members' roles.",
    "delete:users": "Remove members from the account.",
    "read:roles": "See roles and the permissions they hold.",
    "write:roles": "Create and change custom roles.",
    "delete:roles": "Delete custom roles.",
    "read:audit_logs": "See and export the audit log.",
    "read:account": "See the account's details.",
    "write:account": "Change the account, and make or unmake owners.",
    "delete:account": "Delete the account.",
}

_READ = {p for p in PERMISSIONS if p.startswith("read:")}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: frozenset(PERMISSIONS),
    # Everything but giving the account away or deleting it.
    Role.ADMIN: frozenset(PERMISSIONS) - {"write:account", "delete:account"},
    # Works with clusters and their keys; does not administer people or the account.
    Role.DEVELOPER: frozenset(
        {
            "read:clusters",
            "write:clusters",
            "read:backups",
            "write:backups",
            "read:api_keys",
            "write:api_keys",
            "delete:api_keys",
            "read:management_keys",
            "write:management_keys",
            "delete:management_keys",
            "read:users",
            "read:roles",
            "read:account",
        }
    ),
    Role.VIEWER: frozenset(_READ - {"read:audit_logs"}),
}


def permission_groups(held=None, offered=None) -> list[dict]:
    """The permissions by category, each with what it allows in words, for the
    pages that list or pick them; `held` marks the ones a role has (or a form
    ticks); `offered`, if given, keeps only those (a category left empty goes)."""
    groups: dict[str, list[dict]] = {}
    for value, category in PERMISSIONS.items():
        if offered is not None and value not in offered:
            continue
        groups.setdefault(category, []).append(
            {"value": value, "words": PERMISSION_DESCRIPTIONS[value], "held": held is not None and value in held}
        )
    return [{"category": category, "permissions": items} for category, items in groups.items()]
