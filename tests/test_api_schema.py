"""The API's own OpenAPI 3 schema (/api/schema), its docs (/api/docs), and a
schemathesis run against that schema through the Django WSGI app: generated
requests, valid and not, must get no 5xx and only responses the schema
describes."""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_api_support import SPEC_DIR, mint

SPEC_FILES = [
    "database_api_key.v2.swagger.json",
    "cluster.v1.swagger.json",
    "management_key.v1.swagger.json",
    "iam.v1.swagger.json",
]
# The subset of Qdrant Cloud's API this console serves, by operationId.
SERVED = {
    "DatabaseApiKeyService_ListDatabaseApiKeys",
    "DatabaseApiKeyService_CreateDatabaseApiKey",
    "DatabaseApiKeyService_DeleteDatabaseApiKey",
    "ClusterService_ListClusters",
    "ClusterService_GetCluster",
    "ClusterService_CreateCluster",
    "ClusterService_DeleteCluster",
    "ClusterService_EnableClusterJwtRbac",
    "ClusterService_RestartCluster",
    "AuthService_ListManagementKeys",
    "AuthService_CreateManagementKey",
    "AuthService_DeleteManagementKey",
    "IAMService_ListPermissions",
    "IAMService_ListRoles",
    "IAMService_ListEffectivePermissions",
    "IAMService_GetRole",
    "IAMService_CreateRole",
    "IAMService_UpdateRole",
    "IAMService_DeleteRole",
    "IAMService_ListRoleUsers",
    "IAMService_ListUsers",
    "IAMService_ListUserRoles",
    "IAMService_AssignUserRoles",
}


# What Qdrant Cloud's API lacks, served as documented extensions on paths of
# their own (grpc-gateway custom methods), never on a Cloud path.
EXTENSIONS = {
    "DatabaseApiKeyService_UpdateDatabaseApiKey": (
        "post", "/api/cluster/auth/v2/accounts/{}/database-api-keys/{}:update"
    ),
    "AuthService_UpdateManagementKey": ("post", "/api/auth/v1/accounts/{}/management-keys/{}:update"),
    "DatabaseApiKeyService_GetDatabaseApiKeyUsage": ("get", "/api/cluster/auth/v2/accounts/{}/database-api-keys/{}:usage"),
    "ClusterService_GetClusterUsage": ("get", "/api/cluster/v1/accounts/{}/clusters/{}:usage"),
}


def _spec_operations() -> dict[str, tuple[str, str]]:
    """operationId -> (method, path with its placeholders as `{}`), from the swagger files."""
    found = {}
    for name in SPEC_FILES:
        for path, methods in json.loads((SPEC_DIR / name).read_text())["paths"].items():
            for method, operation in methods.items():
                found[operation["operationId"]] = (method, _shape(path))
    return found


def _shape(path: str) -> str:
    import re

    return re.sub(r"{[^}]+}", "{}", path)


@pytest.fixture
def openapi(client):
    response = client.get("/api/schema")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/")
    return response.json()


# This console's extensions: grpc-gateway custom methods on a database API key.
EXTENSION_METHODS = {
    f"DatabaseApiKeyService_{verb}DatabaseApiKey": (
        "post", f"/api/cluster/auth/v2/accounts/{{}}/database-api-keys/{{}}:{verb.lower()}")
    for verb in ("Roll", "Disable", "Enable")
} | EXTENSIONS | {"ClusterService_ConnectCluster": ("post", "/api/cluster/v1/accounts/{}/clusters:connect")}


def test_the_schema_serves_the_spec_paths_and_operation_ids_exactly(openapi):
    assert openapi["openapi"].startswith("3.")
    served = {
        operation["operationId"]: (method, _shape(path))
        for path, methods in openapi["paths"].items()
        for method, operation in methods.items()
        if not operation.get("x-console-extension")
    }
    spec = _spec_operations()
    assert set(served) == SERVED
    for operation_id, where in served.items():
        assert where == spec[operation_id], operation_id
    cloud_paths = {where for where in spec.values()}
    assert not cloud_paths & set(EXTENSION_METHODS.values())


def test_every_extension_is_marked_and_says_so(openapi):
    extensions = {
        operation["operationId"]: (method, _shape(path))
        for path, methods in openapi["paths"].items()
        for method, operation in methods.items()
        if operation.get("x-console-extension")
    }
    assert extensions == EXTENSION_METHODS
    for methods in openapi["paths"].values():
        for operation in methods.values():
            if operation.get("x-console-extension"):
                assert operation["description"].startswith("Extension (not in Qdrant Cloud's API)."), operation
            for parameter in operation.get("parameters", []):
                if parameter.get("x-console-extension"):
                    assert parameter["description"].startswith("Extension (not in Qdrant Cloud's API).")
    # A field of Cloud's message that Cloud's swagger lacks is marked an extension, and only those are.
    spec = json.loads((SPEC_DIR / "database_api_key.v2.swagger.json").read_text())["definitions"]
    create_body = spec["DatabaseApiKeyServiceCreateDatabaseApiKeyBody"]["properties"]["databaseApiKey"]
    for component, cloud in (("v2DatabaseApiKey", spec["v2DatabaseApiKey"]),
                             ("DatabaseApiKeyServiceCreateDatabaseApiKeyBodyDatabaseApiKey", create_body)):
        properties = openapi["components"]["schemas"][component]["properties"]
        for name, field in properties.items():
            assert bool(field.get("x-console-extension")) == (name not in cloud["properties"]), (component, name)
    cloud = json.loads((SPEC_DIR / "management_key.v1.swagger.json").read_text())["definitions"]["v1ManagementKey"]
    for component in ("v1ManagementKey", "AuthServiceCreateManagementKeyBodyManagementKey"):
        for name, field in openapi["components"]["schemas"][component]["properties"].items():
            assert bool(field.get("x-console-extension")) == (name not in cloud["properties"]), (component, name)


def test_the_schema_documents_the_required_permission_and_errors(openapi):
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            assert "Required permissions:" in operation["description"], (method, path)
            assert operation["responses"]["default"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/rpcStatus"
            }
            assert {"managementKey": []} in operation["security"]
            assert all("_" not in parameter["name"] for parameter in operation.get("parameters", []))


def test_the_docs_load_nothing_from_a_cdn(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    # The init script (a URL of its own, for the CSP) points Swagger UI at the schema.
    assert "/api/schema" in client.get("/api/docs?script=").content.decode()
    assert "https://" not in page and "http://" not in page and "//cdn" not in page


# -- schemathesis ------------------------------------------------------------

# Bounded so the whole run stays well under a minute on a small machine.
MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(db, owner, account, cluster):
    """The project's own schema, fetched through the WSGI app, with a management
    key minted for this run and the account's real ids as path parameters, so
    generated requests get past 401 and 404 and reach the methods themselves."""
    plaintext = mint(account, owner)
    # As Django's test client does: the WSGI handler would close the test's
    # database connection (inside its transaction) at the end of each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"apikey {plaintext}"},
            "parameters": {"accountId": str(account.id), "clusterId": str(cluster.id)},
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
            "seed": 20251126,
        }
    )
    yield schemathesis.openapi.from_wsgi("/api/schema", get_wsgi_application(), config=config)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_schemathesis_finds_no_server_error_and_no_schema_violation(case, cluster):
    # A generated clusterId is never a cluster of the account; put the real one
    # in most create bodies so generated names and rules reach the service.
    key = case.body.get("databaseApiKey") if isinstance(case.body, dict) else None
    if isinstance(key, dict) and "clusterId" in key and len(str(key.get("name"))) % 4:
        key["clusterId"] = str(cluster.id)
    case.call_and_validate(checks=CHECKS)
