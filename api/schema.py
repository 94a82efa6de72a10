"""drf-spectacular post-processing: the schema in the spec's own terms.

- Path parameters are named as in the swagger files (`{accountId}`), though
  Django's URL kwargs are snake_case like the rest of the console.
- Every operation documents its errors as grpc-gateway does, a `default`
  response of `rpcStatus`.
"""

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse

# How the schema names what Qdrant Cloud's API lacks: in the description of
# each extension field, parameter and method, which also carry `x-console-extension`.
EXTENSION = "Extension (not in Qdrant Cloud's API)."

# The empty message of a method that returns nothing (e.g. v2DeleteDatabaseApiKeyResponse): `{}`.
EMPTY = OpenApiResponse(OpenApiTypes.OBJECT, description="Empty: the method succeeded.")

RPC_STATUS = {
    "type": "object",
    "properties": {
        "code": {"type": "integer", "format": "int32"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"$ref": "#/components/schemas/protobufAny"}},
    },
    "required": ["code", "message", "details"],
}
PROTOBUF_ANY = {"type": "object", "properties": {"@type": {"type": "string"}}, "additionalProperties": {}}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _ecma(pattern: str) -> str:
    """A Python pattern anchored with \\A and \\Z as JSON Schema (ECMA 262) writes it."""
    return "^" + pattern.removeprefix("\\A").removesuffix("\\Z") + "$"


def _document_key_rules(schemas: dict) -> None:
    """The rules the model's validators apply to a new database API key, stated
    in the request schema (derived from apikeys.models, not restated)."""
    from apikeys.models import COLLECTION_NAME_PATTERN, KEY_NAME_PATTERN, MAX_RULES

    key = schemas.get("DatabaseApiKeyServiceCreateDatabaseApiKeyBodyDatabaseApiKey", {}).get("properties", {})
    if "name" in key:
        key["name"].update({"minLength": 4, "maxLength": 128, "pattern": _ecma(KEY_NAME_PATTERN)})
        key["name"]["description"] = "4–128 letters, digits, spaces, underscores and dashes."
    if "accessRules" in key:
        key["accessRules"]["maxItems"] = MAX_RULES
        key["accessRules"]["description"] = (
            f"At most {MAX_RULES} rules: one globalAccess rule, or collectionAccess rules for distinct "
            "collections, never both. None: global manage access."
        )
    rule = schemas.get("v2CollectionAccessRule", {}).get("properties", {})
    if "collectionName" in rule:
        rule["collectionName"]["pattern"] = _ecma(COLLECTION_NAME_PATTERN.pattern)


def _mark_extension_fields(schemas: dict) -> None:
    """A field the serializers describe as an extension (help_text starting
    with EXTENSION) is marked one: its description is the one list of them."""
    for component in schemas.values():
        for field in component.get("properties", {}).values():
            if field.get("description", "").startswith(EXTENSION):
                field["x-console-extension"] = True


def grpc_gateway_conventions(result, generator, request, public):
    paths = {}
    for route, operations in result.get("paths", {}).items():
        paths[re.sub(r"{(\w+)}", lambda m: "{" + _camel(m.group(1)) + "}", route)] = operations
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    parameter["name"] = _camel(parameter["name"])
            # The parser reads any Content-Type as JSON; clients should send JSON.
            body = operation.get("requestBody", {}).get("content", {})
            if "*/*" in body:
                body["application/json"] = body.pop("*/*")
            operation.setdefault("responses", {})["default"] = {
                "description": "An error: the gRPC status code, a message naming the field at fault, no details.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/rpcStatus"}}},
            }
    result["paths"] = paths
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    _document_key_rules(schemas)
    _mark_extension_fields(schemas)
    # The docs' Authorize dialog lists schemes in this order: the management
    # key, what scripts use, first; the console's session cookie after it.
    schemes = result["components"].get("securitySchemes", {})
    if "managementKey" in schemes:
        result["components"]["securitySchemes"] = {"managementKey": schemes.pop("managementKey"), **schemes}
    schemas["rpcStatus"] = RPC_STATUS
    schemas["protobufAny"] = PROTOBUF_ANY
    return result
