"""A roll that stops the old secret now deletes it, so it needs delete:api_keys, as Delete does,
in the console and the API; a roll with a later stop needs write:api_keys only."""

import pytest

from accounts.models import CustomRole, Membership
from accounts.roles import PERMISSION_DESCRIPTIONS
from apikeys.models import AdminKey, DatabaseApiKey
from tests.conftest import make_user
from tests.fixtures.apikeys import admin_key_url, key_url, make_admin_key, make_key
from tests.test_api_support import api_as, assert_error, post_json, url

KEY_WRITER = ["read:clusters", "read:api_keys", "write:api_keys"]


@pytest.fixture
def writer(account):
    """May create and roll keys, not delete them."""
    role = CustomRole.objects.create(account=account, name="Key writers", permissions=KEY_WRITER)
    user = make_user("wendy")
    Membership.objects.create(account=account, user=user, custom_role=role)
    return user


def test_the_roll_form_says_what_stopping_now_needs_and_refuses_it(client_of, writer, owner, cluster):
    key, _ = make_key(cluster, by=owner)
    client = client_of(writer)
    assert "Stop the old secret now (needs delete:api_keys)" in client.get(key_url(key, "roll")).content.decode()
    response = client.post(key_url(key, "roll"), {"nonce": "w" * 22, "grace": "now"})
    assert response.status_code == 400
    assert 'id="id_grace-error"' in response.content.decode() and "delete:api_keys" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None and key.rolled_into is None
    assert not DatabaseApiKey.objects.filter(nonce="w" * 22).exists()


def test_the_same_role_rolls_with_a_later_stop(client_of, writer, owner, cluster):
    key, _ = make_key(cluster, by=owner)
    assert client_of(writer).post(key_url(key, "roll"), {"nonce": "x" * 22, "grace": "1h"}).status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is None and key.rolled_into.nonce == "x" * 22


def test_an_admin_keys_roll_form_refuses_it_too(client_of, writer, owner, legacy_cluster):
    key, _ = make_admin_key(legacy_cluster, by=owner)
    response = client_of(writer).post(admin_key_url(key, "roll"), {"nonce": "y" * 22, "grace": "now"})
    assert response.status_code == 400 and "delete:api_keys" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None and AdminKey.objects.count() == 1


def test_the_api_refuses_roll_grace_now_without_delete_api_keys(writer, owner, account, cluster):
    key, _ = make_key(cluster, by=owner)
    path = url("database-api-key-roll", account, database_api_key_id=key.id)
    client = api_as(writer, account)
    assert_error(post_json(client, path, {"oldKeyStopsIn": "ROLL_GRACE_NOW"}), 403, 7, "delete:api_keys")
    key.refresh_from_db()
    assert key.revoked_at is None and key.rolled_into is None
    assert post_json(client, path, {"oldKeyStopsIn": "ROLL_GRACE_1_HOUR"}).status_code == 200


def test_a_developer_who_may_delete_stops_the_old_secret_now(developer, owner, account, cluster):
    key, _ = make_key(cluster, by=owner)
    path = url("database-api-key-roll", account, database_api_key_id=key.id)
    assert post_json(api_as(developer, account), path, {"oldKeyStopsIn": "ROLL_GRACE_NOW"}).status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_the_permission_list_says_so():
    assert "old secret stopping now" in PERMISSION_DESCRIPTIONS["delete:api_keys"]
