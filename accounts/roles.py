"""System roles as sets of Qdrant Cloud permission strings.

The strings are the ones Qdrant Cloud's IAM service uses (iam.v1 and the
"Required permissions" of every method in spec/cloud-api/). Views
check a permission, never a role name, so roles can change in one place.
"""

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"

    @property
    def label(self) -> str:
        return self.value.capitalize()


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
