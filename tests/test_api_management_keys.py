"""AuthService v1 management keys, and what a management key can do: act as its
creator, in its account, with the creator's permissions at the time of each request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership
from accounts.roles import Role
from apikeys.models import DatabaseApiKey
from managementkeys.models import ManagementKey
from managementkeys.services import management_key_create
from tests.conftest import make_user
from tests.test_api_support import api_as, api_client, assert_error, assert_matches_spec, key_body, mint, post_json, url

SPEC = "management_key.v1.swagger.json"


def test_create_answers_the_key_once_and_stores_a_digest(developer, account):
    response = post_json(api_as(developer, account), url("management-keys", account), {"managementKey": {}})

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    created = response.json()
    assert_matches_spec(created, SPEC, "v1CreateManagementKeyResponse")
    key = created["managementKey"]
    assert key["accountId"] == str(account.id) and key["key"].startswith(key["prefix"] + ".")
    stored = ManagementKey.objects.get(id=key["id"])
    assert stored.created_by == developer and stored.prefix == key["prefix"]
    assert key["key"] not in str(vars(stored)) and key["key"].split(".")[1] not in str(vars(stored))
    assert len(key["key"].split(".")[1]) >= 43  # 256 bits, url-safe base64

    # the new key works, and the list shows it by prefix only
    listed = api_client(key["key"]).get(url("management-keys", account)).json()
    assert_matches_spec(listed, SPEC, "v1ListManagementKeysResponse")
    item = next(item for item in listed["items"] if item["id"] == key["id"])
    assert item["prefix"] == key["prefix"] and "key" not in item


def test_create_takes_an_empty_body_and_snake_case(owner, account):
    client = api_as(owner, account)
    assert client.post(url("management-keys", account), "", content_type="application/json").status_code == 200
    assert client.generic("POST", url("management-keys", account)).status_code == 200  # no body, no Content-Type
    assert post_json(client, url("management-keys", account), {"management_key": {"prefix": "x"}}).status_code == 200
    assert_error(post_json(client, url("management-keys", account), {"managementKey": "x"}), 400, 3, "managementKey")


def test_a_deleted_key_is_refused(owner, account):
    doomed, plaintext = management_key_create(name="test key", account=account, by=owner)
    response = api_as(owner, account).delete(url("management-key", account, management_key_id=doomed.id))
    assert response.status_code == 200 and response.json() == {}
    assert_matches_spec(response.json(), SPEC, "v1DeleteManagementKeyResponse")
    assert not ManagementKey.objects.filter(id=doomed.id).exists()
    assert_error(api_client(plaintext).get(url("clusters", account)), 401, 16)


def test_another_accounts_management_key_is_not_found(owner, account, outsider, other_account):
    theirs, _ = management_key_create(name="test key", account=other_account, by=outsider)
    assert_error(api_as(owner, account).delete(url("management-key", account, management_key_id=theirs.id)), 404, 5)
    assert ManagementKey.objects.filter(id=theirs.id).exists()


def test_a_key_acts_as_its_creator(developer, account, cluster):
    response = post_json(api_as(developer, account), url("database-api-keys", account), key_body(cluster))
    assert DatabaseApiKey.objects.get(id=response.json()["databaseApiKey"]["id"]).created_by == developer


def test_a_key_loses_its_power_when_its_creator_leaves_the_account(developer, account, cluster):
    client = api_client(mint(account, developer))
    assert client.get(url("clusters", account)).status_code == 200

    Membership.objects.filter(user=developer, account=account).delete()

    for response in (
        client.get(url("clusters", account)),
        post_json(client, url("database-api-keys", account), key_body(cluster)),
    ):
        assert_error(response, 401, 16, "no longer valid")
    assert not DatabaseApiKey.objects.exists()


def test_a_key_follows_its_creators_role_at_request_time(developer, account, cluster):
    client = api_client(mint(account, developer))
    Membership.objects.filter(user=developer, account=account).update(role=Role.VIEWER)

    assert client.get(url("clusters", account)).status_code == 200
    assert_error(post_json(client, url("database-api-keys", account), key_body(cluster)), 403, 7, "write:api_keys")

    Membership.objects.filter(user=developer, account=account).update(role=Role.ADMIN)
    assert post_json(client, url("database-api-keys", account), key_body(cluster)).status_code == 200


def test_a_key_of_a_deactivated_user_is_refused(developer, account):
    client = api_client(mint(account, developer))
    developer.is_active = False
    developer.save()
    assert_error(client.get(url("clusters", account)), 401, 16)


def test_a_key_acts_only_in_its_own_account(account, other_account, other_cluster):
    """Its creator is a member of both accounts; the key was made for one."""
    both = make_user("bea", account, Role.OWNER)
    Membership.objects.create(account=other_account, user=both, role=Role.OWNER)
    client = api_client(mint(account, both))

    assert client.get(url("clusters", account)).status_code == 200
    assert_error(client.get(url("clusters", other_account)), 404, 5)
    assert_error(post_json(client, url("database-api-keys", other_account), key_body(other_cluster)), 404, 5)


@pytest.mark.parametrize(
    "header",
    [
        "apikey",
        "apikey a b",
        "apikey 0123456789ab",
        "apikey 0123456789ab.wrong-secret",
        "apikey not-a-key-at-all",
        "apikey " + "x" * 5000,
        "Bearer something",
        "apikey \u00e9\u00e9\u00e9",
    ],
)
def test_bad_credentials_are_unauthenticated(account, header):
    from django.test import Client

    response = Client(headers={"Authorization": header}).get(url("clusters", account))
    assert_error(response, 401, 16)


def test_a_wrong_secret_and_an_unknown_prefix_get_the_same_answer(owner, account):
    key, plaintext = management_key_create(name="test key", account=account, by=owner)
    wrong_secret = api_client(f"{key.prefix}.{'A' * 43}").get(url("clusters", account))
    unknown_prefix = api_client(f"{'0' * 12}.{plaintext.split('.')[1]}").get(url("clusters", account))
    assert wrong_secret.json() == unknown_prefix.json()
    assert_error(wrong_secret, 401, 16)


def test_the_keyword_is_case_insensitive(owner, account):
    from django.test import Client

    plaintext = mint(account, owner)
    assert Client(headers={"Authorization": f"ApiKey {plaintext}"}).get(url("clusters", account)).status_code == 200


def test_last_used_is_written_at_most_once_a_minute(owner, account, django_assert_num_queries):
    key, plaintext = management_key_create(name="test key", account=account, by=owner)
    client = api_client(plaintext)

    client.get(url("clusters", account))
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None

    client.get(url("clusters", account))
    key.refresh_from_db()
    assert key.last_used_at == first  # within the minute: not written again

    ManagementKey.objects.filter(id=key.id).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get(url("clusters", account))
    key.refresh_from_db()
    assert key.last_used_at > first
