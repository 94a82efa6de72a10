"""Reveal once: the key is in the response to the POST that creates it, and nowhere after."""

import pytest
from django.db import IntegrityError

from apikeys import views
from createonce import services as create_once
from apikeys.models import DatabaseApiKey
from tests.fixtures.apikeys import account_keys_url, cluster_url, create_url, form_data, key_url, make_key


def token_in(response) -> str:
    return response.context["token"]


def test_the_create_response_shows_the_key_once_and_is_not_stored_by_any_cache(client_of, owner, cluster):
    response = client_of(owner).post(create_url(cluster), form_data(name="ingest job"))
    html = response.content.decode()
    token = token_in(response)
    assert response.status_code == 200
    assert token.startswith("eyJhb") and f"data-secret>{token}</code>" in html
    assert "it will not be shown again" in html
    assert "no-store" in response["Cache-Control"]
    assert "data-copy-secret" in html


def test_the_snippets_on_the_reveal_page_carry_the_key_and_the_cluster_endpoint(client_of, owner, cluster):
    response = client_of(owner).post(create_url(cluster), form_data())
    token = token_in(response)
    snippets = response.context["snippets"]
    assert {snippet.id for snippet in snippets} >= {
        "curl",
        "curl-bearer",
        "python",
        "typescript",
        "rust",
        "java",
        "csharp",
        "go",
    }
    assert all(token in snippet.code for snippet in snippets)
    curl = next(snippet for snippet in snippets if snippet.id == "curl")
    assert f"{cluster.endpoint_url}:6333" in curl.code and f"api-key: {token}" in curl.code
    assert "paste-your-api-key-here" not in response.content.decode()


def test_posting_the_same_form_again_mints_nothing_and_says_the_key_can_no_longer_be_shown(client_of, owner, cluster):
    client = client_of(owner)
    data = form_data()
    first = client.post(create_url(cluster), data)
    token = token_in(first)
    key = DatabaseApiKey.objects.get()

    again = client.post(create_url(cluster), data)  # a reload of the reveal page, or a double click
    assert again.status_code == 303 and again["Location"] == key_url(key) + "?repeated=1"
    page = client.get(again["Location"])
    html = page.content.decode()
    assert "already submitted" in html and "can no longer be shown" in html
    assert token not in html and f"…{key.postfix}" in html
    assert f'href="{cluster_url(cluster)}#api-keys"' in html  # the way back to the list
    assert DatabaseApiKey.objects.count() == 1


def test_two_posts_of_one_form_at_once_mint_one_key(client_of, owner, cluster, monkeypatch):
    """The second request passed the nonce check before the first one committed: the unique nonce stops it."""
    client = client_of(owner)
    data = form_data()
    client.post(create_url(cluster), data)
    real = create_once.made_with
    calls = []

    def late(model, nonce):
        # Both lookups before minting ran before the other request committed its key.
        calls.append(nonce)
        return None if len(calls) <= 2 else real(model, nonce)

    monkeypatch.setattr(create_once, "made_with", late)
    again = client.post(create_url(cluster), data)
    assert again.status_code == 303 and "repeated=1" in again["Location"]
    assert DatabaseApiKey.objects.count() == 1 and len(calls) == 3


def test_a_nonce_used_on_another_cluster_is_refused(client_of, owner, cluster, account):
    from tests.conftest import make_cluster

    second = make_cluster(account, name="second")
    client = client_of(owner)
    data = form_data()
    client.post(create_url(cluster), data)
    response = client.post(create_url(second), data)
    assert response.status_code == 400 and 'id="id_nonce-error"' in response.content.decode()
    assert not DatabaseApiKey.objects.filter(cluster=second).exists()


def test_every_create_form_gets_a_fresh_nonce(client_of, owner, cluster):
    client = client_of(owner)
    nonces = {client.get(create_url(cluster)).context["form"]["nonce"].value() for _ in range(3)}
    assert len(nonces) == 3
    response = client.get(create_url(cluster))
    assert "no-store" in response["Cache-Control"]  # back/forward must not bring back a used nonce


def test_later_pages_show_everything_about_the_key_but_the_key(client_of, owner, cluster):
    client = client_of(owner)
    token = token_in(client.post(create_url(cluster), form_data(name="ingest job")))
    key = DatabaseApiKey.objects.get()
    detail = client.get(key_url(key))
    assert detail.status_code == 200 and "no-store" in detail["Cache-Control"]
    assert "can no longer be shown" in detail.content.decode() and "ingest job" in detail.content.decode()
    for url in (key_url(key), cluster_url(cluster), account_keys_url(cluster.account), create_url(cluster)):
        html = client.get(url).content.decode()
        assert token not in html and token[:40] not in html


def test_the_key_page_of_a_deleted_key_says_so(client_of, owner, cluster):
    from apikeys.services import database_key_delete

    key, _ = make_key(cluster)
    database_key_delete(key=key, by=owner)
    html = client_of(owner).get(key_url(key)).content.decode()
    assert "was deleted on" in html and "alice" in html


def test_an_integrity_error_that_is_not_about_the_nonce_is_not_hidden(client_of, owner, cluster, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("something else")

    monkeypatch.setattr(views, "database_key_create", broken)
    client = client_of(owner)
    client.raise_request_exception = True
    with pytest.raises(IntegrityError):
        client.post(create_url(cluster), form_data())
