"""Helpers for the management API tests (no tests here): management keys minted
at run time, an API client per caller, and validators built from Qdrant Cloud's
swagger files (spec/cloud-api/), which are the spec the responses must match."""

import json
import re
from functools import cache
from pathlib import Path

from django.test import Client
from django.urls import reverse
from jsonschema import Draft4Validator

from managementkeys.services import management_key_create

SPEC_DIR = Path(__file__).resolve().parents[1] / "spec" / "cloud-api"
RFC3339_UTC = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z\Z")
TIMESTAMP_FIELDS = {"createdAt", "expiresAt", "restartedAt", "startedAt", "lastModifiedAt", "disabledAt", "retiresAt",
                    "lastUsedAt"}


def _strict(schema):
    """The swagger schema with additionalProperties: false on every object that
    lists its properties, so a misspelt or snake_case field fails validation."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


# This console's documented extensions to Cloud's messages
# (docs/management-api.md): allowed on top of the spec, and only these.
_TIMESTAMP = {"type": "string", "format": "date-time"}
EXTENSIONS = {
    "database_api_key.v2.swagger.json": {
        "v2DatabaseApiKey": {
            "state": {"type": "string", "enum": ["KEY_STATE_ACTIVE", "KEY_STATE_DISABLED", "KEY_STATE_ROLLED",
                                                 "KEY_STATE_EXPIRED"]},
            "allowedNetworks": {"type": "array", "items": {"type": "string"}},
            "disabledAt": _TIMESTAMP,
            "retiresAt": _TIMESTAMP,
            "rolledIntoId": {"type": "string"},
            "lastUsedAt": _TIMESTAMP,
            "lastUsedIp": {"type": "string"},
            "lastUsedProtocol": {"type": "string", "enum": ["PROTOCOL_REST", "PROTOCOL_GRPC"]},
        },
    },
    "management_key.v1.swagger.json": {
        "v1ManagementKey": {
            "name": {"type": "string"},
            "expiresAt": _TIMESTAMP,
            "permissions": {"type": "array", "items": {"type": "string"}},
            "clusterIds": {"type": "array", "items": {"type": "string"}},
            "allowedNetworks": {"type": "array", "items": {"type": "string"}},
        },
    },
    "cluster.v1.swagger.json": {
        "v1ClusterConfiguration": {"runtime": {"type": "string", "enum": ["embedded", "qdrant"]}},
    },
}


@cache
def _definitions(spec_file: str) -> dict:
    definitions = json.loads((SPEC_DIR / spec_file).read_text())["definitions"]
    for name, properties in EXTENSIONS.get(spec_file, {}).items():
        definitions[name]["properties"] |= properties
    return _strict(definitions)


def assert_matches_spec(body, spec_file: str, definition: str) -> None:
    """`body` validates against `#/definitions/<definition>` of the swagger file,
    refs resolved in that file, and every timestamp is RFC 3339 in UTC."""
    schema = {"definitions": _definitions(spec_file), "$ref": f"#/definitions/{definition}"}
    errors = sorted(Draft4Validator(schema).iter_errors(body), key=str)
    assert not errors, "\n".join(f"{list(error.absolute_path)}: {error.message}" for error in errors)
    for path, value in _timestamps(body):
        assert isinstance(value, str) and RFC3339_UTC.match(value), f"{path} = {value!r} is not RFC 3339 UTC"


def _timestamps(value, path="$"):
    if isinstance(value, dict):
        for key, item in value.items():
            if key in TIMESTAMP_FIELDS:
                yield f"{path}.{key}", item
            yield from _timestamps(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _timestamps(item, f"{path}[{index}]")


def assert_error(response, status: int, code: int, *fragments: str) -> dict:
    """An error in grpc-gateway's shape, with the status and gRPC code, whose message says each fragment."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert_matches_spec(body, "database_api_key.v2.swagger.json", "rpcStatus")
    assert set(body) == {"code", "message", "details"} and body["details"] == []
    assert body["code"] == code, body
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


class ApiClient(Client):
    """A POST without data sends no body, as `curl -X POST` does (Django's
    client would send an empty multipart form, which is not JSON)."""

    def post(self, path, data=None, *args, **kwargs):
        if data is None and not args and "content_type" not in kwargs:
            data, kwargs["content_type"] = "", "application/json"
        return super().post(path, data, *args, **kwargs)


def api_client(plaintext: str | None = None, **kwargs) -> Client:
    headers = {"Authorization": f"apikey {plaintext}"} if plaintext else {}
    return ApiClient(headers=headers, **kwargs)


def mint(account, user) -> str:
    return management_key_create(name="test key", account=account, by=user)[1]


def api_as(user, account) -> Client:
    """A client authenticated with a fresh management key of `user` in `account`."""
    return api_client(mint(account, user))


def url(name: str, account, **kwargs) -> str:
    return reverse(f"api:{name}", kwargs={"account_id": account.id, **kwargs})


def post_json(client: Client, path: str, body) -> object:
    return client.post(path, json.dumps(body), content_type="application/json")


def put_json(client: Client, path: str, body) -> object:
    return client.put(path, json.dumps(body), content_type="application/json")


def key_body(cluster, **fields) -> dict:
    """A valid CreateDatabaseApiKey request body, with fields replaced or added."""
    return {"databaseApiKey": {"clusterId": str(cluster.id), "name": "ci deploy key"} | fields}
