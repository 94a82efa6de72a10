"""Tenant-bound database API keys in the console and the management API (issue 23): what is
stored, what the key's page, its matrix and Explain show, and what reaches the front."""

import html

import pytest
from django.core.exceptions import ValidationError

from apikeys.models import DatabaseApiKey
from apikeys.services import database_key_create, key_roll
from clusters.connected import ConnectedQdrant
from clusters.models import Cluster
from fronts.rows import database_key_rows
from keyset.tenant import Tenant
from tests.fixtures.apikeys import collections_data, create_url, form_data, key_url
from tests.test_api_support import api_as, key_body, post_json, url

ACME = {"field": "group_id", "value": "acme", "type": "keyword", "access": "rw", "collections": []}


def bound_key(cluster, owner, tenant=ACME, rules=None):
    return database_key_create(cluster=cluster, name="acme app", rules=rules or [{"collection": None, "access": "m"}],
                               expires_at=None, by=owner, tenant=tenant)


def test_owner_binds_a_key_to_a_tenant_in_the_form(client_of, owner, cluster):
    data = form_data(tenant_field="group_id", tenant_value="acme", tenant_type="keyword", tenant_access="rw")
    assert client_of(owner).post(create_url(cluster), data).status_code == 200
    key = DatabaseApiKey.objects.get()
    assert key.tenant == Tenant("group_id", "acme", "keyword", True, None)
    page = html.unescape(client_of(owner).get(key_url(key)).content.decode())
    assert 'group_id = "acme" (keyword, read-write) on every collection' in page


def test_a_key_left_unbound_is_unbound(client_of, owner, cluster):
    client_of(owner).post(create_url(cluster), form_data())
    key = DatabaseApiKey.objects.get()
    assert key.tenant is None
    assert "Not bound: every point of its collections" in client_of(owner).get(key_url(key)).content.decode()


@pytest.mark.parametrize("fields,error", [
    ({"tenant_field": "group.id", "tenant_value": "acme"}, "The tenant field is a top-level payload key"),
    ({"tenant_field": "org", "tenant_value": "seven", "tenant_type": "integer"}, "An integer value is a whole number"),
    ({"tenant_field": "org", "tenant_value": "not-a-uuid", "tenant_type": "uuid"}, "A UUID value"),
    ({"tenant_field": "org", "tenant_value": ""}, "A keyword value is a string of 1 to 256"),
])
def test_the_form_refuses_a_binding_that_cannot_be_enforced(client_of, owner, cluster, fields, error):
    html_ = html.unescape(client_of(owner).post(create_url(cluster), form_data(**fields)).content.decode())
    assert error in html_
    assert not DatabaseApiKey.objects.exists()


def test_a_cluster_wide_key_is_bound_on_all_collections_or_none(client_of, owner, cluster):
    html_ = html.unescape(client_of(owner).post(create_url(cluster), form_data(
        tenant_field="group_id", tenant_value="acme", tenant_collections="books")).content.decode())
    assert "A cluster-wide key is bound on every collection" in html_
    client_of(owner).post(create_url(cluster), collections_data(
        ("books", "rw"), ("films", "r"), tenant_field="group_id", tenant_value="acme", tenant_collections="books"))
    key = DatabaseApiKey.objects.get()
    assert key.tenant.collections == frozenset({"books"}) and key.tenant.write is False


def test_integer_and_uuid_values_are_stored_canonical(owner, cluster):
    key, _ = bound_key(cluster, owner, ACME | {"field": "org", "value": " 42 ", "type": "integer"})
    assert key.tenant.value == 42
    key, _ = bound_key(cluster, owner, ACME | {"value": "8A5B1B1C-0000-4000-8000-000000000001", "type": "uuid"})
    assert key.tenant_value == "8a5b1b1c-0000-4000-8000-000000000001"


def test_the_matrix_and_explain_show_what_a_bound_key_may_do(client_of, owner, account, cluster, monkeypatch):
    from clusters.runtime import runtime_for

    monkeypatch.setattr(type(runtime_for(cluster)), "collections", lambda self, cluster: ["books"])
    key, token = bound_key(cluster, owner)
    page = html.unescape(client_of(owner).get(key_url(key)).content.decode())
    assert 'Only points with group_id = "acme"' in page
    assert "PUT /collections/{collection}/index is not available to tenant-bound keys" in page
    explained = html.unescape(client_of(owner).post(url_explain(account), {"key": token}).content.decode())
    assert 'group_id = "acme"' in explained and "not available to tenant-bound keys" in explained


def url_explain(account):
    from django.urls import reverse

    return reverse("apikeys:account-explain", kwargs={"account_id": account.id})


def test_the_binding_reaches_the_front_and_survives_a_roll(owner, cluster):
    key, _ = bound_key(cluster, owner)
    (row,) = [row for row in database_key_rows() if row[0] == key.id]
    assert row[5] == ["group_id", "acme", "keyword", "rw", None]
    successor, _ = key_roll(key=key, grace=__import__("datetime").timedelta(hours=1), by=owner)
    assert successor.tenant == key.tenant


def test_the_api_creates_and_shows_a_bound_key(owner, account, cluster):
    body = key_body(cluster, tenant={"field": "group_id", "value": "7", "valueType": "integer", "readWrite": True})
    response = post_json(api_as(owner, account), url("database-api-keys", account), body)
    assert response.status_code == 200, response.content
    shown = response.json()["databaseApiKey"]
    assert shown["tenant"] == {"field": "group_id", "value": "7", "valueType": "integer", "readWrite": True,
                               "collections": []}
    assert DatabaseApiKey.objects.get().tenant.value == 7
    bad = key_body(cluster, tenant={"field": "group_id", "value": "x", "valueType": "integer"})
    refused = post_json(api_as(owner, account), url("database-api-keys", account), bad)
    assert refused.status_code == 400 and "whole number" in refused.json()["message"]


def test_a_cluster_reached_directly_refuses_a_binding_with_the_reason():
    direct = ConnectedQdrant().key_options_refusal(Cluster(runtime="connected", access="ACCESS_DIRECT"),
                                                   allowed_networks=False, tenant=True)
    assert "cannot be enforced" in direct["tenant_field"]
    through = ConnectedQdrant().key_options_refusal(Cluster(runtime="connected", access="ACCESS_THROUGH_FRONT"),
                                                    allowed_networks=False, tenant=True)
    assert through == {}


def test_a_bad_binding_is_refused_by_the_service(owner, cluster):
    with pytest.raises(ValidationError) as refused:
        bound_key(cluster, owner, ACME | {"access": "x"})
    assert "tenant_access" in refused.value.message_dict
