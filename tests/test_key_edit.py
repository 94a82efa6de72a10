"""Editing a key's name and description: no new secret, an audit entry, and
bad input refused next to its field with nothing changed (console and API)."""

from django.urls import reverse

from apikeys.models import AdminKey, DatabaseApiKey
from audit.models import Action, AuditEntry
from tests.fixtures.apikeys import make_admin_key, make_key
from tests.test_api_support import api_as, assert_error, post_json


def edit_url(key) -> str:
    return key.get_edit_url()


def api_update_url(account, key) -> str:
    return reverse("api:database-api-key-update", kwargs={"account_id": account.id, "database_api_key_id": key.id})


def test_owner_renames_a_key_and_describes_it_without_a_new_secret(client_of, owner, cluster):
    key, token = make_key(cluster, by=owner, name="old name")
    digest = key.digest
    client = client_of(owner)
    response = client.post(edit_url(key), {"name": "search frontend", "description": "Used by the web app"})
    assert response.status_code == 302 and response["Location"] == key.get_absolute_url()
    key.refresh_from_db()
    assert (key.name, key.description, key.digest) == ("search frontend", "Used by the web app", digest)
    page = client.get(key.get_absolute_url()).content.decode()
    assert "search frontend" in page and "Used by the web app" in page and token not in page
    entry = AuditEntry.objects.get(action=Action.DATABASE_KEY_EDITED)
    assert entry.actor == owner and "old name" in entry.detail and "search frontend" in entry.detail


def test_a_bad_name_is_refused_next_to_the_field_and_changes_nothing(client_of, owner, cluster):
    key, _ = make_key(cluster, by=owner, name="keep this")
    response = client_of(owner).post(edit_url(key), {"name": "ab", "description": "x" * 501})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_name-error"' in html and "at least 4 characters" in html
    assert 'id="id_description-error"' in html and "at most 500 characters" in html
    key.refresh_from_db()
    assert (key.name, key.description) == ("keep this", "")
    assert not AuditEntry.objects.filter(action=Action.DATABASE_KEY_EDITED).exists()


def test_an_admin_key_is_renamed_too(client_of, owner, legacy_cluster):
    key, _ = make_admin_key(legacy_cluster, by=owner, name="legacy admin")
    response = client_of(owner).post(edit_url(key), {"name": "legacy admin key", "description": ""})
    assert response.status_code == 302
    assert AdminKey.objects.get(id=key.id).name == "legacy admin key"
    assert AuditEntry.objects.filter(action=Action.ADMIN_KEY_EDITED).count() == 1


def test_viewer_cannot_edit_and_outsider_gets_404(client_of, owner, viewer, outsider, cluster):
    key, _ = make_key(cluster, by=owner, name="untouched")
    assert client_of(viewer).post(edit_url(key), {"name": "taken over"}).status_code == 403
    assert client_of(outsider).post(edit_url(key), {"name": "taken over"}).status_code == 404
    assert DatabaseApiKey.objects.get(id=key.id).name == "untouched"


def test_a_deleted_key_cannot_be_edited(client_of, owner, cluster):
    from apikeys.services import database_key_delete

    key, _ = make_key(cluster, by=owner)
    database_key_delete(key=key, by=owner)
    assert client_of(owner).get(edit_url(key)).status_code == 404


def test_the_api_updates_name_and_description_as_an_extension(owner, account, cluster):
    key, _ = make_key(cluster, by=owner, name="api named")
    client = api_as(owner, account)
    response = post_json(client, api_update_url(account, key), {"name": "api renamed", "description": "batch jobs"})
    assert response.status_code == 200, response.content
    assert response.json()["databaseApiKey"]["name"] == "api renamed" and "key" not in response.json()["databaseApiKey"]
    key.refresh_from_db()
    assert (key.name, key.description) == ("api renamed", "batch jobs")


def test_the_api_refuses_a_bad_name_and_changes_nothing(owner, account, cluster):
    key, _ = make_key(cluster, by=owner, name="api named")
    response = post_json(api_as(owner, account), api_update_url(account, key), {"name": "a!"})
    assert_error(response, 400, 3, "databaseApiKey.name")
    assert DatabaseApiKey.objects.get(id=key.id).name == "api named"


def test_the_api_answers_not_found_for_another_accounts_key(owner, account, outsider, other_account, other_cluster):
    key, _ = make_key(other_cluster, by=outsider, name="their key")
    response = post_json(api_as(owner, account), api_update_url(account, key), {"name": "mine now"})
    assert_error(response, 404, 5)
    assert DatabaseApiKey.objects.get(id=key.id).name == "their key"


def test_a_management_key_is_renamed_and_a_bad_name_changes_nothing(client_of, owner, account):
    from managementkeys.models import ManagementKey
    from managementkeys.services import management_key_create

    key, plaintext = management_key_create(name="ci deploy", account=account, by=owner)
    url = reverse("managementkeys:rename", kwargs={"account_id": account.id, "management_key_id": key.id})
    client = client_of(owner)
    refused = client.post(url, {"name": "é!"})
    assert refused.status_code == 400 and 'id="id_name-error"' in refused.content.decode()
    assert ManagementKey.objects.get(id=key.id).name == "ci deploy"
    assert client.post(url, {"name": "ci deploy prod"}).status_code == 302
    renamed = ManagementKey.objects.get(id=key.id)
    assert (renamed.name, renamed.digest) == ("ci deploy prod", key.digest)
    assert AuditEntry.objects.filter(action=Action.MANAGEMENT_KEY_EDITED, detail__contains="ci deploy prod").exists()
    assert plaintext not in client.get(reverse("managementkeys:list", kwargs={"account_id": account.id})).content.decode()


def test_the_api_renames_a_management_key_as_an_extension(owner, account):
    from managementkeys.models import ManagementKey
    from managementkeys.services import management_key_create

    key, _ = management_key_create(name="ci deploy", account=account, by=owner)
    update = reverse("api:management-key-update", kwargs={"account_id": account.id, "management_key_id": key.id})
    client = api_as(owner, account)
    assert_error(post_json(client, update, {"name": "x"}), 400, 3, "managementKey.name")
    assert ManagementKey.objects.get(id=key.id).name == "ci deploy"
    response = post_json(client, update, {"name": "ci deploy prod"})
    assert response.status_code == 200 and response.json()["managementKey"]["name"] == "ci deploy prod"
    assert ManagementKey.objects.get(id=key.id).name == "ci deploy prod"


def test_a_description_set_by_the_api_is_read_back_by_the_api(owner, account, cluster):
    from tests.test_api_support import url

    key, _ = make_key(cluster, by=owner, name="described key")
    client = api_as(owner, account)
    listed = client.get(url("database-api-keys", account)).json()["items"][0]
    assert "description" not in listed  # empty: left out, as grpc-gateway leaves out a proto3 default
    updated = post_json(client, api_update_url(account, key), {"description": "nightly import"}).json()
    assert updated["databaseApiKey"]["description"] == "nightly import"
    listed = client.get(url("database-api-keys", account)).json()["items"][0]
    assert listed["description"] == "nightly import"
