"""UpdateDatabaseApiKey: an extension of Qdrant Cloud's DatabaseApiKeyService.

Qdrant Cloud's API can only create and delete a key. This renames a key or
changes its description without a new secret, as a grpc-gateway custom
method on its own path (`POST …/database-api-keys/{databaseApiKeyId}:update`),
so no Cloud-compatible path changes meaning. The rules and the expiry stay:
the JWT carries them.
"""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework.response import Response

from api.base import AccountView, parse_uuid
from api.database_api_keys import TAG, DatabaseApiKeyOut, _model_error_message
from api.errors import InvalidArgument, NotFound, validation_message
from api.fields import ProtoSerializer, StringField
from apikeys.policy import DATABASE, EDIT_PERMISSION
from apikeys.selectors import account_keys
from apikeys.services import key_edit
from audit.services import client_ip


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
        description=f"Required permissions:\n- {EDIT_PERMISSION[DATABASE]}\n\nThe key itself, its access rules and its "
        "expiry stay the same. A field left out is left as it is.",
        tags=[TAG],
        request=UpdateDatabaseApiKeyBody,
        responses=UpdateDatabaseApiKeyResponse,
    )
    def post(self, request, account_id, database_api_key_id):
        key_id = parse_uuid(database_api_key_id, "databaseApiKeyId")
        key = account_keys(self.account).filter(id=key_id).first()
        if key is None:
            raise NotFound("databaseApiKeyId: no database api key with this id in the account.")
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
