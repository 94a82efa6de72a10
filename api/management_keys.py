"""AuthService v1 management keys (management_key.v1.swagger.json): list, create, delete."""

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from api.base import AccountView, parse_uuid
from api.errors import InvalidArgument, NotFound, validation_message
from api.fields import ProtoSerializer, StringField, TimestampField
from api.schema import EMPTY
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


@extend_schema_serializer(component_name="AuthServiceCreateManagementKeyBodyManagementKey")
class ManagementKeyIn(ProtoSerializer):
    """Qdrant Cloud's body sets nothing (the key acts as its creator in the
    account of the path); this console also takes a name and an expiry."""

    name = StringField(required=False, allow_blank=True)
    expiresAt = TimestampField(required=False)

    def validate_expiresAt(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


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
            )
        except ValidationError as error:
            raise InvalidArgument(_model_message(error)) from None
        response = Response({"managementKey": ManagementKeyOut(key).data | {"key": plaintext}})
        add_never_cache_headers(response)  # the key stays in no cache
        return response


_API_FIELD = {"name": "name", "expires_at": "expiresAt"}


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
