"""One expiry rule for every key, however it is made: none, or at most
MAX_EXPIRY_DAYS (3650) days after creation (apikeys.models.validate_expiry);
and a new key's expiry, asked for, is in the future, with one message
(apikeys.models.validate_future_expiry)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apikeys.models import EXPIRY_PAST_MESSAGE, MAX_EXPIRY_DAYS, AdminKey, DatabaseApiKey
from managementkeys.models import ManagementKey
from managementkeys.services import management_key_create
from tests.fixtures.apikeys import create_url, form_data, make_admin_key, make_key
from tests.test_api_support import api_as, assert_error, key_body, post_json, url


def api_create(owner, account, cluster, expires_at: str):
    return post_json(api_as(owner, account), url("database-api-keys", account), key_body(cluster, expiresAt=expires_at))


def iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_api_refuses_the_year_9999(owner, account, cluster):
    response = api_create(owner, account, cluster, "9999-12-31T00:00:00Z")
    assert_error(response, 400, 3, "databaseApiKey.expiresAt", f"at most {MAX_EXPIRY_DAYS} days")
    assert not DatabaseApiKey.objects.exists()


def test_the_api_takes_the_longest_expiry_the_form_offers(owner, account, cluster):
    longest = timezone.now() + timedelta(days=MAX_EXPIRY_DAYS) - timedelta(minutes=1)
    assert api_create(owner, account, cluster, iso(longest)).status_code == 200
    assert_error(api_create(owner, account, cluster, iso(longest + timedelta(days=1))), 400, 3, "expiresAt")


def test_the_form_has_the_same_limit(client_of, owner, cluster):
    response = client_of(owner).post(create_url(cluster), form_data(expires_in_days=str(MAX_EXPIRY_DAYS + 1)))
    assert response.status_code == 400 and f"At most {MAX_EXPIRY_DAYS} days" in response.content.decode()
    assert client_of(owner).post(create_url(cluster), form_data(expires_in_days=str(MAX_EXPIRY_DAYS))).status_code == 200


@pytest.mark.parametrize("make", [make_key, make_admin_key], ids=["database key", "admin key"])
def test_every_service_enforces_it(make, request, cluster, legacy_cluster):
    target = cluster if make is make_key else legacy_cluster
    with pytest.raises(ValidationError) as error:
        make(target, expires_at=timezone.now() + timedelta(days=MAX_EXPIRY_DAYS + 1))
    assert "expires_at" in error.value.message_dict
    assert not DatabaseApiKey.objects.exists() and not AdminKey.objects.exists()
    make(target, expires_at=None)  # never expiring stays allowed


@pytest.mark.parametrize("ago", [timedelta(0), timedelta(minutes=1)], ids=["now", "a minute ago"])
def test_an_expiry_not_in_the_future_is_refused_alike_for_every_kind(owner, account, cluster, ago):
    moment = iso(timezone.now() - ago)
    client = api_as(owner, account)
    database = post_json(client, url("database-api-keys", account), key_body(cluster, expiresAt=moment))
    assert_error(database, 400, 3, f"databaseApiKey.expiresAt: {EXPIRY_PAST_MESSAGE}")
    management = post_json(client, url("management-keys", account), {"managementKey": {"expiresAt": moment}})
    assert_error(management, 400, 3, f"managementKey.expiresAt: {EXPIRY_PAST_MESSAGE}")
    with pytest.raises(ValidationError) as error:
        management_key_create(name="from a service", account=account, by=owner, expires_at=timezone.now() - ago)
    assert error.value.message_dict == {"expires_at": [EXPIRY_PAST_MESSAGE]}
    assert not DatabaseApiKey.objects.exists()
    assert ManagementKey.objects.exclude(name__startswith="test").count() == 0
