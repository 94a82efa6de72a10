"""AuthService v1 management keys (management_key.v1.swagger.json): list, create, delete.

Extensions (marked in the schema by their help_text): a key's name and expiry,
and its scope (managementkeys/scope.py): `permissions`, `clusterIds` and
`allowedNetworks`. Qdrant Cloud's clients send none of them: their key gets
whatever its creator's role holds at each request, on every cluster, from
anywhere, as a Qdrant Cloud key acts with its creator's permissions.
"""

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from api.base import AccountView, parse_uuid
from api.errors import InvalidArgument, NotFound, validation_message
from api.fields import ProtoSerializer, StringField, TimestampField, future_expiry
from api.schema import EMPTY, EXTENSION
from apikeys.models import parse_networks
from apikeys.policy import CREATE_PERMISSION, MANAGEMENT
from audit.services import client_ip
from managementkeys.selectors import account_management_keys
from managementkeys.services import management_key_create, management_key_delete

TAG = "AuthService"


@extend_schema_serializer(component_name="v1ManagementKey")
class ManagementKeyOut(ProtoSerializer):
    id = serializers.UUIDField()
    accountId = serializers.UUIDField(source="account_id")
    createdAt = TimestampField(source="created_at")
    prefix = serializers.CharField()
    key = serializers.CharField(
        required=False, help_text="The key itself: only in the response of CreateManagementKey, and only once."
    )
    # Extensions: help_text starting with EXTENSION marks them in the schema (api/schema.py).
    name = serializers.CharField(help_text=f"{EXTENSION} The key's name.")
    expiresAt = TimestampField(source="expires_at", required=False,
                               help_text=f"{EXTENSION} When the key stops working; none: never.")
    permissions = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text=f"{EXTENSION} The permission strings the key holds. At each request it acts with those its "
        "creator's role still holds. Absent: unscoped, whatever its creator's role holds.")
    clusterIds = serializers.ListField(
        source="cluster_ids", child=serializers.CharField(),
        help_text=f"{EXTENSION} The clusters the key may touch; empty: every cluster of the account.")
    allowedNetworks = serializers.ListField(
        source="allowed_networks", child=serializers.CharField(),
        help_text=f"{EXTENSION} The CIDRs the key may be used from; empty: anywhere.")


@extend_schema_serializer(component_name="AuthServiceCreateManagementKeyBodyManagementKey")
class ManagementKeyIn(ProtoSerializer):
    """Qdrant Cloud's body sets nothing (the key acts as its creator in the
    account of the path); this console also takes a name, an expiry and a scope."""

    name = StringField(required=False, allow_blank=True, help_text=f"{EXTENSION} The key's name.")
    expiresAt = TimestampField(required=False, help_text=f"{EXTENSION} When the key stops working; none: never.")
    permissions = serializers.ListField(
        child=StringField(), required=False,
        help_text=f"{EXTENSION} Permission strings (IAM's ListPermissions), each held by the caller (and by the "
        "calling management key). None: unscoped, the key acts with whatever the caller's role holds at each "
        "request (through a scoped key: what that key holds).")
    clusterIds = serializers.ListField(
        child=StringField(), required=False,
        help_text=f"{EXTENSION} Ids of the account's clusters the key may touch; none: every cluster (a key "
        "limited to clusters can make keys only for some of its own).")
    allowedNetworks = serializers.ListField(
        child=StringField(), required=False,
        help_text=f"{EXTENSION} CIDRs (IPv4 or IPv6) or addresses the key may be used from; none: anywhere.")

    def validate_expiresAt(self, value):
        return future_expiry(value)

    def validate_allowedNetworks(self, value: list[str]) -> list[str]:
        try:
            return parse_networks(",".join(value))
        except ValidationError as error:
            raise serializers.ValidationError(error.messages) from None


@extend_schema_serializer(component_name="AuthServiceCreateManagementKeyBody")
class CreateManagementKeyBody(ProtoSerializer):
    managementKey = ManagementKeyIn(required=False)


@extend_schema_serializer(component_name="v1CreateManagementKeyResponse")
class CreateManagementKeyResponse(ProtoSerializer):
    managementKey = ManagementKeyOut()


@extend_schema_serializer(component_name="v1ListManagementKeysResponse")
class ListManagementKeysResponse(ProtoSerializer):
    items = ManagementKeyOut(many=True)


class ManagementKeyList(AccountView):
    permissions = {"GET": "read:management_keys", "POST": CREATE_PERMISSION[MANAGEMENT]}

    @extend_schema(
        operation_id="AuthService_ListManagementKeys",
        summary="Lists all management keys in the account identified by the given ID.",
        description="Required permissions:\n- read:management_keys",
        tags=[TAG],
        responses=ListManagementKeysResponse,
    )
    def get(self, request, account_id):
        return Response({"items": ManagementKeyOut(account_management_keys(self.account), many=True).data})

    @extend_schema(
        operation_id="AuthService_CreateManagementKey",
        summary="Creates a management key in the account identified by the given ID.",
        description="Required permissions:\n- write:management_keys\n\nThe key acts with the caller's permissions "
        "in the account, as long as the caller has them. The response carries the key, once.",
        tags=[TAG],
        request=CreateManagementKeyBody,
        responses=CreateManagementKeyResponse,
    )
    @sensitive_variables("plaintext")
    def post(self, request, account_id):
        body = CreateManagementKeyBody(data=request.data)
        if not body.is_valid():
            raise InvalidArgument(validation_message(body.errors))
        data = body.validated_data.get("managementKey") or {}
        try:
            key, plaintext = management_key_create(
                account=self.account,
                by=request.user,
                # Qdrant Cloud's clients send no name: the key is named for when it was made.
                name=data.get("name") or f"created {timezone.now():%Y-%m-%d %H-%M}",
                expires_at=data.get("expiresAt"),
                client_ip=client_ip(request),
                permissions=data.get("permissions"),
                cluster_ids=data.get("clusterIds"),
                allowed_networks=data.get("allowedNetworks"),
                via=self.key,
            )
        except ValidationError as error:
            raise InvalidArgument(_model_message(error)) from None
        response = Response({"managementKey": ManagementKeyOut(key).data | {"key": plaintext}})
        add_never_cache_headers(response)  # the key stays in no cache
        return response


_API_FIELD = {"name": "name", "expires_at": "expiresAt", "cluster_ids": "clusterIds",
              "allowed_networks": "allowedNetworks", "created_by": "createdBy"}

# Fields this console adds to Qdrant Cloud's messages (api/schema.py marks them).
def _model_message(error: ValidationError) -> str:
    """The model's complaint in the API's field names, e.g. "managementKey.name: ..."."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    return "; ".join(
        f"managementKey.{_API_FIELD.get(field, field)}: {' '.join(messages)}"
        for field, messages in error.message_dict.items()
    )


class ManagementKeyDetail(AccountView):
    permissions = {"DELETE": "delete:management_keys"}

    @extend_schema(
        operation_id="AuthService_DeleteManagementKey",
        summary="Deletes a management key in the account identified by the given ID.",
        description="Required permissions:\n- delete:management_keys",
        tags=[TAG],
        responses={200: EMPTY},
    )
    def delete(self, request, account_id, management_key_id):
        key_id = parse_uuid(management_key_id, "managementKeyId")
        key = account_management_keys(self.account).filter(id=key_id).first()
        if key is None:
            raise NotFound("managementKeyId: no management key with this id in the account.")
        management_key_delete(key=key, by=request.user, client_ip=client_ip(request))
        return Response({})
