"""Validation as the spec states it: each failure is INVALID_ARGUMENT (3, HTTP
400) with a message naming the field, and no client input gets a 5xx."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import DatabaseApiKey
from tests.test_api_support import api_as, assert_error, key_body, post_json, url

G_READ = {"globalAccess": {"accessType": "GLOBAL_ACCESS_RULE_ACCESS_TYPE_READ_ONLY"}}


def collection(name, access="COLLECTION_ACCESS_RULE_ACCESS_TYPE_READ_ONLY"):
    return {"collectionAccess": {"collectionName": name, "accessType": access}}


def past() -> str:
    return (timezone.now() - timedelta(minutes=1)).isoformat()


# (what is wrong, the databaseApiKey fields, a fragment the message must contain)
INVALID_KEYS = [
    ("name too short", {"name": "abc"}, "databaseApiKey.name"),
    ("name too long", {"name": "k" * 129}, "databaseApiKey.name"),
    ("name with other characters", {"name": "deploy/key!"}, "databaseApiKey.name"),
    ("name missing", {"name": None}, "databaseApiKey.name"),
    ("name not a string", {"name": 12345}, "databaseApiKey.name"),
    ("more than 20 rules", {"accessRules": [collection(f"c{i}") for i in range(21)]}, "databaseApiKey.accessRules"),
    ("two global rules", {"accessRules": [G_READ, G_READ]}, "databaseApiKey.accessRules"),
    ("global and collection rules", {"accessRules": [G_READ, collection("books")]}, "databaseApiKey.accessRules"),
    ("collection name pattern", {"accessRules": [collection("books/2024")]}, "databaseApiKey.accessRules"),
    ("empty collection name", {"accessRules": [collection("")]}, "databaseApiKey.accessRules"),
    ("a collection twice", {"accessRules": [collection("books"), collection("books")]}, "databaseApiKey.accessRules"),
    (
        "unknown enum string",
        {"accessRules": [{"globalAccess": {"accessType": "ADMIN"}}]},
        "databaseApiKey.accessRules[0].globalAccess.accessType",
    ),
    (
        "unspecified access type",
        {"accessRules": [{"globalAccess": {"accessType": "GLOBAL_ACCESS_RULE_ACCESS_TYPE_UNSPECIFIED"}}]},
        "databaseApiKey.accessRules[0].globalAccess.accessType",
    ),
    (
        "enum number out of range",
        {"accessRules": [collection("books", 7)]},
        "databaseApiKey.accessRules[0].collectionAccess.accessType",
    ),
    ("both kinds in one rule", {"accessRules": [G_READ | collection("books")]}, "databaseApiKey.accessRules[0]"),
    ("an empty rule", {"accessRules": [{}]}, "databaseApiKey.accessRules[0]"),
    ("a rule that is not an object", {"accessRules": ["manage"]}, "databaseApiKey.accessRules[0]"),
    ("rules not a list", {"accessRules": {"globalAccess": {}}}, "databaseApiKey.accessRules"),
    ("expiresAt in the past", {"expiresAt": past()}, "databaseApiKey.expiresAt"),
    ("expiresAt not a timestamp", {"expiresAt": "next tuesday"}, "databaseApiKey.expiresAt"),
    ("expiresAt without a time zone", {"expiresAt": "2099-01-01T00:00:00"}, "databaseApiKey.expiresAt"),
    ("expiresAt a number", {"expiresAt": 4102444800}, "databaseApiKey.expiresAt"),
    ("expiresAt out of range", {"expiresAt": "9999-12-31T23:59:59-05:00"}, "databaseApiKey.expiresAt"),
    ("clusterId missing", {"clusterId": None}, "databaseApiKey.clusterId"),
    ("clusterId not a GUID", {"clusterId": "prod-search"}, "databaseApiKey.clusterId"),
    ("clusterId not a string", {"clusterId": ["x"]}, "databaseApiKey.clusterId"),
]


@pytest.mark.parametrize("fields,fragment", [case[1:] for case in INVALID_KEYS], ids=[case[0] for case in INVALID_KEYS])
def test_invalid_keys_are_invalid_argument_naming_the_field(owner, account, cluster, fields, fragment):
    response = post_json(api_as(owner, account), url("database-api-keys", account), key_body(cluster, **fields))
    assert_error(response, 400, 3, fragment)
    assert not DatabaseApiKey.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"[]",
        b'"a string"',
        b"null",
        b'{"databaseApiKey": "a string"}',
        b'{"databaseApiKey": null}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"databaseApiKey": {"name": "\\ud800 lone surrogate", "clusterId": "\\udfff"}}',
        b"\xff\xfe not utf-8",
        b'{"databaseApiKey": {"clusterId": NaN}}',
    ],
    ids=[
        "malformed",
        "empty",
        "list",
        "string",
        "null",
        "key a string",
        "key null",
        "deep",
        "surrogates",
        "bytes",
        "NaN",
    ],
)
def test_malformed_bodies_are_invalid_argument(owner, account, raw):
    response = api_as(owner, account).post(url("database-api-keys", account), raw, content_type="application/json")
    assert_error(response, 400, 3)


def test_a_form_post_is_read_as_json_and_refused(owner, account):
    response = api_as(owner, account).post(url("database-api-keys", account), {"name": "forged"})
    assert_error(response, 400, 3)


def test_the_body_is_read_as_json_whatever_the_content_type(owner, account, cluster):
    """As grpc-gateway does: `curl -d` without -H Content-Type still works."""
    body = json.dumps(key_body(cluster))
    response = api_as(owner, account).post(
        url("database-api-keys", account), body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200, response.content


def test_a_name_given_twice_is_invalid(owner, account, cluster):
    body = {"databaseApiKey": {"clusterId": str(cluster.id), "name": "first name", "cluster_id": str(cluster.id)}}
    assert_error(post_json(api_as(owner, account), url("database-api-keys", account), body), 400, 3, "clusterId")


@pytest.mark.parametrize("account_id", ["not-a-uuid", "0" * 40])
def test_a_malformed_account_id_is_invalid_argument(owner, account, account_id):
    client = api_as(owner, account)
    response = client.get(f"/api/cluster/auth/v2/accounts/{account_id}/database-api-keys")
    assert_error(response, 400, 3, "accountId")


@pytest.mark.parametrize(
    "params,fragment",
    [
        ({"pageSize": "ten"}, "pageSize"),
        ({"pageSize": "-1"}, "pageSize"),
        ({"pageToken": "garbage!"}, "pageToken"),
        ({"pageSize": str(2**80)}, "pageSize"),
        ({"cloudProviderId": "aws\x00"}, "cloudProviderId"),
    ],
)
def test_bad_paging_is_invalid_argument(owner, account, params, fragment):
    assert_error(api_as(owner, account).get(url("clusters", account), params), 400, 3, fragment)


def test_unknown_paths_and_methods_answer_in_the_error_shape(owner, account, cluster):
    client = api_as(owner, account)
    assert_error(client.get("/api/cluster/v2/accounts/x/nothing-here"), 404, 5)
    assert_error(client.get(url("database-api-keys", account) + "/"), 404, 5)
    response = client.put(url("cluster", account, cluster_id=cluster.id))
    assert_error(response, 405, 12)
    assert_error(client.options(url("clusters", account)), 405, 12)


@pytest.mark.parametrize(
    "method, name, needs_cluster",
    [
        ("post", "cluster-restart", True),
        ("post", "cluster-enable-jwt", True),
        ("get", "cluster", True),
        ("get", "clusters", False),
        ("get", "database-api-keys", False),
        ("delete", "database-api-key", False),
    ],
)
def test_a_malformed_body_is_invalid_argument_on_every_method(owner, account, cluster, method, name, needs_cluster):
    from clusters.models import Operation

    kwargs = {"cluster_id": cluster.id} if needs_cluster else {}
    if name == "database-api-key":
        kwargs = {"database_api_key_id": "00000000-0000-0000-0000-000000000000"}
    response = api_as(owner, account).generic(method.upper(), url(name, account, **kwargs), "{{{", "application/json")
    assert_error(response, 400, 3, "JSON parse error")
    assert not Operation.objects.exists()  # `{{{` restarted nothing


def test_an_empty_body_is_still_fine_for_a_restart(owner, account, cluster):
    assert api_as(owner, account).post(url("cluster-restart", account, cluster_id=cluster.id)).status_code == 200
