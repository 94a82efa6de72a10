"""DatabaseApiKeyService v2 (database_api_key.v2.swagger.json): list, create, delete.

The API reads Qdrant Cloud's shape (`accessRules` of `globalAccess` /
`collectionAccess`) into the rules apikeys stores, and leaves every rule about
them (name, number and mix of rules, collection names) to the model's
validators, which `database_key_create` runs with full_clean(): the console's
form and the API answer to the same rules.
"""

import uuid

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from api.base import AccountView, parse_uuid, query_param
from api.errors import FailedPrecondition, InvalidArgument, NotFound, validation_message
from api.fields import EnumField, ProtoSerializer, StringField, TimestampField
from api.schema import EMPTY
from apikeys.models import ClusterAccess, CollectionAccess
from apikeys.policy import CREATE_PERMISSION, DATABASE, create_refusal
from apikeys.selectors import account_keys
from apikeys.services import database_key_create, database_key_delete
from audit.services import client_ip
from clusters.models import Cluster
from keyset.contract import Propagation, propagation

TAG = "DatabaseApiKeyService"

GLOBAL_ACCESS_NAMES = [
    "GLOBAL_ACCESS_RULE_ACCESS_TYPE_UNSPECIFIED",
    "GLOBAL_ACCESS_RULE_ACCESS_TYPE_READ_ONLY",
    "GLOBAL_ACCESS_RULE_ACCESS_TYPE_MANAGE",
]
GLOBAL_ACCESS = {
    "GLOBAL_ACCESS_RULE_ACCESS_TYPE_READ_ONLY": ClusterAccess.READ_ONLY,
    "GLOBAL_ACCESS_RULE_ACCESS_TYPE_MANAGE": ClusterAccess.MANAGE,
}
COLLECTION_ACCESS_NAMES = [
    "COLLECTION_ACCESS_RULE_ACCESS_TYPE_UNSPECIFIED",
    "COLLECTION_ACCESS_RULE_ACCESS_TYPE_READ_ONLY",
    "COLLECTION_ACCESS_RULE_ACCESS_TYPE_READ_WRITE",
]
COLLECTION_ACCESS = {
    "COLLECTION_ACCESS_RULE_ACCESS_TYPE_READ_ONLY": CollectionAccess.READ_ONLY,
    "COLLECTION_ACCESS_RULE_ACCESS_TYPE_READ_WRITE": CollectionAccess.READ_WRITE,
}
GLOBAL_ACCESS_NAME = {value: name for name, value in GLOBAL_ACCESS.items()}
COLLECTION_ACCESS_NAME = {value: name for name, value in COLLECTION_ACCESS.items()}
# "If no access rules are provided, global access to the database with manage
# permissions is assumed." (v2DatabaseApiKey.accessRules)
DEFAULT_RULES = [{"collection": None, "access": ClusterAccess.MANAGE.value}]

# The model's field names as the API spells them, for messages that name the field.
API_FIELD = {"name": "name", "rules": "accessRules", "expires_at": "expiresAt", "cluster": "clusterId"}


@extend_schema_serializer(component_name="v2GlobalAccessRule")
class GlobalAccessRule(ProtoSerializer):
    accessType = EnumField(GLOBAL_ACCESS_NAMES, GLOBAL_ACCESS)


@extend_schema_serializer(component_name="v2CollectionAccessRule")
class CollectionAccessRule(ProtoSerializer):
    collectionName = StringField(allow_blank=True)
    accessType = EnumField(COLLECTION_ACCESS_NAMES, COLLECTION_ACCESS)


@extend_schema_serializer(component_name="v2AccessRule")
class AccessRule(ProtoSerializer):
    """One rule, read into and written from the stored `{"collection", "access"}`."""

    globalAccess = GlobalAccessRule(required=False)
    collectionAccess = CollectionAccessRule(required=False)

    def validate(self, attrs) -> dict:
        if ("globalAccess" in attrs) == ("collectionAccess" in attrs):
            raise serializers.ValidationError("Set exactly one of globalAccess and collectionAccess.")
        if "globalAccess" in attrs:
            return {"collection": None, "access": attrs["globalAccess"]["accessType"]}
        rule = attrs["collectionAccess"]
        return {"collection": rule["collectionName"], "access": rule["accessType"]}

    def to_representation(self, rule: dict) -> dict:
        if rule["collection"] is None:
            return {"globalAccess": {"accessType": GLOBAL_ACCESS_NAME[rule["access"]]}}
        access = COLLECTION_ACCESS_NAME[rule["access"]]
        return {"collectionAccess": {"collectionName": rule["collection"], "accessType": access}}


@extend_schema_serializer(component_name="v2DatabaseApiKey")
class DatabaseApiKeyOut(ProtoSerializer):
    id = serializers.UUIDField()
    accountId = serializers.UUIDField(source="cluster.account_id")
    createdAt = TimestampField(source="created_at")
    clusterId = serializers.UUIDField(source="cluster_id")
    name = serializers.CharField()
    expiresAt = TimestampField(source="expires_at", required=False)
    accessRules = AccessRule(source="rules", many=True)
    createdByEmail = serializers.CharField(source="created_by.email", required=False)
    postfix = serializers.CharField()
    key = serializers.CharField(
        required=False, help_text="The key itself: only in the response of CreateDatabaseApiKey, and only once."
    )


@extend_schema_serializer(component_name="DatabaseApiKeyServiceCreateDatabaseApiKeyBodyDatabaseApiKey")
class DatabaseApiKeyIn(ProtoSerializer):
    clusterId = StringField()
    name = StringField(required=False, allow_blank=True)
    expiresAt = TimestampField(required=False)
    accessRules = AccessRule(many=True, required=False)

    def validate_clusterId(self, value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            raise serializers.ValidationError("Must be an identifier in GUID format.") from None

    def validate_expiresAt(self, value):
        if value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


@extend_schema_serializer(component_name="DatabaseApiKeyServiceCreateDatabaseApiKeyBody")
class CreateDatabaseApiKeyBody(ProtoSerializer):
    databaseApiKey = DatabaseApiKeyIn()


@extend_schema_serializer(component_name="v2CreateDatabaseApiKeyResponse")
class CreateDatabaseApiKeyResponse(ProtoSerializer):
    databaseApiKey = DatabaseApiKeyOut()


@extend_schema_serializer(component_name="v2ListDatabaseApiKeysResponse")
class ListDatabaseApiKeysResponse(ProtoSerializer):
    items = DatabaseApiKeyOut(many=True)


CLUSTER_ID = OpenApiParameter(
    "clusterId",
    str,
    description="The identifier of the cluster (in GUID format). Optional: only that cluster's keys.",
)


def _cluster_of(account, cluster_id, field: str = "clusterId") -> Cluster:
    """A cluster of the account; NOT_FOUND for any other id, unknown or another account's."""
    cluster = Cluster.objects.filter(account=account, id=cluster_id).first()
    if cluster is None:
        raise NotFound(f"{field}: no cluster with this id in the account.")
    return cluster


class DatabaseApiKeyList(AccountView):
    permissions = {"GET": "read:api_keys", "POST": CREATE_PERMISSION[DATABASE]}

    @extend_schema(
        operation_id="DatabaseApiKeyService_ListDatabaseApiKeys",
        summary="Lists all database api keys in the account identified by the given ID.",
        description="Required permissions:\n- read:api_keys",
        tags=[TAG],
        parameters=[CLUSTER_ID],
        responses=ListDatabaseApiKeysResponse,
    )
    def get(self, request, account_id):
        keys = account_keys(self.account)
        cluster_id = query_param(request, "clusterId")
        if cluster_id is not None:
            keys = keys.filter(cluster=_cluster_of(self.account, parse_uuid(cluster_id, "clusterId")))
        return Response({"items": DatabaseApiKeyOut(keys, many=True).data})

    @extend_schema(
        operation_id="DatabaseApiKeyService_CreateDatabaseApiKey",
        summary="Creates a database api key in the account identified by the given ID.",
        description="Required permissions:\n- write:api_keys\n\nThe cluster must have JWT RBAC enabled. "
        "The response carries the key, once; it is never shown again.",
        tags=[TAG],
        request=CreateDatabaseApiKeyBody,
        responses=CreateDatabaseApiKeyResponse,
    )
    @method_decorator(sensitive_variables("token"))
    def post(self, request, account_id):
        body = CreateDatabaseApiKeyBody(data=request.data)
        if not body.is_valid():
            raise InvalidArgument(validation_message(body.errors))
        data = body.validated_data["databaseApiKey"]
        cluster = _cluster_of(self.account, data["clusterId"], "databaseApiKey.clusterId")
        if create_refusal(DATABASE, cluster):
            raise FailedPrecondition(
                "databaseApiKey.clusterId: the cluster does not have JWT RBAC enabled, so it accepts no database "
                "API keys; enable it first (ClusterService EnableClusterJwtRbac)."
            )
        try:
            with propagation() as reached:
                key, token = database_key_create(
                    cluster=cluster,
                    name=data.get("name", ""),
                    rules=data.get("accessRules") or DEFAULT_RULES,
                    expires_at=data.get("expiresAt"),
                    by=request.user,
                    client_ip=client_ip(request),
                )
        except ValidationError as error:
            raise InvalidArgument(_model_error_message(error)) from None
        response = Response({"databaseApiKey": DatabaseApiKeyOut(key).data | {"key": token}})
        add_never_cache_headers(response)  # the key stays in no cache
        return _with_warning(response, reached)


def _with_warning(response: Response, reached: Propagation) -> Response:
    """A data plane process did not confirm the change: say so in a header, the body keeps the spec's shape."""
    if reached.warning_header:
        response["Warning"] = reached.warning_header
    return response


def _model_error_message(error: ValidationError) -> str:
    if not hasattr(error, "error_dict"):
        return validation_message(error.messages, "databaseApiKey")
    return validation_message(
        {API_FIELD.get(field, field): messages for field, messages in error.message_dict.items()}, "databaseApiKey"
    )


class DatabaseApiKeyDetail(AccountView):
    permissions = {"DELETE": "delete:api_keys"}

    @extend_schema(
        operation_id="DatabaseApiKeyService_DeleteDatabaseApiKey",
        summary="Deletes a database api key in the account identified by the given ID.",
        description="Required permissions:\n- delete:api_keys",
        tags=[TAG],
        parameters=[CLUSTER_ID],
        responses={200: EMPTY},
    )
    def delete(self, request, account_id, database_api_key_id):
        keys = account_keys(self.account)
        key_id = parse_uuid(database_api_key_id, "databaseApiKeyId")
        cluster_id = query_param(request, "clusterId")
        if cluster_id is not None:
            keys = keys.filter(cluster_id=parse_uuid(cluster_id, "clusterId"))
        key = keys.filter(id=key_id).first()
        if key is None:
            raise NotFound("databaseApiKeyId: no database api key with this id in the account.")
        with propagation() as reached:
            database_key_delete(key=key, by=request.user, client_ip=client_ip(request))
        return _with_warning(Response({}), reached)
