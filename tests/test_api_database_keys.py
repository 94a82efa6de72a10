"""DatabaseApiKeyService v2 through the management API: list, create (key once), delete."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import DatabaseApiKey
from apikeys.services import database_key_create
from tests.conftest import make_cluster
from tests.test_api_support import api_as, assert_error, assert_matches_spec, key_body, post_json, url

SPEC = "database_api_key.v2.swagger.json"
MANAGE = [{"collection": None, "access": "m"}]


def keys_url(account) -> str:
    return url("database-api-keys", account)


def key_url(account, key_id) -> str:
    return url("database-api-key", account, database_api_key_id=key_id)


def test_create_answers_the_key_once_in_the_spec_shape(owner, account, cluster):
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    body = key_body(
        cluster,
        expiresAt=expires.isoformat().replace("+00:00", "Z"),
        accessRules=[
            {
                "collectionAccess": {
                    "collectionName": "books",
                    "accessType": "COLLECTION_ACCESS_RULE_ACCESS_TYPE_READ_ONLY",
                }
            },
            {
                "collectionAccess": {
                    "collectionName": "films.v2",
                    "accessType": "COLLECTION_ACCESS_RULE_ACCESS_TYPE_READ_WRITE",
                }
            },
        ],
    )
    response = post_json(api_as(owner, account), keys_url(account), body)

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    created = response.json()
    assert_matches_spec(created, SPEC, "v2CreateDatabaseApiKeyResponse")
    key = created["databaseApiKey"]
    assert key["key"].startswith("eyJhb") and key["key"].endswith(key["postfix"])
    assert key["accountId"] == str(account.id) and key["clusterId"] == str(cluster.id)
    assert key["name"] == "ci deploy key" and key["createdByEmail"] == owner.email
    assert key["expiresAt"] == expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert key["accessRules"] == body["databaseApiKey"]["accessRules"]
    stored = DatabaseApiKey.objects.get(id=key["id"])
    assert stored.rules == [{"collection": "books", "access": "r"}, {"collection": "films.v2", "access": "rw"}]
    assert stored.created_by == owner
    assert key["key"] not in str(vars(stored))  # only a digest and the postfix are kept

    listed = api_as(owner, account).get(keys_url(account)).json()["items"]
    assert [item["id"] for item in listed] == [key["id"]]
    assert "key" not in listed[0]  # shown once, in the create response only


def test_no_access_rules_means_global_manage(owner, account, cluster):
    response = post_json(api_as(owner, account), keys_url(account), key_body(cluster))
    key = response.json()["databaseApiKey"]
    assert key["accessRules"] == [{"globalAccess": {"accessType": "GLOBAL_ACCESS_RULE_ACCESS_TYPE_MANAGE"}}]
    assert "expiresAt" not in key  # unset, not null
    assert DatabaseApiKey.objects.get(id=key["id"]).rules == MANAGE


def test_it_reads_snake_case_and_enum_numbers_and_ignores_unknown_fields(owner, account, cluster):
    body = {
        "database_api_key": {
            "cluster_id": str(cluster.id),
            "name": "snake case key",
            "access_rules": [{"global_access": {"access_type": 1}}],
            "payload": {"unknown": True},
            "key": "ignored: the server mints the key",
        },
        "somethingElse": 1,
    }
    response = post_json(api_as(owner, account), keys_url(account), body)
    assert response.status_code == 200, response.content
    key = response.json()["databaseApiKey"]
    assert key["accessRules"] == [{"globalAccess": {"accessType": "GLOBAL_ACCESS_RULE_ACCESS_TYPE_READ_ONLY"}}]
    assert key["key"] != "ignored: the server mints the key"


def test_list_filters_by_cluster(owner, account, cluster):
    second = make_cluster(account, name="second")
    mine, _ = database_key_create(cluster=cluster, name="first key", rules=MANAGE, expires_at=None, by=owner)
    database_key_create(cluster=second, name="second key", rules=MANAGE, expires_at=None, by=None)
    client = api_as(owner, account)

    everything = client.get(keys_url(account)).json()
    assert_matches_spec(everything, SPEC, "v2ListDatabaseApiKeysResponse")
    assert len(everything["items"]) == 2
    assert "createdByEmail" not in next(item for item in everything["items"] if item["name"] == "second key")

    for param in ("clusterId", "cluster_id"):
        filtered = client.get(keys_url(account), {param: str(cluster.id)}).json()["items"]
        assert [item["id"] for item in filtered] == [str(mine.id)]


def test_list_refuses_other_accounts_and_malformed_cluster_ids(owner, account, other_cluster):
    client = api_as(owner, account)
    assert_error(client.get(keys_url(account), {"clusterId": str(other_cluster.id)}), 404, 5, "clusterId")
    assert_error(client.get(keys_url(account), {"clusterId": "not-a-uuid"}), 400, 3, "clusterId")


def test_delete_revokes_the_key(owner, account, cluster):
    key, _ = database_key_create(cluster=cluster, name="to delete", rules=MANAGE, expires_at=None, by=owner)
    client = api_as(owner, account)

    response = client.delete(key_url(account, key.id))
    assert response.status_code == 200 and response.json() == {}
    assert_matches_spec(response.json(), SPEC, "v2DeleteDatabaseApiKeyResponse")
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == owner
    assert client.get(keys_url(account)).json()["items"] == []
    assert_error(client.delete(key_url(account, key.id)), 404, 5, "databaseApiKeyId")


def test_delete_with_the_wrong_cluster_is_not_found(owner, account, cluster):
    key, _ = database_key_create(cluster=cluster, name="to keep", rules=MANAGE, expires_at=None, by=owner)
    other = make_cluster(account, name="other")
    response = api_as(owner, account).delete(key_url(account, key.id) + f"?clusterId={other.id}")
    assert_error(response, 404, 5)
    assert DatabaseApiKey.objects.live().filter(id=key.id).exists()


def test_another_accounts_key_is_not_found_and_stays(owner, account, other_cluster, outsider):
    theirs, _ = database_key_create(cluster=other_cluster, name="their key", rules=MANAGE, expires_at=None, by=outsider)
    assert_error(api_as(owner, account).delete(key_url(account, theirs.id)), 404, 5)
    assert DatabaseApiKey.objects.live().filter(id=theirs.id).exists()


def test_a_key_for_another_accounts_cluster_is_not_found(owner, account, other_cluster):
    response = post_json(api_as(owner, account), keys_url(account), key_body(other_cluster))
    assert_error(response, 404, 5, "clusterId")
    assert not DatabaseApiKey.objects.exists()


def test_a_cluster_without_jwt_rbac_takes_no_keys(owner, account, legacy_cluster):
    response = post_json(api_as(owner, account), keys_url(account), key_body(legacy_cluster))
    assert_error(response, 400, 9, "clusterId", "JWT RBAC")
    assert not DatabaseApiKey.objects.exists()


@pytest.mark.parametrize("key_id", ["not-a-uuid", "123"])
def test_a_malformed_key_id_is_invalid_argument(owner, account, key_id):
    assert_error(api_as(owner, account).delete(key_url(account, key_id)), 400, 3, "databaseApiKeyId")


# The client IP's failed management keys (the throttle), the management key
# with its user, the membership with its account, then the keys with their
# clusters and creators in one query.
LIST_QUERIES = 4


@pytest.mark.parametrize("keys", [10, 1000])
def test_the_list_costs_the_same_queries_with_10_or_1000_keys(owner, account, cluster, keys,
                                                              django_assert_num_queries):
    from tests.fixtures.apikeys import bulk_keys

    bulk_keys(cluster, keys, by=owner)
    api = api_as(owner, account)
    api.get(url("database-api-keys", account))  # warm up: content types and the like
    with django_assert_num_queries(LIST_QUERIES):
        response = api.get(url("database-api-keys", account))
    assert len(response.json()["items"]) == keys
    with django_assert_num_queries(LIST_QUERIES + 1):  # the cluster named by clusterId
        response = api.get(url("database-api-keys", account) + f"?clusterId={cluster.id}")
    assert len(response.json()["items"]) == keys
