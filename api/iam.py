"""IAMService v1 (iam.v1.swagger.json): permissions, roles, the account's users and their roles.

Roles are the four system roles (accounts/roles.py, the same ids in every
account) and the account's custom roles. A user here is a member of the
account, identified by the membership's public id. A member holds exactly
one role (docs/concepts/accounts.md, "Roles"): AssignUserRoles computes the set the spec says
(the current role, plus roleIdsToAdd, minus roleIdsToDelete) and that set
must be one role; the call changes the member's role to it, or nothing.
"""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from accounts.models import CustomRole, role_name, role_permissions
from accounts.roles import PERMISSIONS, Role
from accounts.selectors import account_role, account_roles, role_members
from accounts.services import (
    GrantRefused,
    RoleInUse,
    custom_role_create,
    custom_role_delete,
    custom_role_update,
    member_change_role,
)
from api.base import AccountView, parse_uuid
from api.errors import FailedPrecondition, InvalidArgument, NotFound, validation_message
from api.fields import EnumField, ProtoSerializer, StringField, TimestampField
from api.schema import EMPTY
from audit.services import client_ip

TAG = "IAMService"

ROLE_TYPE_NAMES = ["ROLE_TYPE_UNSPECIFIED", "ROLE_TYPE_SYSTEM", "ROLE_TYPE_CUSTOM"]
SUB_TYPE_NAMES = [
    "SYSTEM_ROLE_SUB_TYPE_UNSPECIFIED",
    "SYSTEM_ROLE_SUB_TYPE_OWNER",
    "SYSTEM_ROLE_SUB_TYPE_ADMIN",
    "SYSTEM_ROLE_SUB_TYPE_BASE",
]
USER_STATUS_NAMES = ["USER_STATUS_UNSPECIFIED", "USER_STATUS_ACTIVE", "USER_STATUS_BLOCKED", "USER_STATUS_DELETED"]
# Qdrant Cloud's sub-types name its owner and admin roles; developer and viewer have none.
SUB_TYPES = {Role.OWNER: "SYSTEM_ROLE_SUB_TYPE_OWNER", Role.ADMIN: "SYSTEM_ROLE_SUB_TYPE_ADMIN"}
SYSTEM_ROLE_UNCHANGEABLE = "{name} is a system role: system roles cannot be changed or deleted."
# The fields of a role that CreateRole and UpdateRole set (updateMask names them).
ROLE_FIELDS = ("name", "description", "permissions")


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
    createdAt = TimestampField(required=False)
    lastModifiedAt = TimestampField(required=False)
    accountId = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    roleType = EnumField(ROLE_TYPE_NAMES, {name: name for name in ROLE_TYPE_NAMES[1:]})
    permissions = PermissionOut(many=True)
    subType = EnumField(SUB_TYPE_NAMES, {name: name for name in SUB_TYPE_NAMES[1:]}, required=False)


@extend_schema_serializer(component_name="v1User")
class UserOut(ProtoSerializer):
    id = serializers.UUIDField()
    createdAt = TimestampField()
    email = serializers.CharField()
    status = EnumField(USER_STATUS_NAMES, {name: name for name in USER_STATUS_NAMES[1:]})


class PermissionIn(ProtoSerializer):
    value = StringField()
    # "Optional in requests; server populates it in responses": read and ignored.
    category = StringField(required=False, allow_blank=True)

    def validate_value(self, value):
        if value not in PERMISSIONS:
            raise serializers.ValidationError(f"{value!r} is not a permission; ListPermissions lists them.")
        return value


class RoleIn(ProtoSerializer):
    """The role of a CreateRole or UpdateRole body. Read-only fields (id,
    timestamps, accountId, subType) are ignored; roleType may be left out
    (proto3's UNSPECIFIED) but, if given, must be ROLE_TYPE_CUSTOM."""

    name = StringField(required=False, allow_blank=True)
    description = StringField(required=False, allow_blank=True)
    roleType = EnumField(ROLE_TYPE_NAMES, {name: name for name in ROLE_TYPE_NAMES}, required=False)
    permissions = PermissionIn(many=True, required=False)

    def validate_roleType(self, value):
        if value not in ("ROLE_TYPE_UNSPECIFIED", "ROLE_TYPE_CUSTOM"):
            raise serializers.ValidationError("Must be ROLE_TYPE_CUSTOM: system roles cannot be created or changed.")
        return value


@extend_schema_serializer(component_name="IAMServiceCreateRoleBody")
class CreateRoleBody(ProtoSerializer):
    role = RoleIn()


@extend_schema_serializer(component_name="IAMServiceUpdateRoleBody")
class UpdateRoleBody(ProtoSerializer):
    role = RoleIn()
    updateMask = StringField(required=False, allow_blank=True)

    def validate_updateMask(self, value):
        paths = [path.strip() for path in value.split(",") if path.strip()]
        unknown = [path for path in paths if path not in ROLE_FIELDS]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown field {', '.join(map(repr, unknown))}: a role's changeable fields are {', '.join(ROLE_FIELDS)}."
            )
        return paths


@extend_schema_serializer(component_name="IAMServiceAssignUserRolesBody")
class AssignUserRolesBody(ProtoSerializer):
    roleIdsToAdd = serializers.ListField(child=StringField(), required=False)
    roleIdsToDelete = serializers.ListField(child=StringField(), required=False)


class RoleResponse(ProtoSerializer):
    role = RoleOut()


@extend_schema_serializer(component_name="v1GetRoleResponse")
class GetRoleResponse(RoleResponse):
    pass


@extend_schema_serializer(component_name="v1CreateRoleResponse")
class CreateRoleResponse(RoleResponse):
    pass


@extend_schema_serializer(component_name="v1UpdateRoleResponse")
class UpdateRoleResponse(RoleResponse):
    pass


@extend_schema_serializer(component_name="v1ListPermissionsResponse")
class ListPermissionsResponse(ProtoSerializer):
    permissions = PermissionOut(many=True)


@extend_schema_serializer(component_name="v1ListRolesResponse")
class ListRolesResponse(ProtoSerializer):
    items = RoleOut(many=True)


@extend_schema_serializer(component_name="v1ListEffectivePermissionsResponse")
class ListEffectivePermissionsResponse(ProtoSerializer):
    permissions = PermissionOut(many=True)


@extend_schema_serializer(component_name="v1ListUsersResponse")
class ListUsersResponse(ProtoSerializer):
    items = UserOut(many=True)


@extend_schema_serializer(component_name="v1ListUserRolesResponse")
class ListUserRolesResponse(ProtoSerializer):
    roles = RoleOut(many=True)


@extend_schema_serializer(component_name="v1ListRoleUsersResponse")
class ListRoleUsersResponse(ProtoSerializer):
    users = UserOut(many=True)


def role_item(account, role) -> dict:
    item = {
        "id": role.id,
        "accountId": account.id,
        "name": role_name(role),
        "description": role.description,
        "permissions": permission_items(role_permissions(role)),
    }
    if isinstance(role, CustomRole):
        return item | {
            "roleType": "ROLE_TYPE_CUSTOM",
            "createdAt": role.created_at,
            "lastModifiedAt": role.last_modified_at,
        }
    item["roleType"] = "ROLE_TYPE_SYSTEM"
    if role in SUB_TYPES:
        item["subType"] = SUB_TYPES[role]
    return item


def user_item(membership) -> dict:
    user = membership.user
    return {
        "id": membership.public_id,
        "createdAt": user.date_joined,
        "email": user.email,
        "status": "USER_STATUS_ACTIVE" if user.is_active else "USER_STATUS_BLOCKED",
    }


def _model_message(error: ValidationError, prefix: str) -> str:
    """A service's complaint in the API's field names, e.g. "role.name: ..."."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return " ".join(f"{prefix}{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())


class IamView(AccountView):
    """An IAMService method: finds the roles and members its path names."""

    def role(self, role_id: str, field: str = "roleId"):
        role = account_role(self.account, parse_uuid(role_id, field))
        if role is None:
            raise NotFound(f"{field}: no role with this id in the account.")
        return role

    def custom_role(self, role_id: str, field: str) -> CustomRole:
        role = self.role(role_id, field)
        if not isinstance(role, CustomRole):
            raise FailedPrecondition(SYSTEM_ROLE_UNCHANGEABLE.format(name=role.label))
        return role

    def member(self, user_id: str):
        member_id = parse_uuid(user_id, "userId")
        member = self.account.memberships.select_related("user", "custom_role", "account").filter(public_id=member_id)
        if not member:
            raise NotFound("userId: no user with this id in the account.")
        return member[0]


def _role_body(serializer_class, data) -> dict:
    body = serializer_class(data=data)
    if not body.is_valid():
        raise InvalidArgument(validation_message(body.errors))
    return body.validated_data


def _permission_values(role: dict) -> list[str]:
    return [permission["value"] for permission in role.get("permissions", [])]


class PermissionList(IamView):
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


class RoleList(IamView):
    permissions = {"GET": "read:roles", "POST": "write:roles"}

    @extend_schema(
        operation_id="IAMService_ListRoles",
        summary="Lists all roles in the account identified by the given ID: the system roles, then custom roles.",
        description="Required permissions:\n- read:roles",
        tags=[TAG],
        responses=ListRolesResponse,
    )
    def get(self, request, account_id):
        items = [role_item(self.account, role) for role in account_roles(self.account)]
        return Response(ListRolesResponse({"items": items}).data)

    @extend_schema(
        operation_id="IAMService_CreateRole",
        summary="Creates a role for the account identified by the given ID.",
        description="Note: The role_type must be ROLE_TYPE_CUSTOM.\nRequired permissions:\n- write:roles\n\n"
        "A role can hold only permissions the caller holds (else PERMISSION_DENIED).",
        tags=[TAG],
        request=CreateRoleBody,
        responses=CreateRoleResponse,
    )
    def post(self, request, account_id):
        data = _role_body(CreateRoleBody, request.data)["role"]
        try:
            role = custom_role_create(
                account=self.account,
                name=data.get("name", ""),
                description=data.get("description", ""),
                permissions=_permission_values(data),
                by=self.membership,
                client_ip=client_ip(request),
            )
        except GrantRefused as error:
            raise exceptions.PermissionDenied(" ".join(error.messages)) from None
        except ValidationError as error:
            raise InvalidArgument(_model_message(error, "role.")) from None
        return Response(CreateRoleResponse({"role": role_item(self.account, role)}).data)


class RoleDetail(IamView):
    permissions = {"GET": "read:roles", "PUT": "write:roles", "DELETE": "delete:roles"}
    http_method_names = [*AccountView.http_method_names, "put"]

    @extend_schema(
        operation_id="IAMService_GetRole",
        summary="Gets a role for the account identified by the given ID.",
        description="Required permissions:\n- read:roles",
        tags=[TAG],
        responses=GetRoleResponse,
    )
    def get(self, request, account_id, role_id):
        return Response(GetRoleResponse({"role": role_item(self.account, self.role(role_id))}).data)

    @extend_schema(
        operation_id="IAMService_UpdateRole",
        summary="Updates a role in the account identified by the given ID.",
        description="Note: The role_type must be ROLE_TYPE_CUSTOM.\nRequired permissions:\n- write:roles\n\n"
        "Without updateMask the body replaces the role (name, description, permissions); with it, only the "
        "fields it names change. Members holding the role have the new permissions from their next request. "
        "The caller must hold every permission of the role, before and after the change (else PERMISSION_DENIED).",
        tags=[TAG],
        request=UpdateRoleBody,
        responses=UpdateRoleResponse,
    )
    def put(self, request, account_id, role_id):
        role = self.custom_role(role_id, "role.id")
        body = _role_body(UpdateRoleBody, request.data)
        data, mask = body["role"], body.get("updateMask") or ROLE_FIELDS
        current = {"name": role.name, "description": role.description, "permissions": role.permissions}
        given = {"name": data.get("name", ""), "description": data.get("description", ""), "permissions": _permission_values(data)}
        fields = {field: given[field] if field in mask else current[field] for field in ROLE_FIELDS}
        try:
            role = custom_role_update(role=role, **fields, by=self.membership, client_ip=client_ip(request))
        except GrantRefused as error:
            raise exceptions.PermissionDenied(" ".join(error.messages)) from None
        except ValidationError as error:
            raise InvalidArgument(_model_message(error, "role.")) from None
        return Response(UpdateRoleResponse({"role": role_item(self.account, role)}).data)

    @extend_schema(
        operation_id="IAMService_DeleteRole",
        summary="Deletes a role in the account identified by the given ID.",
        description="Note: The role_type must be ROLE_TYPE_CUSTOM.\nRequired permissions:\n- delete:roles\n\n"
        "A role that members or pending invitations hold is not deleted (FAILED_PRECONDITION); the caller must hold "
        "every permission of the role (else PERMISSION_DENIED).",
        tags=[TAG],
        responses={200: EMPTY},
    )
    def delete(self, request, account_id, role_id):
        role = self.custom_role(role_id, "roleId")
        try:
            custom_role_delete(role=role, by=self.membership, client_ip=client_ip(request))
        except GrantRefused as error:
            raise exceptions.PermissionDenied(" ".join(error.messages)) from None
        except RoleInUse as error:
            raise FailedPrecondition(error.messages[0]) from None
        return Response({})


class RoleUserList(IamView):
    permissions = {"GET": "read:roles"}

    @extend_schema(
        operation_id="IAMService_ListRoleUsers",
        summary="List users for the role identified by the given ID.",
        description="Required permissions:\n- read:roles",
        tags=[TAG],
        responses=ListRoleUsersResponse,
    )
    def get(self, request, account_id, role_id):
        members = role_members(self.account, self.role(role_id))
        return Response(ListRoleUsersResponse({"users": [user_item(m) for m in members]}).data)


class UserList(IamView):
    permissions = {"GET": "read:users"}

    @extend_schema(
        operation_id="IAMService_ListUsers",
        summary="List users in the account identified by the given ID.",
        description="Required permissions:\n- read:users\n\nA user's id is their membership's id in this account.",
        tags=[TAG],
        responses=ListUsersResponse,
    )
    def get(self, request, account_id):
        members = self.account.memberships.select_related("user").order_by("user__username")
        return Response(ListUsersResponse({"items": [user_item(m) for m in members]}).data)


class UserRoleList(IamView):
    permissions = {"GET": "read:roles", "POST": "write:roles"}

    @extend_schema(
        operation_id="IAMService_ListUserRoles",
        summary="List roles of the user identified by the given ID.",
        description="Required permissions:\n- read:roles",
        tags=[TAG],
        responses=ListUserRolesResponse,
    )
    def get(self, request, account_id, user_id):
        member = self.member(user_id)
        return Response(ListUserRolesResponse({"roles": [role_item(self.account, member.held_role)]}).data)

    @extend_schema(
        operation_id="IAMService_AssignUserRoles",
        summary="Assigns the provided roles to the user in the account identified by the given ID.",
        description="Required permissions:\n- write:roles\n\nA member holds exactly one role here: the resulting "
        "set (current role, plus roleIdsToAdd, minus roleIdsToDelete, which takes precedence) must be one role "
        "(else FAILED_PRECONDITION, and nothing changes). To change a role, add the new one and delete the old.",
        tags=[TAG],
        request=AssignUserRolesBody,
        responses={200: EMPTY},
    )
    def post(self, request, account_id, user_id):
        member = self.member(user_id)
        body = _role_body(AssignUserRolesBody, request.data)
        adding = [self.role(value, f"roleIdsToAdd[{i}]") for i, value in enumerate(body.get("roleIdsToAdd", []))]
        deleting = [self.role(value, f"roleIdsToDelete[{i}]") for i, value in enumerate(body.get("roleIdsToDelete", []))]
        current = member.held_role
        result = _unique([current, *adding])
        result = [role for role in result if role not in deleting]
        if len(result) != 1:
            given = " and ".join(role_name(role) for role in result) if result else "no role"
            raise FailedPrecondition(
                f"A member holds exactly one role, and this would leave {member.name} with {given}. "
                f"To change their role, add the new one and put the current one ({role_name(current)}, "
                f"{current.id}) in roleIdsToDelete."
            )
        try:
            member_change_role(membership=member, role=result[0], by=self.membership, client_ip=client_ip(request))
        except GrantRefused as error:
            raise exceptions.PermissionDenied(" ".join(error.messages)) from None
        except ValidationError as error:  # the last owner
            raise FailedPrecondition(" ".join(error.messages)) from None
        return Response({})


def _unique(roles: list) -> list:
    """In order, once each ("the role will be added exactly one time")."""
    seen = []
    for role in roles:
        if role not in seen:
            seen.append(role)
    return seen


class EffectivePermissionList(IamView):
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
