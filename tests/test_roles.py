"""Access Management → Roles in the console: the system and custom roles with
what they allow in words, creating, editing and deleting custom roles, and
members and invitations holding them."""

import re

import pytest
from django.urls import reverse

from accounts.models import CustomRole, Invitation, Membership
from accounts.roles import PERMISSION_DESCRIPTIONS, Role
from audit.models import Action, AuditEntry
from createonce.forms import new_nonce
from tests.conftest import make_user
from tests.test_api_support import api_as, assert_error, key_body, post_json, url


def roles_url(account, name="roles", **kwargs):
    return reverse(f"accounts:{name}", kwargs={"account_id": account.id, **kwargs})


@pytest.fixture
def deployers(account):
    return CustomRole.objects.create(
        account=account, name="Deployers", description="Ship", permissions=["read:clusters", "write:api_keys"]
    )


def test_the_roles_page_lists_system_and_custom_roles_with_their_permissions_in_words(client_of, viewer, account, deployers):
    page = client_of(viewer).get(roles_url(account)).content.decode()
    names = re.findall(r'<li class="role-card" data-role="([^"]+)"', page)
    assert names == ["Owner", "Admin", "Developer", "Viewer", "Deployers"]
    card = re.search(r'data-role="Deployers".*?</li>\s*(?=<li|</ul>\s*</section>)', page, re.S).group(0)
    assert "Custom" in card and PERMISSION_DESCRIPTIONS["write:api_keys"] in card
    assert "delete:clusters" not in card
    # A viewer may look, not change.
    assert "Create role" not in page and ">Edit<" not in page and ">Delete<" not in page


def test_an_owner_creates_a_role_with_the_picker(client_of, owner, account):
    client = client_of(owner)
    form = client.get(roles_url(account, "role-create")).content.decode()
    assert form.count('type="checkbox" name="permissions"') == 23
    assert "<legend>Cluster API Keys</legend>" in form and PERMISSION_DESCRIPTIONS["restore:backups"] in form
    response = client.post(
        roles_url(account, "role-create"),
        {"name": "Deployers", "description": "Ship", "permissions": ["write:api_keys", "read:clusters"]},
    )
    assert response.status_code == 302
    role = CustomRole.objects.get()
    assert role.name == "Deployers" and role.permissions == ["read:clusters", "write:api_keys"]
    assert AuditEntry.objects.get(action=Action.ROLE_CREATED).actor == owner


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "", "permissions": ["read:clusters"]}, "Give the role a name."),
        ({"name": "Bad", "permissions": ["read:everything"]}, "read:everything is not a permission."),
        ({"name": "Bad"}, "Pick at least one permission."),
        ({"name": "developer", "permissions": ["read:clusters"]}, "developer is the name of a system role."),
    ],
)
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_made(client_of, owner, account, data, message):
    response = client_of(owner).post(roles_url(account, "role-create"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not CustomRole.objects.exists()


def test_an_admin_cannot_make_a_role_with_what_they_lack(client_of, admin, account):
    response = client_of(admin).post(roles_url(account, "role-create"), {"name": "Takeover", "permissions": ["write:account"]})
    assert response.status_code == 400 and "write:account" in response.content.decode()
    assert not CustomRole.objects.exists()


def test_editing_a_role_keeps_its_checked_permissions_and_audits_the_change(client_of, owner, account, deployers):
    client = client_of(owner)
    form = client.get(roles_url(account, "role-edit", role_id=deployers.id)).content.decode()
    checked = re.findall(r'value="([a-z_:]+)" id="perm-[^"]+" checked', form)
    assert checked == ["read:clusters", "write:api_keys"]
    response = client.post(
        roles_url(account, "role-edit", role_id=deployers.id),
        {"name": "Deployers", "description": "Ship", "permissions": ["read:clusters", "read:backups"]},
    )
    assert response.status_code == 302
    deployers.refresh_from_db()
    assert deployers.permissions == ["read:clusters", "read:backups"]
    assert AuditEntry.objects.get(action=Action.ROLE_CHANGED).detail == "+read:backups; −write:api_keys"


def test_a_role_in_use_is_not_deleted_and_the_page_says_why(client_of, owner, account, deployers):
    Membership.objects.create(account=account, user=make_user("dan"), custom_role=deployers)
    response = client_of(owner).post(roles_url(account, "role-delete", role_id=deployers.id))
    assert response.status_code == 400
    page = response.content.decode()
    actions = re.search(r'<div class="actions">.*?</div>', page, re.S).group(0)
    assert "Deployers is in use: give its 1 member another role first." in actions
    assert CustomRole.objects.filter(id=deployers.id).exists()


def test_an_unused_role_is_deleted(client_of, owner, account, deployers):
    assert client_of(owner).post(roles_url(account, "role-delete", role_id=deployers.id)).status_code == 302
    assert not CustomRole.objects.exists()
    assert AuditEntry.objects.filter(action=Action.ROLE_DELETED, target_name="Deployers").exists()


def test_another_accounts_role_is_not_found(client_of, owner, account, other_account):
    theirs = CustomRole.objects.create(account=other_account, name="Theirs", permissions=["read:clusters"])
    client = client_of(owner)
    for name in ("role-edit", "role-delete"):
        assert client.get(roles_url(account, name, role_id=theirs.id)).status_code == 404
        assert client.post(roles_url(account, name, role_id=theirs.id), {"name": "x"}).status_code == 404
    assert CustomRole.objects.get(id=theirs.id).name == "Theirs"


def test_the_members_page_gives_a_custom_role_and_the_invite_form_offers_it(client_of, owner, viewer, account, deployers):
    client = client_of(owner)
    member = Membership.objects.get(user=viewer)
    edit_url = reverse("accounts:member-edit", kwargs={"account_id": account.id, "member_id": member.public_id})
    form = client.get(edit_url).content.decode()
    assert '<optgroup label="Custom roles">' in form and f'value="{deployers.id}"' in form
    assert client.post(edit_url, {"role": str(deployers.id)}).status_code == 302
    member.refresh_from_db()
    assert member.custom_role == deployers and member.role == ""
    assert AuditEntry.objects.get(action=Action.MEMBER_ROLE_CHANGED).detail == "Viewer → Deployers"
    row = re.search(r'<tr data-member="victor">.*?</tr>', client.get(reverse("accounts:access", args=[account.id])).content.decode(), re.S)
    assert "Deployers" in row.group(0)

    invite_url = reverse("accounts:invite", kwargs={"account_id": account.id})
    assert f'value="{deployers.id}"' in client.get(invite_url).content.decode()
    assert client.post(invite_url, {"email": "new@example.com", "role": str(deployers.id), "nonce": new_nonce()}).status_code == 200
    assert Invitation.objects.get().custom_role == deployers


def test_an_admin_is_not_offered_a_custom_role_with_more_than_they_hold(client_of, admin, viewer, account):
    big = CustomRole.objects.create(account=account, name="Big", permissions=["delete:account"])
    member = Membership.objects.get(user=viewer)
    edit_url = reverse("accounts:member-edit", kwargs={"account_id": account.id, "member_id": member.public_id})
    client = client_of(admin)
    assert f'value="{big.id}"' not in client.get(edit_url).content.decode()
    assert client.post(edit_url, {"role": str(big.id)}).status_code == 400
    member.refresh_from_db()
    assert member.role == Role.VIEWER


def test_a_member_with_a_custom_role_lacking_write_api_keys_cannot_create_a_key_until_it_has_it(client_of, owner, account, cluster):
    dan = make_user("dan")
    readers = CustomRole.objects.create(account=account, name="Readers", permissions=["read:clusters", "read:api_keys"])
    Membership.objects.create(account=account, user=dan, custom_role=readers)
    create_url = reverse("apikeys:create", kwargs={"account_id": account.id, "cluster_id": cluster.id})
    client = client_of(dan)
    assert client.get(reverse("clusters:list", args=[account.id])).status_code == 200
    assert client.get(create_url).status_code == 403
    assert_error(post_json(api_as(dan, account), url("database-api-keys", account), key_body(cluster)), 403, 7, "write:api_keys")

    client_of(owner).post(
        roles_url(account, "role-edit", role_id=readers.id),
        {"name": "Readers", "permissions": ["read:clusters", "read:api_keys", "write:api_keys"]},
    )
    assert client_of(dan).get(create_url).status_code == 200
    assert post_json(api_as(dan, account), url("database-api-keys", account), key_body(cluster)).status_code == 200


def test_a_member_without_read_roles_still_sees_what_their_own_role_allows(client_of, account):
    shippers = CustomRole.objects.create(account=account, name="Shippers", permissions=["read:clusters"])
    sam = make_user("sam")
    Membership.objects.create(account=account, user=sam, custom_role=shippers)
    client = client_of(sam)
    assert client.get(roles_url(account)).status_code == 403
    assert client.get(reverse("accounts:access", args=[account.id])).status_code == 403
    page = client.get(roles_url(account, "my-role")).content.decode()
    assert "Your role in Acme" in page and PERMISSION_DESCRIPTIONS["read:clusters"] in page
    assert PERMISSION_DESCRIPTIONS["write:clusters"] not in page
    # The sidebar's Access Management leads there, not to a page they may not open.
    nav = re.search(r'<nav class="nav".*?</nav>', client.get(reverse("clusters:list", args=[account.id])).content.decode(), re.S)
    assert roles_url(account, "my-role") in nav.group(0)


def test_an_invitation_with_a_custom_role_joins_with_it_and_an_expired_one_does_not_hold_it(owner, account, deployers):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services import custom_role_delete, invitation_accept, invitation_create

    invitation, secret = invitation_create(account=account, email="dan@example.com", role=deployers, by=owner)
    dan = make_user("dan")
    membership = invitation_accept(invitation_id=invitation.id, secret=secret, user=dan)
    assert membership.custom_role == deployers and membership.permissions == {"read:clusters", "write:api_keys"}
    assert membership.get_role_display() == "Deployers"

    # Once no member holds it, an expired invitation does not keep it in use.
    membership.delete()
    stale, _ = invitation_create(account=account, email="eve@example.com", role=deployers, by=owner)
    Invitation.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    custom_role_delete(role=deployers, by=owner.memberships.get())
    stale.refresh_from_db()
    assert stale.custom_role is None and stale.get_role_display() == "a deleted role"
