"""Who may see, create and delete database API keys: 404 for outsiders, 403 for the wrong role."""

import pytest
from django.test import Client

from apikeys.models import DatabaseApiKey
from tests.fixtures.apikeys import account_keys_url, cluster_url, create_url, form_data, key_url, make_key


@pytest.mark.parametrize("role", ["owner", "admin", "developer"])
def test_members_who_work_with_keys_can_create_and_delete_them(request, client_of, cluster, role):
    client = client_of(request.getfixturevalue(role))
    assert "data-create-key" in client.get(cluster_url(cluster)).content.decode()
    assert client.get(create_url(cluster)).status_code == 200
    assert client.post(create_url(cluster), form_data()).status_code == 200
    key = DatabaseApiKey.objects.get()
    assert client.get(key_url(key, "delete")).status_code == 200
    assert client.post(key_url(key, "delete")).status_code == 302
    assert not DatabaseApiKey.objects.live().exists()


def test_a_viewer_sees_keys_but_cannot_create_or_delete_them(client_of, viewer, owner, cluster):
    key, _ = make_key(cluster, by=owner, name="reader key")
    client = client_of(viewer)
    page = client.get(cluster_url(cluster)).content.decode()
    assert "reader key" in page and "data-create-key" not in page and key_url(key, "delete") not in page
    assert "reader key" in client.get(account_keys_url(cluster.account)).content.decode()
    assert client.get(key_url(key)).status_code == 200
    assert client.get(create_url(cluster)).status_code == 403
    assert client.post(create_url(cluster), form_data()).status_code == 403
    assert client.get(key_url(key, "delete")).status_code == 403
    assert client.post(key_url(key, "delete")).status_code == 403
    assert DatabaseApiKey.objects.live().count() == 1


def test_an_outsider_finds_nothing(client_of, outsider, owner, cluster, other_account):
    key, _ = make_key(cluster, by=owner)
    client = client_of(outsider)
    urls = [create_url(cluster), key_url(key), key_url(key, "delete"), account_keys_url(cluster.account)]
    # The same ids under the outsider's own account are no better.
    urls += [url.replace(str(cluster.account_id), str(other_account.id)) for url in urls[:3]]
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.post(url, form_data()).status_code in (404, 405), url
    assert DatabaseApiKey.objects.live().count() == 1
    assert not DatabaseApiKey.objects.filter(cluster__account=other_account).exists()


def test_a_key_is_found_only_under_its_own_cluster(client_of, owner, cluster, account):
    from tests.conftest import make_cluster

    key, _ = make_key(cluster)
    second = make_cluster(account, name="second")
    wrong = key_url(key, "delete").replace(str(cluster.id), str(second.id))
    assert client_of(owner).post(wrong).status_code == 404
    assert DatabaseApiKey.objects.live().count() == 1


def test_anonymous_visitors_are_sent_to_log_in(client, cluster):
    key, _ = make_key(cluster)
    for url in (create_url(cluster), key_url(key), key_url(key, "delete"), account_keys_url(cluster.account)):
        response = client.post(url) if url.endswith("delete/") else client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert DatabaseApiKey.objects.live().count() == 1


def test_state_changes_need_the_csrf_token(owner, cluster):
    key, _ = make_key(cluster)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(create_url(cluster), form_data()).status_code == 403
    assert client.post(key_url(key, "delete")).status_code == 403
    assert DatabaseApiKey.objects.count() == 1 and DatabaseApiKey.objects.live().count() == 1


def test_looking_at_the_delete_page_deletes_nothing(client_of, owner, cluster):
    key, _ = make_key(cluster, name="keep me")
    response = client_of(owner).get(key_url(key, "delete"))
    assert "Delete <strong>keep me</strong>" in response.content.decode()
    assert DatabaseApiKey.objects.live().count() == 1
