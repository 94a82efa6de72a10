"""Explain a key: paste a token or an admin key, see which key of the account
it is, its cluster, rights, expiry and state; what was pasted is never stored,
logged or shown back."""

import logging
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apikeys.services import admin_key_delete, database_key_delete
from tests.fixtures.apikeys import make_admin_key, make_key
from tests.fixtures.dataplane import collection_rule


def explain_url(account) -> str:
    return reverse("apikeys:account-explain", kwargs={"account_id": account.id})


def explained(client, account, pasted):
    response = client.post(explain_url(account), {"key": pasted})
    return response, response.content.decode()


def test_a_token_is_explained_and_never_shown_stored_or_logged(client_of, owner, account, cluster, caplog):
    key, token = make_key(cluster, by=owner, name="books reader", rules=collection_rule("books", "r"))
    client = client_of(owner)
    with caplog.at_level(logging.DEBUG):
        response, html = explained(client, account, token)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert 'data-state="active"' in html and "books reader" in html and cluster.name in html
    assert "books: Read-only" in html and f"…{key.postfix}" in html
    # What was pasted: not in the page, not in the log, not in the session.
    assert token not in html and token[:-6] not in html
    assert token not in caplog.text
    assert all(token not in str(value) for value in client.session.values())


def test_an_admin_key_is_explained(client_of, owner, account, legacy_cluster):
    key, secret = make_admin_key(legacy_cluster, by=owner, name="legacy admin")
    response, html = explained(client_of(owner), account, secret)
    assert 'data-state="active"' in html and "legacy admin" in html and secret not in html
    assert "Full access" in html


def test_deleted_and_expired_keys_say_so(client_of, owner, account, cluster, legacy_cluster):
    gone, gone_token = make_key(cluster, by=owner, name="gone key")
    database_key_delete(key=gone, by=owner)
    admin, secret = make_admin_key(legacy_cluster, by=owner, name="gone admin")
    admin_key_delete(key=admin, by=owner)
    late, late_token = make_key(cluster, by=owner, name="late key", expires_at=timezone.now() + timedelta(days=1))
    type(late).objects.filter(id=late.id).update(expires_at=timezone.now() - timedelta(minutes=1))
    client = client_of(owner)
    assert 'data-state="deleted"' in explained(client, account, gone_token)[1]
    assert 'data-state="deleted"' in explained(client, account, secret)[1]
    html = explained(client, account, late_token)[1]
    assert 'data-state="expired"' in html and "data-rights-none" in html


def test_another_accounts_key_and_garbage_are_unknown(client_of, owner, account, outsider, other_cluster):
    _, theirs = make_key(other_cluster, by=outsider, name="their key")
    client = client_of(owner)
    for pasted in (theirs, "not-a-key", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOjF9.x", theirs[:-1] + "A"):
        response, html = explained(client, account, pasted)
        assert response.status_code == 200 and 'data-state="unknown"' in html and "their key" not in html


def test_bad_input_is_refused_next_to_the_field(client_of, owner, account):
    client = client_of(owner)
    response, html = explained(client, account, "")
    assert response.status_code == 400 and 'id="id_key-error"' in html
    long = "x" * 9000
    response, html = explained(client, account, long)
    assert response.status_code == 400 and "longer than any key" in html and long not in html


def test_the_form_is_post_only_with_csrf_and_no_autocomplete(owner, account, cluster):
    _, token = make_key(cluster, by=owner)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    page = client.get(explain_url(account) + f"?key={token}").content.decode()
    assert 'method="post"' in page and 'autocomplete="off"' in page and "data-explained" not in page
    assert client.post(explain_url(account), {"key": token}).status_code == 403


def test_viewer_may_explain_and_outsider_gets_404(client_of, viewer, outsider, owner, account, cluster):
    _, token = make_key(cluster, by=owner, name="viewer sees")
    assert "viewer sees" in explained(client_of(viewer), account, token)[1]
    assert client_of(outsider).post(explain_url(account), {"key": token}).status_code == 404
