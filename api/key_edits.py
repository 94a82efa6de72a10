"""UpdateDatabaseApiKey and UpdateManagementKey: extensions of Qdrant Cloud's API.

Qdrant Cloud's API can only create and delete a key. These rename a key (and
change a database API key's description) without a new secret, as
grpc-gateway custom methods on paths of their own (`POST …/{id}:update`), so
no Cloud-compatible path changes meaning. A database API key's rules and
expiry stay: the JWT carries them.
"""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from api.base import AccountView, parse_uuid
from api.database_api_keys import _MARK, TAG, DatabaseApiKeyOut, _model_error_message
from api.errors import InvalidArgument, NotFound, validation_message
from api.fields import ProtoSerializer, StringField
from api.management_keys import TAG as AUTH_TAG
from api.management_keys import ManagementKeyOut, _model_message
from api.schema import EXTENSION
from apikeys.policy import DATABASE, EDIT_PERMISSION, MANAGEMENT
from apikeys.selectors import account_keys
from apikeys.services import key_edit
from audit.services import client_ip
from managementkeys.selectors import account_management_keys
from managementkeys.services import management_key_rename


@extend_schema_serializer(component_name="DatabaseApiKeyServiceUpdateDatabaseApiKeyBody")
class UpdateDatabaseApiKeyBody(ProtoSerializer):
    name = StringField(required=False, help_text="The new name; unchanged when absent.")
    description = StringField(
        required=False, allow_blank=True, help_text="The new description (empty clears it); unchanged when absent."
    )


@extend_schema_serializer(component_name="v2UpdateDatabaseApiKeyResponse")
class UpdateDatabaseApiKeyResponse(ProtoSerializer):
    databaseApiKey = DatabaseApiKeyOut()


class DatabaseApiKeyUpdate(AccountView):
    permissions = {"POST": EDIT_PERMISSION[DATABASE]}

    @extend_schema(
        operation_id="DatabaseApiKeyService_UpdateDatabaseApiKey",
        summary="Renames a database api key or changes its description (extension: not in Qdrant Cloud's API).",
        description=f"{EXTENSION}\n\nRequired permissions:\n- {EDIT_PERMISSION[DATABASE]}\n\nThe key itself, its "
        "access rules and its expiry stay the same. A field left out is left as it is.",
        tags=[TAG],
        request=UpdateDatabaseApiKeyBody,
        responses=UpdateDatabaseApiKeyResponse,
        extensions=_MARK,
    )
    def post(self, request, account_id, database_api_key_id):
        key_id = parse_uuid(database_api_key_id, "databaseApiKeyId")
        key = account_keys(self.account).filter(id=key_id).first()
        if key is None:
            raise NotFound("databaseApiKeyId: no database api key with this id in the account.")
        self.check_cluster(key.cluster_id)
        body = UpdateDatabaseApiKeyBody(data=request.data)
        if not body.is_valid():
            raise InvalidArgument(validation_message(body.errors))
        data = body.validated_data
        try:
            key_edit(
                key=key, name=data.get("name", key.name), description=data.get("description", key.description),
                by=request.user, client_ip=client_ip(request),
            )
        except ValidationError as error:
            raise InvalidArgument(_model_error_message(error)) from None
        return Response({"databaseApiKey": DatabaseApiKeyOut(key).data})


@extend_schema_serializer(component_name="AuthServiceUpdateManagementKeyBody")
class UpdateManagementKeyBody(ProtoSerializer):
    name = StringField(help_text="The new name.")


@extend_schema_serializer(component_name="v1NamedManagementKey")
class NamedManagementKeyOut(ManagementKeyOut):
    """Cloud's v1ManagementKey has no name; this extension's answer adds it."""

    name = serializers.CharField(help_text=f"{EXTENSION} The key's name.")


@extend_schema_serializer(component_name="v1UpdateManagementKeyResponse")
class UpdateManagementKeyResponse(ProtoSerializer):
    managementKey = NamedManagementKeyOut()


class ManagementKeyUpdate(AccountView):
    permissions = {"POST": EDIT_PERMISSION[MANAGEMENT]}

    @extend_schema(
        operation_id="AuthService_UpdateManagementKey",
        summary="Renames a management key (extension: not in Qdrant Cloud's API).",
        description=f"{EXTENSION}\n\nRequired permissions:\n- {EDIT_PERMISSION[MANAGEMENT]}\n\nThe key itself stays "
        "the same.",
        tags=[AUTH_TAG],
        request=UpdateManagementKeyBody,
        responses=UpdateManagementKeyResponse,
        extensions=_MARK,
    )
    def post(self, request, account_id, management_key_id):
        key_id = parse_uuid(management_key_id, "managementKeyId")
        key = account_management_keys(self.account).filter(id=key_id).first()
        if key is None:
            raise NotFound("managementKeyId: no management key with this id in the account.")
        body = UpdateManagementKeyBody(data=request.data)
        if not body.is_valid():
            raise InvalidArgument(validation_message(body.errors))
        try:
            management_key_rename(key=key, name=body.validated_data["name"], by=request.user,
                                  client_ip=client_ip(request))
        except ValidationError as error:
            raise InvalidArgument(_model_message(error)) from None
        return Response({"managementKey": NamedManagementKeyOut(key).data})
