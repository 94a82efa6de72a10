"""Access Management → Management keys in the console, and `manage.py create_management_key`."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import Membership
from managementkeys.models import ManagementKey
from managementkeys.services import management_key_create
from tests.test_api_support import api_client, url


def list_url(account) -> str:
    return reverse("managementkeys:list", kwargs={"account_id": account.id})


def create_url(account) -> str:
    return reverse("managementkeys:create", kwargs={"account_id": account.id})


def delete_url(key) -> str:
    return reverse("managementkeys:delete", kwargs={"account_id": key.account_id, "management_key_id": key.id})


def test_the_access_management_tabs_link_the_page(client_of, developer, account):
    page = client_of(developer).get(reverse("accounts:access", kwargs={"account_id": account.id})).content.decode()
    assert list_url(account) in page and "Management keys" in page


def test_create_shows_the_key_once_and_stores_only_its_prefix(client_of, developer, account):
    client = client_of(developer)
    assert client.get(create_url(account)).status_code == 200

    response = client.post(create_url(account))

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


def test_delete_asks_then_deletes(client_of, admin, owner, account):
    key, plaintext = management_key_create(account=account, by=owner)
    client = client_of(admin)

    confirm = client.get(delete_url(key))
    assert confirm.status_code == 200 and key.prefix in confirm.content.decode()
    assert ManagementKey.objects.filter(id=key.id).exists()

    response = client.post(delete_url(key))
    assert response.status_code == 302 and response.url == list_url(account)
    assert not ManagementKey.objects.filter(id=key.id).exists()
    assert api_client(plaintext).get(url("clusters", account)).status_code == 401


def test_a_viewer_sees_keys_but_cannot_create_or_delete(client_of, viewer, owner, account):
    key, _ = management_key_create(account=account, by=owner)
    client = client_of(viewer)
    page = client.get(list_url(account)).content.decode()
    assert key.prefix in page and create_url(account) not in page and delete_url(key) not in page
    assert client.get(create_url(account)).status_code == 403
    assert client.post(create_url(account)).status_code == 403
    assert client.post(delete_url(key)).status_code == 403
    assert ManagementKey.objects.count() == 1


def test_an_outsider_gets_404(client_of, outsider, owner, account):
    key, _ = management_key_create(account=account, by=owner)
    client = client_of(outsider)
    for path in (list_url(account), create_url(account), delete_url(key)):
        assert client.get(path).status_code == 404
        assert client.post(path).status_code in (404, 405)
    assert ManagementKey.objects.count() == 1


def test_a_key_whose_creator_left_is_marked_inactive(client_of, owner, developer, account):
    key, _ = management_key_create(account=account, by=developer)
    Membership.objects.filter(user=developer).delete()
    page = client_of(owner).get(list_url(account)).content.decode()
    row = page.split(f'data-key-id="{key.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Inactive" in row


def test_only_members_can_own_a_key(outsider, account):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        management_key_create(account=account, by=outsider)
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
