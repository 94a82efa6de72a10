"""IAMService v1 (iam.v1.swagger.json): permissions, roles, the caller's effective permissions.

The roles are the console's four system roles (accounts/roles.py); custom roles
do not exist here, so their methods are not served.
"""

import uuid

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from accounts.roles import PERMISSIONS, ROLE_PERMISSIONS, Role
from api.base import AccountView
from api.fields import EnumField, ProtoSerializer

TAG = "IAMService"

# Stable ids for the system roles: the same in every account and every install.
ROLE_NAMESPACE = uuid.UUID("6f1d4c52-2a0e-4c8b-9a57-3f0e8d7b1c21")
ROLE_DESCRIPTIONS = {
    Role.OWNER: "Everything, including giving the account away and deleting it.",
    Role.ADMIN: "Everything but giving the account away or deleting it.",
    Role.DEVELOPER: "Works with clusters, backups and their keys; reads users and roles.",
    Role.VIEWER: "Reads everything but the audit log.",
}
ROLE_TYPE_NAMES = ["ROLE_TYPE_UNSPECIFIED", "ROLE_TYPE_SYSTEM", "ROLE_TYPE_CUSTOM"]
SUB_TYPE_NAMES = [
    "SYSTEM_ROLE_SUB_TYPE_UNSPECIFIED",
    "SYSTEM_ROLE_SUB_TYPE_OWNER",
    "SYSTEM_ROLE_SUB_TYPE_ADMIN",
    "SYSTEM_ROLE_SUB_TYPE_BASE",
]
# Qdrant Cloud's sub-types name its owner and admin roles; developer and viewer have none.
SUB_TYPES = {Role.OWNER: "SYSTEM_ROLE_SUB_TYPE_OWNER", Role.ADMIN: "SYSTEM_ROLE_SUB_TYPE_ADMIN"}


def role_id(role: Role) -> uuid.UUID:
    return uuid.uuid5(ROLE_NAMESPACE, role.value)


def permission_items(permissions) -> list[dict]:
    """v1Permission items in the order the IAM service lists them."""
    return [{"value": value, "category": category} for value, category in PERMISSIONS.items() if value in permissions]


@extend_schema_serializer(component_name="v1Permission")
class PermissionOut(ProtoSerializer):
    value = serializers.CharField()
    category = serializers.CharField()


@extend_schema_serializer(component_name="v1Role")
class RoleOut(ProtoSerializer):
    id = serializers.UUIDField()
    accountId = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    roleType = EnumField(ROLE_TYPE_NAMES, {"ROLE_TYPE_SYSTEM": "ROLE_TYPE_SYSTEM"})
    permissions = PermissionOut(many=True)
    subType = EnumField(SUB_TYPE_NAMES, {name: name for name in SUB_TYPE_NAMES[1:]}, required=False)


@extend_schema_serializer(component_name="v1ListPermissionsResponse")
class ListPermissionsResponse(ProtoSerializer):
    permissions = PermissionOut(many=True)


@extend_schema_serializer(component_name="v1ListRolesResponse")
class ListRolesResponse(ProtoSerializer):
    items = RoleOut(many=True)


@extend_schema_serializer(component_name="v1ListEffectivePermissionsResponse")
class ListEffectivePermissionsResponse(ProtoSerializer):
    permissions = PermissionOut(many=True)


def role_item(account, role: Role) -> dict:
    item = {
        "id": role_id(role),
        "accountId": account.id,
        "name": role.label,
        "description": ROLE_DESCRIPTIONS[role],
        "roleType": "ROLE_TYPE_SYSTEM",
        "permissions": permission_items(ROLE_PERMISSIONS[role]),
    }
    if role in SUB_TYPES:
        item["subType"] = SUB_TYPES[role]
    return item


class PermissionList(AccountView):
    permissions = {"GET": "read:roles"}

    @extend_schema(
        operation_id="IAMService_ListPermissions",
        summary="Lists all permissions known in the system for the provided account.",
        description="Required permissions:\n- read:roles",
        tags=[TAG],
        responses=ListPermissionsResponse,
    )
    def get(self, request, account_id):
        return Response({"permissions": permission_items(PERMISSIONS)})


class RoleList(AccountView):
    permissions = {"GET": "read:roles"}

    @extend_schema(
        operation_id="IAMService_ListRoles",
        summary="Lists all roles in the account identified by the given ID: the four system roles.",
        description="Required permissions:\n- read:roles",
        tags=[TAG],
        responses=ListRolesResponse,
    )
    def get(self, request, account_id):
        return Response(ListRolesResponse({"items": [role_item(self.account, role) for role in Role]}).data)


class EffectivePermissionList(AccountView):
    permissions = {"GET": None}

    @extend_schema(
        operation_id="IAMService_ListEffectivePermissions",
        summary="Lists the effective permissions of the caller in the account identified by the given ID.",
        description="Required permissions:\n- None (authenticated only)\n\nFor a management key: the permissions "
        "its creator has in the account now.",
        tags=[TAG],
        responses=ListEffectivePermissionsResponse,
    )
    def get(self, request, account_id):
        return Response({"permissions": permission_items(self.membership.permissions)})
