"""Who may create which key (apikeys.policy): the console's Create buttons, its
create pages and the management API give the same answer for every role and
kind, and the product's refusals hold whoever asks."""

import pytest
from django.urls import reverse

from apikeys import policy
from clusters.models import Cluster
from tests.test_api_support import api_as, key_body, post_json

ROLES = ["owner", "admin", "developer", "viewer"]


def holds(user, account, kind) -> bool:
    return policy.CREATE_PERMISSION[kind] in user.memberships.get(account=account).permissions


@pytest.mark.parametrize("role", ROLES)
def test_buttons_pages_and_api_agree_on_database_keys(role, request, client_of, account, cluster):
    user = request.getfixturevalue(role)
    may = holds(user, account, policy.DATABASE)
    client = client_of(user)
    page = client.get(reverse("clusters:detail", kwargs={"account_id": account.id, "cluster_id": cluster.id}))
    assert ("data-create-key" in page.content.decode()) == may
    form = client.get(reverse("apikeys:create", kwargs={"account_id": account.id, "cluster_id": cluster.id}))
    assert form.status_code == (200 if may else 403)
    api = post_json(api_as(user, account), reverse("api:database-api-keys", kwargs={"account_id": account.id}),
                    key_body(cluster))
    assert api.status_code == (200 if may else 403)


@pytest.mark.parametrize("role", ROLES)
def test_buttons_pages_and_api_agree_on_management_keys(role, request, client_of, account):
    user = request.getfixturevalue(role)
    may = holds(user, account, policy.MANAGEMENT)
    client = client_of(user)
    listed = client.get(reverse("managementkeys:list", kwargs={"account_id": account.id}))
    if listed.status_code == 200:
        assert ("Create management key" in listed.content.decode()) == may
    form = client.get(reverse("managementkeys:create", kwargs={"account_id": account.id}))
    assert form.status_code == (200 if may else 403)
    api = post_json(api_as(user, account), reverse("api:management-keys", kwargs={"account_id": account.id}), {})
    assert api.status_code == (200 if may else 403)


def test_no_database_key_without_granular_access_whoever_asks(owner, client_of, account, legacy_cluster):
    assert policy.create_refusal(policy.DATABASE, legacy_cluster) == policy.DATABASE_KEYS_OFF
    client = client_of(owner)
    page = client.get(reverse("clusters:detail", kwargs={"account_id": account.id, "cluster_id": legacy_cluster.id}))
    assert "data-create-key" not in page.content.decode() and "data-create-admin-key" in page.content.decode()
    form = client.get(reverse("apikeys:create", kwargs={"account_id": account.id, "cluster_id": legacy_cluster.id}))
    assert form.status_code == 409
    api = post_json(api_as(owner, account), reverse("api:database-api-keys", kwargs={"account_id": account.id}),
                    key_body(legacy_cluster))
    assert api.status_code == 400 and api.json()["code"] == 9  # FAILED_PRECONDITION


def test_admin_keys_close_once_granular_access_is_on(owner, client_of, account, legacy_cluster):
    Cluster.objects.filter(id=legacy_cluster.id).update(jwt_rbac=True)
    legacy_cluster.refresh_from_db()
    assert policy.kind_to_create(legacy_cluster) == policy.DATABASE
    url = reverse("apikeys:admin-create", kwargs={"account_id": account.id, "cluster_id": legacy_cluster.id})
    assert client_of(owner).get(url).status_code == 409
