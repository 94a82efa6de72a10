"""DatabaseApiKeyService v2 (database_api_key.v2.swagger.json): list, create, delete.

And this console's extensions, which Qdrant Cloud's API lacks, marked
`x-console-extension` in the schema (api/schema.py): roll, disable and enable
as grpc-gateway custom methods on a key (`…/database-api-keys/{id}:roll`),
the list's filters and order, and the key's lifecycle fields (help_text starting with EXTENSION).
A Cloud client sends and reads exactly what it did before.

The API reads Qdrant Cloud's shape (`accessRules` of `globalAccess` /
`collectionAccess`) into the rules apikeys stores, and leaves every rule about
them (name, number and mix of rules, collection names) to the model's
validators, which `database_key_create` runs with full_clean(): the console's
form and the API answer to the same rules.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from api.base import AccountView, parse_uuid, query_param
from api.errors import FailedPrecondition, InvalidArgument, NotFound, validation_message
from api.fields import EnumField, ProtoSerializer, StringField, TimestampField, future_expiry
from api.schema import EMPTY, EXTENSION
from apikeys.models import ClusterAccess, CollectionAccess, Protocol, parse_networks
from apikeys.states import LISTED_STATES, KeyState
from apikeys.policy import CREATE_PERMISSION, DATABASE, create_refusal, roll_permission
from apikeys.selectors import account_keys
from apikeys.services import (
    ROLL_GRACE,
    database_key_create,
    database_key_delete,
    key_disable,
    key_enable,
    key_roll,
)
from audit.services import client_ip
from clusters.models import Cluster
from fronts.changelog import Propagation, propagation

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
API_FIELD = {"name": "name", "rules": "accessRules", "expires_at": "expiresAt", "cluster": "clusterId",
             "allowed_networks": "allowedNetworks", "tenant_field": "tenant.field", "tenant_value": "tenant.value",
             "tenant_type": "tenant.valueType", "tenant_access": "tenant.readWrite",
             "tenant_collections": "tenant.collections"}

STATE_NAMES = ["KEY_STATE_UNSPECIFIED", *(f"KEY_STATE_{state.name}" for state in KeyState)]
STATES = {f"KEY_STATE_{state.name}": state.value for state in KeyState}
# What the list filters by: lists leave out deleted keys and retired old secrets.
LISTED = {f"KEY_STATE_{state.name}": state.value for state in LISTED_STATES}
PROTOCOL_NAMES = ["PROTOCOL_UNSPECIFIED", *(f"PROTOCOL_{protocol.name}" for protocol in Protocol)]
PROTOCOLS = {f"PROTOCOL_{protocol.name}": protocol.value for protocol in Protocol}
GRACE_NAMES = ["ROLL_GRACE_UNSPECIFIED", "ROLL_GRACE_NOW", "ROLL_GRACE_1_HOUR", "ROLL_GRACE_24_HOURS",
               "ROLL_GRACE_7_DAYS"]
GRACES = dict(zip(GRACE_NAMES[1:], ROLL_GRACE, strict=True))
# The list's `orderBy` (AIP-132 style) -> apikeys.selectors.KEY_ORDERS.
ORDER_BY = {"createdAt desc": "", "createdAt": "created", "lastUsedAt desc": "last_used",
            "lastUsedAt": "-last_used", "name": "name"}

# Fields this console adds to Qdrant Cloud's messages: the schema marks each
# `x-console-extension` (api/schema.py), by component.
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


@extend_schema_serializer(component_name="v2TenantBinding")
class TenantBinding(ProtoSerializer):
    """A key's tenant binding (keyset/tenant.py), as the model stores it."""

    field = StringField(help_text="A top-level payload field, e.g. group_id.")
    value = StringField(help_text="The tenant's value, as text (an integer or a UUID too).")
    valueType = serializers.ChoiceField(choices=["keyword", "integer", "uuid"], required=False, default="keyword")
    readWrite = serializers.BooleanField(required=False, default=False,
                                         help_text="Whether the key writes the tenant's points; else read-only.")
    collections = serializers.ListField(child=StringField(), required=False, default=list,
                                        help_text="The bound collections; empty: every collection of the key.")

    def to_internal_value(self, data):
        attrs = super().to_internal_value(data)
        return {"field": attrs["field"], "value": attrs["value"], "type": attrs["valueType"],
                "access": "rw" if attrs["readWrite"] else "r", "collections": attrs["collections"]}

    def to_representation(self, key):
        return {"field": key.tenant_field, "value": key.tenant_value, "valueType": key.tenant_type,
                "readWrite": key.tenant_access == "rw", "collections": list(key.tenant_collections)}


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
    # Extensions: help_text starting with EXTENSION marks them in the schema (api/schema.py).
    state = EnumField(STATE_NAMES, STATES, help_text=f"{EXTENSION} Active, disabled, rolled (the old secret of a "
                      "roll, working until retiresAt), expired, retired (a rolled secret past retiresAt) or deleted; "
                      "the first that holds of deleted, retired, expired, disabled, rolled (apikeys/states.py).")
    allowedNetworks = serializers.ListField(
        source="allowed_networks", child=serializers.CharField(),
        help_text=f"{EXTENSION} The CIDRs the key may be used from; empty: anywhere.")
    disabledAt = TimestampField(source="disabled_at", required=False,
                                help_text=f"{EXTENSION} Set while the key is disabled: refused at the endpoint.")
    retiresAt = TimestampField(source="retires_at", required=False,
                               help_text=f"{EXTENSION} The old secret of a rolled key stops working at this time.")
    rolledIntoId = serializers.UUIDField(source="rolled_into_id", required=False,
                                         help_text=f"{EXTENSION} The key that replaced this one when it was rolled.")
    lastUsedAt = TimestampField(source="last_used_at", required=False, help_text=f"{EXTENSION} Last use at the "
                                "endpoint, refused or not (recorded at most once a minute per address and protocol).")
    lastUsedIp = serializers.CharField(source="last_used_ip", required=False,
                                       help_text=f"{EXTENSION} The client address of the last use.")
    lastUsedProtocol = EnumField(PROTOCOL_NAMES, PROTOCOLS, source="last_used_protocol", required=False,
                                 help_text=f"{EXTENSION} REST or gRPC.")
    description = serializers.CharField(required=False, help_text=f"{EXTENSION} What the key is for, as set "
                                        "in the console or by UpdateDatabaseApiKey; absent when empty.")
    tenant = TenantBinding(source="*", required=False, help_text=f"{EXTENSION} The tenant the key is bound to: "
                           "it sees and changes only points whose payload field has this value, enforced at the "
                           "endpoint on REST and gRPC; absent for a key that is not bound.")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not instance.tenant_field:
            data.pop("tenant", None)
        # Empty strings are left out, as grpc-gateway leaves out a proto3 field at its default.
        for name, empty in (("lastUsedProtocol", not instance.last_used_protocol), ("description", not instance.description)):
            if empty:
                data.pop(name, None)
        return data


@extend_schema_serializer(component_name="DatabaseApiKeyServiceCreateDatabaseApiKeyBodyDatabaseApiKey")
class DatabaseApiKeyIn(ProtoSerializer):
    clusterId = StringField()
    name = StringField(required=False, allow_blank=True)
    expiresAt = TimestampField(required=False)
    accessRules = AccessRule(many=True, required=False)
    allowedNetworks = serializers.ListField(
        child=StringField(), required=False,
        help_text=f"{EXTENSION} CIDRs (IPv4 or IPv6) or addresses the key may be used from; none: anywhere. "
        "Fixed for the life of the key, like its access rules.",
    )

    tenant = TenantBinding(required=False, help_text=f"{EXTENSION} Binds the key to one tenant: a payload "
                           "field and its value; the key then sees and changes only that tenant's points. Refused "
                           "on a connected cluster clients reach directly. Fixed for the life of the key.")

    def validate_allowedNetworks(self, value: list[str]) -> list[str]:
        from django.core.exceptions import ValidationError as ModelError

        try:
            return parse_networks(",".join(value))
        except ModelError as error:
            raise serializers.ValidationError(error.messages) from None

    def validate_clusterId(self, value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            raise serializers.ValidationError("Must be an identifier in GUID format.") from None

    def validate_expiresAt(self, value):
        return future_expiry(value)


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
_MARK = {"x-console-extension": True}
LIST_FILTERS = [
    OpenApiParameter("state", str, enum=list(LISTED), extensions=_MARK,
                     description=f"{EXTENSION} Only keys in this state."),
    OpenApiParameter("neverUsed", bool, extensions=_MARK,
                     description=f"{EXTENSION} true: only keys never used; false: only keys used."),
    OpenApiParameter("unused", bool, extensions=_MARK,
                     description=f"{EXTENSION} true: only keys not used for {settings.KEY_UNUSED_DAYS} days "
                     "(KEY_UNUSED_DAYS; never used and made that long ago, or last used before then), as the "
                     "console's lists mark and filter them; false: only the others. Not with neverUsed."),
    OpenApiParameter("lastUsedAfter", OpenApiTypes.DATE, extensions=_MARK,
                     description=f"{EXTENSION} Only keys last used on or after this day (UTC), e.g. 2026-01-31."),
    OpenApiParameter("lastUsedBefore", OpenApiTypes.DATE, extensions=_MARK,
                     description=f"{EXTENSION} Only keys last used before this day (UTC)."),
    OpenApiParameter("orderBy", str, enum=list(ORDER_BY), extensions=_MARK,
                     description=f"{EXTENSION} The order of the list; by default the newest key first."),
]


def _list_filters(request) -> dict:
    """The list's extension filters, as apikeys.selectors.filtered_keys takes them."""
    from datetime import date

    filters = {}
    state = query_param(request, "state")
    if state is not None:
        if state not in LISTED:
            raise InvalidArgument(f"state: use one of {', '.join(LISTED)}.")
        filters["state"] = LISTED[state]
    never = query_param(request, "neverUsed")
    if never is not None:
        if never not in ("true", "false"):
            raise InvalidArgument("neverUsed: use true or false.")
        filters["last_used"] = "never" if never == "true" else "ever"
    unused = query_param(request, "unused")
    if unused is not None:
        if unused not in ("true", "false"):
            raise InvalidArgument("unused: use true or false.")
        if never is not None:
            raise InvalidArgument("unused: use it or neverUsed, not both.")
        filters["last_used"] = "unused" if unused == "true" else "recent"
    for param, name in (("lastUsedAfter", "last_used_after"), ("lastUsedBefore", "last_used_before")):
        value = query_param(request, param)
        if value is not None:
            try:
                filters[name] = date.fromisoformat(value)
            except ValueError:
                raise InvalidArgument(f"{param}: use a date as YYYY-MM-DD, e.g. 2026-01-31.") from None
    order = query_param(request, "orderBy")
    if order is not None:
        if order not in ORDER_BY:
            raise InvalidArgument(f"orderBy: use one of {', '.join(ORDER_BY)}.")
        filters["order"] = ORDER_BY[order]
    return filters


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
        parameters=[CLUSTER_ID, *LIST_FILTERS],
        responses=ListDatabaseApiKeysResponse,
    )
    def get(self, request, account_id):
        keys = account_keys(self.account, **_list_filters(request))
        keys = keys.filter(**{f"cluster__{lookup}": value for lookup, value in self.cluster_scope().items()})
        cluster_id = query_param(request, "clusterId")
        if cluster_id is not None:
            cluster = _cluster_of(self.account, parse_uuid(cluster_id, "clusterId"))
            self.check_cluster(cluster.id)
            keys = keys.filter(cluster=cluster)
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
        self.check_cluster(cluster.id)
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
                    allowed_networks=data.get("allowedNetworks"),
                    tenant=data.get("tenant"),
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
        self.check_cluster(key.cluster_id)
        try:
            with propagation() as reached:
                database_key_delete(key=key, by=request.user, client_ip=client_ip(request))
        except ValidationError as error:  # a cluster reached directly did not take it: nothing changed
            raise FailedPrecondition(f"databaseApiKeyId: {' '.join(error.messages)}") from None
        return _with_warning(Response({}), reached)


# Extensions: custom methods on one key (grpc-gateway's `{name}:verb` style).


def _account_key(view: AccountView, request, database_api_key_id):
    key_id = parse_uuid(database_api_key_id, "databaseApiKeyId")
    key = account_keys(view.account).filter(id=key_id).first()
    if key is None:
        raise NotFound("databaseApiKeyId: no database api key with this id in the account.")
    view.check_cluster(key.cluster_id)
    return key


@extend_schema_serializer(component_name="DatabaseApiKeyServiceRollDatabaseApiKeyBody")
class RollDatabaseApiKeyBody(ProtoSerializer):
    oldKeyStopsIn = EnumField(
        GRACE_NAMES, GRACES,
        help_text="When the old secret stops working: now, or in 1 hour, 24 hours or 7 days. Until then both work.",
    )


@extend_schema_serializer(component_name="v2RollDatabaseApiKeyResponse")
class RollDatabaseApiKeyResponse(ProtoSerializer):
    databaseApiKey = DatabaseApiKeyOut(help_text="The new key, with its secret (`key`): shown once.")
    rolledDatabaseApiKey = DatabaseApiKeyOut(help_text="The old key: its secret works until its retiresAt.")


@extend_schema_serializer(component_name="v2DatabaseApiKeyResponse")
class DatabaseApiKeyResponse(ProtoSerializer):
    databaseApiKey = DatabaseApiKeyOut()


class DatabaseApiKeyRoll(AccountView):
    permissions = {"POST": "write:api_keys"}

    @extend_schema(
        operation_id="DatabaseApiKeyService_RollDatabaseApiKey",
        summary="Rolls a database api key: a new secret, the old one working until a chosen time.",
        description=f"{EXTENSION}\n\nRequired permissions:\n- write:api_keys\n- delete:api_keys too with "
        "ROLL_GRACE_NOW, which deletes the old secret at once, as DeleteDatabaseApiKey does\n\nThe new key has the old one's "
        "name, access rules, expiry and allowed networks; the response carries its secret, once. The old secret keeps "
        "working until `oldKeyStopsIn` from now (ROLL_GRACE_NOW: deleted at once); both are listed until then. "
        "A disabled, expired or already rolled key cannot be rolled (FAILED_PRECONDITION).",
        tags=[TAG],
        request=RollDatabaseApiKeyBody,
        responses=RollDatabaseApiKeyResponse,
        extensions=_MARK,
    )
    @method_decorator(sensitive_variables("token"))
    def post(self, request, account_id, database_api_key_id):
        key = _account_key(self, request, database_api_key_id)
        body = RollDatabaseApiKeyBody(data=request.data)
        if not body.is_valid():
            raise InvalidArgument(validation_message(body.errors))
        grace = ROLL_GRACE[body.validated_data["oldKeyStopsIn"]]
        needed = roll_permission(grace)
        if needed not in self.membership.permissions:
            raise exceptions.PermissionDenied(
                f"Permission denied: ROLL_GRACE_NOW deletes the old secret at once, which needs {needed}, and the "
                f"{self.membership.get_role_display()} role lacks it. A later oldKeyStopsIn needs write:api_keys only."
            )
        try:
            with propagation() as reached:
                new_key, token = key_roll(key=key, grace=grace, by=request.user, client_ip=client_ip(request))
        except ValidationError as error:
            raise FailedPrecondition(f"databaseApiKeyId: {' '.join(error.messages)}") from None
        key.refresh_from_db()
        response = Response({"databaseApiKey": DatabaseApiKeyOut(new_key).data | {"key": token},
                             "rolledDatabaseApiKey": DatabaseApiKeyOut(key).data})
        add_never_cache_headers(response)
        return _with_warning(response, reached)


def _set_disabled_view(verb: str, service, summary: str, detail: str):
    class View(AccountView):
        permissions = {"POST": "write:api_keys"}

        @extend_schema(
            operation_id=f"DatabaseApiKeyService_{verb}DatabaseApiKey",
            summary=summary,
            description=f"{EXTENSION}\n\nRequired permissions:\n- write:api_keys\n\n{detail}",
            tags=[TAG],
            request=None,
            responses=DatabaseApiKeyResponse,
            extensions=_MARK,
        )
        def post(self, request, account_id, database_api_key_id):
            key = _account_key(self, request, database_api_key_id)
            try:
                with propagation() as reached:
                    service(key=key, by=request.user, client_ip=client_ip(request))
            except ValidationError as error:  # a cluster reached directly did not take it: nothing changed
                raise FailedPrecondition(f"databaseApiKeyId: {' '.join(error.messages)}") from None
            return _with_warning(Response({"databaseApiKey": DatabaseApiKeyOut(key).data}), reached)

    View.__name__ = View.__qualname__ = f"DatabaseApiKey{verb}"
    return View


DatabaseApiKeyDisable = _set_disabled_view(
    "Disable", key_disable, "Disables a database api key: refused at the endpoint until enabled.",
    "From the response on, the key is refused (401, `Invalid API key or JWT`). Disabling a disabled key changes "
    "nothing.",
)
DatabaseApiKeyEnable = _set_disabled_view(
    "Enable", key_enable, "Enables a disabled database api key again.",
    "From the response on, the key opens its cluster again. Enabling an enabled key changes nothing.",
)
