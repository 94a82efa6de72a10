"""Admin keys of legacy clusters: create and reveal once, list, delete; stored as
a peppered digest; refused once granular access is enabled and on clusters
created since 2025-01-27; audited with the client's address."""

import hashlib
import hmac
import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apikeys.models import AdminKey, DatabaseApiKey
from apikeys.services import admin_key_delete
from audit.models import Action, AuditEntry
from clusters.models import Cluster, Operation
from createonce import services as create_once
from createonce.digests import token_matches
from tests.fixtures.apikeys import (
    admin_create_url,
    admin_form_data,
    admin_key_url,
    cluster_url,
    create_url,
    form_data,
    key_url,
    make_admin_key,
)

CLIENT_IP = "203.0.113.9"


def rows(html: str) -> list[str]:
    return re.findall(r"<tr data-admin-key-id=.*?</tr>", html, flags=re.S)


def enable_granular_access(cluster) -> None:
    """As the end of the rolling restart leaves it (clusters.restarts)."""
    Cluster.objects.filter(id=cluster.id).update(jwt_rbac=True, restarted_at=timezone.now())
    cluster.refresh_from_db()


# The section on the cluster page


def test_a_legacy_cluster_shows_admin_keys_with_a_create_button(client_of, owner, legacy_cluster):
    html = client_of(owner).get(cluster_url(legacy_cluster)).content.decode()
    assert "Admin Database API keys" in html and "data-create-admin-key" in html
    assert admin_create_url(legacy_cluster) in html
    assert "No admin keys yet" in html
    assert "data-create-key" not in html  # no granular keys before enabling them
    assert "an Enable button will appear" not in html  # the banner at the top has it now
    assert "in the banner at the top" in html


def test_a_current_cluster_never_shows_admin_keys(client_of, owner, cluster):
    html = client_of(owner).get(cluster_url(cluster)).content.decode()
    assert "Admin Database API keys" not in html and "data-create-admin-key" not in html


# Create and reveal once


def test_creating_an_admin_key_reveals_it_once_with_the_connection_snippets(client_of, owner, legacy_cluster):
    response = client_of(owner).post(admin_create_url(legacy_cluster), admin_form_data(name="ingest job"))
    html = response.content.decode()
    secret = response.context["token"]
    assert response.status_code == 200
    assert "<h1>Admin key created</h1>" in html and "it will not be shown again" in html
    assert f"data-secret>{secret}</code>" in html and "data-copy-secret" in html
    assert "no-store" in response["Cache-Control"]
    snippets = response.context["snippets"]
    assert {snippet.id for snippet in snippets} >= {"curl", "python", "go"}
    assert all(secret in snippet.code for snippet in snippets)
    curl = next(snippet for snippet in snippets if snippet.id == "curl")
    assert f"{legacy_cluster.endpoint_url}:6333" in curl.code and f"api-key: {secret}" in curl.code
    key = AdminKey.objects.get()
    assert (key.name, key.cluster, key.created_by, key.postfix) == ("ingest job", legacy_cluster, owner, secret[-6:])
    assert "Full access" in html and "jti" not in html


def test_an_admin_key_is_a_long_random_secret_not_a_jwt(legacy_cluster):
    secrets_made = {make_admin_key(legacy_cluster, name=f"key {i}")[1] for i in range(3)}
    assert len(secrets_made) == 3
    for secret in secrets_made:
        assert re.fullmatch(r"[A-Za-z0-9_-]{54}", secret)  # 40 random bytes: 320 bits
        assert "." not in secret and not secret.startswith("eyJ")


def test_the_expiry_is_optional(client_of, owner, legacy_cluster):
    client = client_of(owner)
    client.post(admin_create_url(legacy_cluster), admin_form_data(name="thirty days", expires_in_days="30"))
    client.post(admin_create_url(legacy_cluster), admin_form_data(name="forever", expires_in_days=""))
    keys = {key.name: key for key in AdminKey.objects.all()}
    assert abs(keys["thirty days"].expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert keys["forever"].expires_at is None


def test_bad_input_is_shown_and_nothing_is_created(client_of, owner, legacy_cluster):
    response = client_of(owner).post(admin_create_url(legacy_cluster), admin_form_data(name="no", expires_in_days="0"))
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_name-error"' in html and 'id="id_expires_in_days-error"' in html
    assert not AdminKey.objects.exists()


def test_posting_the_same_form_again_mints_nothing_and_says_the_key_can_no_longer_be_shown(
    client_of, owner, legacy_cluster
):
    client = client_of(owner)
    data = admin_form_data()
    secret = client.post(admin_create_url(legacy_cluster), data).context["token"]
    key = AdminKey.objects.get()

    again = client.post(admin_create_url(legacy_cluster), data)  # a reload of the reveal page
    assert again.status_code == 303 and again["Location"] == admin_key_url(key) + "?repeated=1"
    page = client.get(again["Location"])
    html = page.content.decode()
    assert "already submitted" in html and "can no longer be shown" in html and "no-store" in page["Cache-Control"]
    assert secret not in html and f"…{key.postfix}" in html
    assert AdminKey.objects.count() == 1


def test_two_posts_of_one_form_at_once_mint_one_key(client_of, owner, legacy_cluster, monkeypatch):
    client = client_of(owner)
    data = admin_form_data()
    client.post(admin_create_url(legacy_cluster), data)
    real, calls = create_once.made_with, []

    def late(model, nonce):
        # Both lookups before minting ran before the other request committed its key.
        calls.append(nonce)
        return None if len(calls) <= 2 else real(model, nonce)

    monkeypatch.setattr(create_once, "made_with", late)
    again = client.post(admin_create_url(legacy_cluster), data)
    assert again.status_code == 303 and "repeated=1" in again["Location"]
    assert AdminKey.objects.count() == 1 and len(calls) == 3


def test_a_nonce_used_on_another_cluster_is_refused(client_of, owner, legacy_cluster, account):
    from tests.conftest import make_cluster

    second = make_cluster(account, name="old-second", created_at=legacy_cluster.created_at)
    client = client_of(owner)
    data = admin_form_data()
    client.post(admin_create_url(legacy_cluster), data)
    response = client.post(admin_create_url(second), data)
    assert response.status_code == 400 and 'id="id_nonce-error"' in response.content.decode()
    assert not AdminKey.objects.filter(cluster=second).exists()


# Stored as a digest


def test_only_a_postfix_and_a_peppered_digest_are_stored(legacy_cluster, settings):
    key, secret = make_admin_key(legacy_cluster)
    key.refresh_from_db()
    pepper = settings.API_KEY_PEPPERS[key.pepper_id]
    assert key.pepper_id == max(settings.API_KEY_PEPPERS)
    assert key.digest == hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()
    assert key.postfix == secret[-6:]
    assert token_matches(key, secret)
    assert not token_matches(key, secret[:-1] + ("A" if secret[-1] != "A" else "B"))


def test_a_new_pepper_does_not_invalidate_existing_admin_keys(legacy_cluster, settings, contract_client):
    from dataplane.keystore import load_key_set

    old_key, old_secret = make_admin_key(legacy_cluster, name="before rotation")
    settings.API_KEY_PEPPERS = settings.API_KEY_PEPPERS | {99: "n" * 40}
    new_key, new_secret = make_admin_key(legacy_cluster, name="after rotation")
    assert new_key.pepper_id == 99 and old_key.pepper_id != 99
    assert token_matches(old_key, old_secret) and token_matches(new_key, new_secret)
    # The data plane's key set finds each by the digest under its own pepper.
    key_set = load_key_set(contract_client)
    for key, secret in ((old_key, old_secret), (new_key, new_secret)):
        found = key_set.admin_key_for(secret)
        assert found is not None and found[1].id == str(key.id) and found[1].cluster_id == str(legacy_cluster.id)
    assert key_set.admin_key_for(old_secret[:-1] + ("x" if old_secret[-1] != "x" else "y")) is None


def test_the_data_plane_sees_live_admin_keys_only(legacy_cluster, owner, contract_client):
    from dataplane.keystore import load_key_set

    kept, _ = make_admin_key(legacy_cluster, name="kept", expires_at=timezone.now() + timedelta(days=3))
    deleted, _ = make_admin_key(legacy_cluster, name="deleted")
    admin_key_delete(key=deleted, by=owner)
    [((pepper_id, digest), entry)] = load_key_set(contract_client).admin_keys.items()
    assert (entry.id, entry.cluster_id, pepper_id, digest) == (
        str(kept.id), str(legacy_cluster.id), kept.pepper_id, kept.digest
    )
    assert entry.expires_at == kept.expires_at.timestamp()


def test_creating_and_deleting_an_admin_key_tell_the_data_plane(legacy_cluster, owner):
    from fronts.models import KeySetChange

    before = KeySetChange.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def changes() -> list[tuple]:  # since the cluster was made
        return list(KeySetChange.objects.filter(id__gt=before).order_by("id").values_list("kind", "cluster_id", "key_id"))

    key, _ = make_admin_key(legacy_cluster, by=owner)
    assert changes() == [("admin", legacy_cluster.id, key.id)]
    admin_key_delete(key=key, by=owner)
    assert changes() == [("admin", legacy_cluster.id, key.id)] * 2
    admin_key_delete(key=key, by=owner)  # already deleted: nothing changed
    assert len(changes()) == 2
    assert AuditEntry.objects.filter(action=Action.ADMIN_KEY_DELETED).count() == 1


# List and delete


def test_a_row_shows_name_postfix_creator_dates_and_last_use(client_of, owner, legacy_cluster):
    expires_at = timezone.now() + timedelta(days=10)
    key, secret = make_admin_key(legacy_cluster, by=owner, name="nightly", expires_at=expires_at)
    make_admin_key(legacy_cluster, name="forever")
    used_at = timezone.now() - timedelta(hours=2)
    AdminKey.objects.filter(id=key.id).update(last_used_at=used_at, last_used_ip="198.51.100.4")
    html = client_of(owner).get(cluster_url(legacy_cluster)).content.decode()
    by_name = {("nightly" in row): row for row in rows(html)}
    row = by_name[True]
    assert f"<code>…{secret[-6:]}</code>" in row and "alice" in row
    assert key.created_at.strftime("%Y-%m-%d") in row and key.expires_at.strftime("%Y-%m-%d") in row
    assert timezone.localtime(used_at).strftime("%Y-%m-%d %H:%M") in row and "198.51.100.4" in row
    assert "Never" not in row
    assert by_name[False].count("Never") == 2  # no expiry, never used
    assert secret not in html


def test_deleting_asks_first_then_revokes_and_audits(client_of, owner, legacy_cluster):
    key, _ = make_admin_key(legacy_cluster, by=owner, name="retire me")
    client = client_of(owner)
    confirm = client.get(admin_key_url(key, "delete")).content.decode()
    assert "Delete an admin key" in confirm and "Delete <strong>retire me</strong>" in confirm
    assert AdminKey.objects.live().count() == 1

    response = client.post(admin_key_url(key, "delete"), REMOTE_ADDR=CLIENT_IP)
    assert response.status_code == 302 and response["Location"] == cluster_url(legacy_cluster) + "#admin-keys"
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == owner
    page = client.get(response["Location"]).content.decode()
    assert "Deleted the admin key retire me" in page and rows(page) == []
    entry = AuditEntry.objects.get(action=Action.ADMIN_KEY_DELETED)
    assert (entry.actor, entry.client_ip, entry.target_id, entry.account) == (
        owner, CLIENT_IP, str(key.id), legacy_cluster.account
    )
    assert "was deleted on" in client.get(admin_key_url(key)).content.decode()
    assert client.post(admin_key_url(key, "delete")).status_code == 404  # deleted once


def test_creating_writes_an_audit_entry_with_the_client_ip(client_of, owner, legacy_cluster):
    client_of(owner).post(admin_create_url(legacy_cluster), admin_form_data(name="audited"), REMOTE_ADDR=CLIENT_IP)
    key = AdminKey.objects.get()
    entry = AuditEntry.objects.get(action=Action.ADMIN_KEY_CREATED)
    assert (entry.actor, entry.actor_name, entry.client_ip, entry.target_id, entry.target_name) == (
        owner, "alice", CLIENT_IP, str(key.id), f"audited (…{key.postfix}) on {legacy_cluster.name}"
    )


def test_the_audit_log_page_shows_admin_key_entries(client_of, owner, legacy_cluster):
    client = client_of(owner)
    client.post(admin_create_url(legacy_cluster), admin_form_data(name="audited key"), REMOTE_ADDR=CLIENT_IP)
    key = AdminKey.objects.get()
    client.post(admin_key_url(key, "delete"), REMOTE_ADDR="198.51.100.23")
    html = client.get(reverse("audit:log", kwargs={"account_id": legacy_cluster.account_id})).content.decode()
    assert "Admin key created" in html and "Admin key deleted" in html
    assert "audited key" in html and CLIENT_IP in html and "198.51.100.23" in html


def test_database_keys_are_audited_too(client_of, owner, cluster):
    client = client_of(owner)
    client.post(create_url(cluster), form_data(name="granular one"), REMOTE_ADDR=CLIENT_IP)
    key = DatabaseApiKey.objects.get()
    client.post(key_url(key, "delete"), REMOTE_ADDR="198.51.100.23")
    entries = dict(AuditEntry.objects.filter(target_type="databaseapikey").values_list("action", "client_ip"))
    assert entries == {Action.DATABASE_KEY_CREATED: CLIENT_IP, Action.DATABASE_KEY_DELETED: "198.51.100.23"}


# After granular access is enabled, and on current clusters


def test_after_enabling_existing_admin_keys_stay_listed_but_no_new_one_can_be_created(
    client_of, owner, legacy_cluster
):
    key, _ = make_admin_key(legacy_cluster, by=owner, name="still works")
    enable_granular_access(legacy_cluster)
    client = client_of(owner)
    html = client.get(cluster_url(legacy_cluster)).content.decode()
    assert "Admin Database API keys" in html and len(rows(html)) == 1 and "still works" in rows(html)[0]
    assert "data-create-admin-key" not in html and admin_create_url(legacy_cluster) not in html
    assert "these admin keys keep working" in html
    assert "data-create-key" in html  # granular database keys now

    forged = client.post(admin_create_url(legacy_cluster), admin_form_data())
    assert forged.status_code == 409
    assert "Granular access control is enabled on this cluster, so new admin keys cannot be created" in (
        forged.content.decode()
    )
    assert client.get(admin_create_url(legacy_cluster)).status_code == 409
    assert AdminKey.objects.count() == 1
    assert AuditEntry.objects.filter(action=Action.ADMIN_KEY_CREATED).count() == 1

    assert client.post(create_url(legacy_cluster), form_data()).status_code == 200
    assert DatabaseApiKey.objects.filter(cluster=legacy_cluster).count() == 1
    # The old keys can still be deleted; once the last is gone, the section goes too.
    assert client.post(admin_key_url(key, "delete")).status_code == 302
    assert "Admin Database API keys" not in client.get(cluster_url(legacy_cluster)).content.decode()


def test_no_admin_key_is_created_while_granular_access_is_being_enabled(
    client_of, owner, legacy_cluster, django_capture_on_commit_callbacks
):
    from clusters.restarts import granular_access_enable

    with django_capture_on_commit_callbacks(execute=False):
        granular_access_enable(cluster=legacy_cluster, by=owner, client_ip=None)
    assert Operation.objects.get().state == Operation.State.PENDING
    client = client_of(owner)
    assert "data-create-admin-key" not in client.get(cluster_url(legacy_cluster)).content.decode()
    response = client.post(admin_create_url(legacy_cluster), admin_form_data())
    assert response.status_code == 409 and "being enabled" in response.content.decode()
    assert not AdminKey.objects.exists()


def test_a_current_cluster_refuses_a_forged_admin_key(client_of, owner, cluster):
    client = client_of(owner)
    response = client.post(admin_create_url(cluster), admin_form_data())
    assert response.status_code == 409
    assert "Admin keys exist only on clusters created before 27 January 2025" in response.content.decode()
    assert client.get(admin_create_url(cluster)).status_code == 409
    assert not AdminKey.objects.exists() and not AuditEntry.objects.filter(target_type="adminkey").exists()


def test_the_service_refuses_current_and_enabled_clusters(cluster, legacy_cluster, owner):
    with pytest.raises(ValidationError, match="created before 27 January 2025"):
        make_admin_key(cluster, by=owner)
    enable_granular_access(legacy_cluster)
    with pytest.raises(ValidationError, match="Granular access control is enabled"):
        make_admin_key(legacy_cluster, by=owner)
    assert not AdminKey.objects.exists()


def test_the_service_reads_the_cluster_afresh(legacy_cluster, owner):
    """A cluster object loaded before enabling finished must not let a key through."""
    stale = Cluster.objects.get(id=legacy_cluster.id)
    enable_granular_access(legacy_cluster)
    assert not stale.jwt_rbac
    with pytest.raises(ValidationError):
        make_admin_key(stale, by=owner)


# Who may do what


@pytest.mark.parametrize("role", ["owner", "admin", "developer"])
def test_members_who_work_with_keys_can_create_and_delete_admin_keys(request, client_of, legacy_cluster, role):
    client = client_of(request.getfixturevalue(role))
    assert "data-create-admin-key" in client.get(cluster_url(legacy_cluster)).content.decode()
    assert client.get(admin_create_url(legacy_cluster)).status_code == 200
    assert client.post(admin_create_url(legacy_cluster), admin_form_data()).status_code == 200
    key = AdminKey.objects.get()
    assert client.get(admin_key_url(key)).status_code == 200
    assert client.get(admin_key_url(key, "delete")).status_code == 200
    assert client.post(admin_key_url(key, "delete")).status_code == 302
    assert not AdminKey.objects.live().exists()


def test_a_viewer_sees_admin_keys_but_cannot_create_or_delete_them(client_of, viewer, owner, legacy_cluster):
    key, _ = make_admin_key(legacy_cluster, by=owner, name="ops key")
    client = client_of(viewer)
    html = client.get(cluster_url(legacy_cluster)).content.decode()
    assert "ops key" in html and "data-create-admin-key" not in html and admin_key_url(key, "delete") not in html
    assert client.get(admin_key_url(key)).status_code == 200
    assert client.get(admin_create_url(legacy_cluster)).status_code == 403
    assert client.post(admin_create_url(legacy_cluster), admin_form_data()).status_code == 403
    assert client.get(admin_key_url(key, "delete")).status_code == 403
    assert client.post(admin_key_url(key, "delete")).status_code == 403
    assert AdminKey.objects.live().count() == 1 and AdminKey.objects.count() == 1


def test_an_outsider_finds_nothing(client_of, outsider, owner, legacy_cluster, other_account):
    key, _ = make_admin_key(legacy_cluster, by=owner)
    client = client_of(outsider)
    urls = [admin_create_url(legacy_cluster), admin_key_url(key), admin_key_url(key, "delete")]
    # The same ids under the outsider's own account are no better.
    urls += [url.replace(str(legacy_cluster.account_id), str(other_account.id)) for url in urls]
    for url in urls:
        assert client.get(url).status_code == 404, url
        assert client.post(url, admin_form_data()).status_code in (404, 405), url  # the key page is GET only
    assert AdminKey.objects.live().count() == 1


def test_an_admin_key_is_found_only_under_its_own_cluster(client_of, owner, legacy_cluster, account):
    from tests.conftest import make_cluster

    key, _ = make_admin_key(legacy_cluster)
    second = make_cluster(account, name="old-second", created_at=legacy_cluster.created_at)
    for name in ("detail", "delete"):
        wrong = admin_key_url(key, name).replace(str(legacy_cluster.id), str(second.id))
        assert client_of(owner).post(wrong).status_code in (404, 405)
        assert client_of(owner).get(wrong).status_code == 404
    assert AdminKey.objects.live().count() == 1


def test_state_changes_need_the_csrf_token(owner, legacy_cluster):
    from django.test import Client

    key, _ = make_admin_key(legacy_cluster)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(admin_create_url(legacy_cluster), admin_form_data()).status_code == 403
    assert client.post(admin_key_url(key, "delete")).status_code == 403
    assert AdminKey.objects.count() == 1 and AdminKey.objects.live().count() == 1


@pytest.mark.parametrize("count", [3, 300])
def test_the_admin_keys_of_a_legacy_cluster_cost_the_same_queries_however_many(
    client_of, owner, legacy_cluster, count
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.fixtures.apikeys import stored_admin_key

    for i in range(count):
        stored_admin_key(legacy_cluster, name=f"admin key {i:03d}")
    client = client_of(owner)
    client.get(cluster_url(legacy_cluster))  # warm up
    with CaptureQueriesContext(connection) as queries:
        html = client.get(cluster_url(legacy_cluster)).content.decode()
    assert len(rows(html)) == min(count, 25)
    # The cluster page's 10 less one (no database keys: their count, no page),
    # then the admin keys' count, one page of them, and whether granular
    # access is being enabled; the expiry banner's database keys and admin keys;
    # the account's key policy (once, for the "Breaks key policy" badges); the
    # cluster's usage rows for its traffic chart.
    assert len(queries) == 16


@pytest.mark.parametrize("name", ["detail", "edit", "delete", "roll", "disable", "enable"])
def test_the_key_pages_find_a_key_only_under_its_own_kind(client_of, owner, cluster, name):
    """One set of views serves both kinds (apikeys/views.py, apikeys/access.py): the URL's kind is part of the lookup."""
    from tests.fixtures.apikeys import make_key, stored_admin_key

    database_key, admin_key = make_key(cluster)[0], stored_admin_key(cluster)
    client = client_of(owner)
    assert client.get(key_url(database_key, name)).status_code != 404
    assert client.get(admin_key_url(admin_key, name)).status_code != 404
    kwargs = {"account_id": cluster.account_id, "cluster_id": cluster.id}
    assert client.get(reverse(f"apikeys:admin-{name}", kwargs=kwargs | {"key_id": database_key.id})).status_code == 404
    assert client.get(reverse(f"apikeys:{name}", kwargs=kwargs | {"key_id": admin_key.id})).status_code == 404
