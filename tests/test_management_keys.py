"""Access Management → Management keys in the console, and `manage.py create_management_key`."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from createonce import services as create_once
from createonce.forms import new_nonce
from audit.models import Action, AuditEntry
from managementkeys import views
from managementkeys.models import ManagementKey
from managementkeys.services import management_key_create
from tests.test_api_support import api_client, post_json, url

CLIENT_IP = "203.0.113.9"
SCOPE = {"permissions": ["read:clusters", "read:management_keys"], "cluster_scope": "all"}
FORM = {"name": "ci deploy", "expires_in_days": "90"} | SCOPE


def list_url(account) -> str:
    return reverse("managementkeys:list", kwargs={"account_id": account.id})


def create_url(account) -> str:
    return reverse("managementkeys:create", kwargs={"account_id": account.id})


def delete_url(key) -> str:
    return reverse("managementkeys:delete", kwargs={"account_id": key.account_id, "management_key_id": key.id})


def nonce_of(response) -> str:
    """The one-time nonce of a create page."""
    return re.search(r'name="nonce" value="([^"]+)"', response.content.decode())[1]


def test_the_access_management_tabs_link_the_page(client_of, developer, account):
    page = client_of(developer).get(reverse("accounts:access", kwargs={"account_id": account.id})).content.decode()
    assert list_url(account) in page and "Management keys" in page


def test_create_shows_the_key_once_and_stores_only_its_prefix(client_of, developer, account):
    client = client_of(developer)
    form = client.get(create_url(account))
    assert form.status_code == 200

    response = client.post(create_url(account), {"nonce": nonce_of(form)} | FORM)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = ManagementKey.objects.get()
    page = response.content.decode()
    plaintext = page.split("data-secret>", 1)[1].split("<", 1)[0]
    assert plaintext.startswith(key.prefix + ".") and key.created_by == developer
    assert plaintext not in str(vars(key))
    # it works against the API, and the list shows the prefix but never the key again
    assert api_client(plaintext).get(url("clusters", account)).status_code == 200
    listed = client.get(list_url(account)).content.decode()
    assert f"{key.prefix}…" in listed and plaintext.split(".")[1] not in listed


def test_a_repeated_post_creates_no_second_key(client_of, developer, account):
    client = client_of(developer)
    data = {"nonce": nonce_of(client.get(create_url(account)))} | FORM
    assert client.post(create_url(account), data).status_code == 200
    key = ManagementKey.objects.get()

    again = client.post(create_url(account), data)  # a reload of the reveal page, or a double click

    assert again.status_code == 303 and again["Location"] == list_url(account)
    assert ManagementKey.objects.count() == 1
    listed = client.get(list_url(account)).content.decode()
    assert f"The management key ci deploy ({key.prefix}…) was already created" in listed and "can no longer be shown" in listed


def test_of_two_posts_at_once_only_one_mints(client_of, developer, account, monkeypatch):
    first, _ = management_key_create(name="test key", account=account, by=developer, nonce="r" * 22)
    found = create_once.made_with
    lookups = []

    def racing(model, nonce):
        # Both lookups before minting ran before the other request committed its key.
        lookups.append(nonce)
        return None if len(lookups) <= 2 else found(model, nonce)

    monkeypatch.setattr(create_once, "made_with", racing)
    response = client_of(developer).post(create_url(account), {"nonce": "r" * 22} | FORM)
    assert response.status_code == 303 and list(ManagementKey.objects.all()) == [first]


def test_an_integrity_error_that_is_not_about_the_nonce_is_not_hidden(client_of, developer, account, monkeypatch):
    def broken(**kwargs):
        raise IntegrityError("something else")

    monkeypatch.setattr(views, "management_key_create", broken)
    client = client_of(developer)
    client.raise_request_exception = True
    with pytest.raises(IntegrityError):
        client.post(create_url(account), {"nonce": "r" * 22} | FORM)


def test_each_create_page_has_its_own_nonce(client_of, developer, account):
    client = client_of(developer)
    for _ in range(2):
        assert client.post(create_url(account), {"nonce": nonce_of(client.get(create_url(account)))} | FORM).status_code == 200
    assert ManagementKey.objects.count() == 2


@pytest.mark.parametrize("nonce", [None, "", "abc\x00" * 8, "x" * 200, "short", "n" * 22 + "\u00e9"])
def test_a_forged_nonce_gets_a_form_error_not_a_500(client_of, developer, account, nonce):
    response = client_of(developer).post(create_url(account), FORM if nonce is None else {"nonce": nonce} | FORM)
    assert response.status_code == 400
    assert 'id="id_nonce-error"' in response.content.decode()
    assert nonce_of(response) != nonce  # a fresh one to submit again with
    assert not ManagementKey.objects.exists()


def test_a_nonce_used_in_another_account_is_refused(client_of, owner, account, other_account, outsider):
    theirs, _ = management_key_create(name="test key", account=other_account, by=outsider, nonce="n" * 22)
    response = client_of(owner).post(create_url(account), {"nonce": "n" * 22} | FORM)
    assert response.status_code == 400 and "already used in another account" in response.content.decode()
    assert list(ManagementKey.objects.all()) == [theirs]


def test_create_and_delete_are_audited_with_the_client_ip(client_of, owner, account):
    client = client_of(owner)
    nonce = nonce_of(client.get(create_url(account)))
    client.post(create_url(account), {"nonce": nonce} | FORM, REMOTE_ADDR=CLIENT_IP)
    key = ManagementKey.objects.get()
    client.post(delete_url(key), REMOTE_ADDR="198.51.100.23")

    entries = AuditEntry.objects.filter(target_id=str(key.id)).order_by("created_at")
    assert [(e.action, e.actor, e.client_ip, e.target_type, e.target_name) for e in entries] == [
        (Action.MANAGEMENT_KEY_CREATED, owner, CLIENT_IP, "managementkey", f"ci deploy ({key.prefix}…)"),
        (Action.MANAGEMENT_KEY_DELETED, owner, "198.51.100.23", "managementkey", f"ci deploy ({key.prefix}…)"),
    ]
    html = client.get(reverse("audit:log", kwargs={"account_id": account.id})).content.decode()
    assert "Management key created" in html and "Management key deleted" in html and f"{key.prefix}…" in html


def test_the_api_audits_create_and_delete_too(owner, account):
    client = api_client(management_key_create(name="test key", account=account, by=owner)[1], REMOTE_ADDR=CLIENT_IP)
    created = post_json(client, url("management-keys", account), {"managementKey": {}}).json()["managementKey"]
    client.delete(url("management-key", account, management_key_id=created["id"]))
    entries = AuditEntry.objects.filter(target_id=created["id"])
    assert {(e.action, e.actor, e.client_ip) for e in entries} == {
        (Action.MANAGEMENT_KEY_CREATED, owner, CLIENT_IP),
        (Action.MANAGEMENT_KEY_DELETED, owner, CLIENT_IP),
    }


def test_delete_asks_then_deletes(client_of, admin, owner, account):
    key, plaintext = management_key_create(name="test key", account=account, by=owner)
    client = client_of(admin)

    confirm = client.get(delete_url(key))
    assert confirm.status_code == 200 and key.prefix in confirm.content.decode()
    assert ManagementKey.objects.filter(id=key.id).exists()

    response = client.post(delete_url(key))
    assert response.status_code == 302 and response.url == list_url(account)
    assert not ManagementKey.objects.filter(id=key.id).exists()
    assert api_client(plaintext).get(url("clusters", account)).status_code == 401


def test_a_viewer_sees_keys_but_cannot_create_or_delete(client_of, viewer, owner, account):
    key, _ = management_key_create(name="test key", account=account, by=owner)
    client = client_of(viewer)
    page = client.get(list_url(account)).content.decode()
    assert key.prefix in page and create_url(account) not in page and delete_url(key) not in page
    assert client.get(create_url(account)).status_code == 403
    assert client.post(create_url(account)).status_code == 403
    assert client.post(delete_url(key)).status_code == 403
    assert ManagementKey.objects.count() == 1


def test_an_outsider_gets_404(client_of, outsider, owner, account):
    key, _ = management_key_create(name="test key", account=account, by=owner)
    client = client_of(outsider)
    for path in (list_url(account), create_url(account), delete_url(key)):
        assert client.get(path).status_code == 404
        assert client.post(path).status_code in (404, 405)
    assert ManagementKey.objects.count() == 1


def test_a_key_whose_creator_left_is_marked_inactive(client_of, owner, developer, account):
    key, _ = management_key_create(name="test key", account=account, by=developer)
    Membership.objects.filter(user=developer).delete()
    page = client_of(owner).get(list_url(account)).content.decode()
    row = page.split(f'data-key-id="{key.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Inactive" in row


def test_only_members_can_own_a_key(outsider, account):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        management_key_create(name="test key", account=account, by=outsider)
    assert not ManagementKey.objects.exists()


@pytest.mark.parametrize("account_by,user_by", [("name", "username"), ("id", "email")])
def test_the_command_prints_the_key_alone_on_the_last_line(developer, account, account_by, user_by):
    out = StringIO()
    call_command(
        "create_management_key",
        "--account",
        account.name if account_by == "name" else str(account.id),
        "--user",
        developer.username if user_by == "username" else developer.email,
        stdout=out,
    )
    plaintext = out.getvalue().rstrip("\n").splitlines()[-1]
    key = ManagementKey.objects.get()
    assert plaintext.startswith(key.prefix + ".") and " " not in plaintext
    assert key.created_by == developer and key.account == account
    response = api_client(plaintext).get(url("iam-effective-permissions", account))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "account_name,username,message",
    [("Nope", "alice", "No account"), ("Acme", "nobody", "No user"), ("Acme", "charlie", "not a member")],
)
def test_the_command_refuses_what_cannot_work(owner, outsider, account, account_name, username, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_management_key", "--account", account_name, "--user", username, stdout=StringIO())
    assert not ManagementKey.objects.exists()


def test_a_key_needs_a_name_and_expires_in_90_days_unless_told(client_of, developer, account):
    client = client_of(developer)
    form = client.get(create_url(account))
    assert 'name="expires_in_days" value="90"' in form.content.decode()
    nameless = client.post(create_url(account), {"nonce": nonce_of(form), "expires_in_days": "90"})
    assert nameless.status_code == 400 and "Give the key a name." in nameless.content.decode()
    too_long = client.post(create_url(account), {"nonce": nonce_of(form), "name": "ci deploy", "expires_in_days": "3651"})
    assert too_long.status_code == 400 and "At most 3650 days" in too_long.content.decode()
    assert not ManagementKey.objects.exists()

    client.post(create_url(account), {"nonce": nonce_of(form), "name": "ci deploy", "expires_in_days": "90"} | SCOPE)
    key = ManagementKey.objects.get()
    assert key.name == "ci deploy"
    assert timedelta(days=89, hours=23) < key.expires_at - timezone.now() <= timedelta(days=90)
    never = client.post(create_url(account), {"nonce": new_nonce(), "name": "forever", "expires_in_days": ""} | SCOPE)
    assert never.status_code == 200 and ManagementKey.objects.get(name="forever").expires_at is None


def test_the_reveal_page_has_a_copy_button_and_the_list_shows_name_expiry_and_last_use(client_of, owner, account):
    client = client_of(owner)
    reveal = client.post(create_url(account), {"nonce": new_nonce()} | FORM).content.decode()
    assert "data-copy-secret" in reveal and "data-reveal" in reveal and "apikeys/keys.js" in reveal
    key = ManagementKey.objects.get()
    ManagementKey.objects.filter(id=key.id).update(last_used_at=timezone.now().replace(year=2026, month=5, day=6))
    row = re.search(rf'<tr data-key-id="{key.id}">.*?</tr>', client.get(list_url(account)).content.decode(), re.S)[0]
    assert "ci deploy" in row and f"{key.expires_at:%Y-%m-%d}" in row and "2026-05-06" in row


def test_an_expired_key_is_refused_as_unauthenticated(owner, account):
    key, plaintext = management_key_create(
        name="short lived", account=account, by=owner, expires_at=timezone.now() + timedelta(hours=1)
    )
    assert api_client(plaintext).get(url("clusters", account)).status_code == 200
    ManagementKey.objects.filter(id=key.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client(plaintext).get(url("clusters", account))
    assert response.status_code == 401 and response.json()["code"] == 16
    assert "expired" in response.json()["message"]
    page_row = ManagementKey.objects.get(id=key.id)
    assert page_row.is_expired


def test_the_service_refuses_an_expiry_past_ten_years(owner, account):
    with pytest.raises(ValidationError):
        management_key_create(name="too long", account=account, by=owner, expires_at=timezone.now() + timedelta(days=3651))


def test_the_api_takes_an_optional_name_and_expiry(owner, account):
    from tests.test_api_support import api_as

    client = api_as(owner, account)
    when = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    body = {"managementKey": {"name": "terraform", "expiresAt": when.isoformat().replace("+00:00", "Z")}}
    created = post_json(client, url("management-keys", account), body).json()["managementKey"]
    key = ManagementKey.objects.get(id=created["id"])
    assert key.name == "terraform" and key.expires_at == when
    unnamed = post_json(client, url("management-keys", account), {"managementKey": {}}).json()["managementKey"]
    assert ManagementKey.objects.get(id=unnamed["id"]).name.startswith("created ")
    past = post_json(client, url("management-keys", account), {"managementKey": {"expiresAt": "2020-01-01T00:00:00Z"}})
    assert past.status_code == 400 and "expiresAt" in past.json()["message"]
    bad_name = post_json(client, url("management-keys", account), {"managementKey": {"name": "no/slashes"}})
    assert bad_name.status_code == 400 and "managementKey.name" in bad_name.json()["message"]
