"""One rule for every change of a role or of who holds it (accounts.services.role_change_check):
the caller holds every permission of the role before and after, and the account keeps an owner,
whether the change comes from a console form or from IAMService.

The set-up is the red team's: the owner made "Everything" (every permission) and gave it to carol;
bob's custom role administers users and roles but holds no write:account.
"""

import pytest
from django.urls import reverse

from accounts.models import CustomRole, Invitation, Membership
from accounts.roles import PERMISSIONS, Role
from accounts.services import GrantRefused, invitation_create
from audit.models import Action, AuditEntry
from createonce.forms import new_nonce
from tests.conftest import make_user
from tests.test_api_support import api_as, assert_error, post_json, put_json, url

ROLE_ADMIN = ["read:users", "write:users", "delete:users", "read:roles", "write:roles", "delete:roles"]


@pytest.fixture
def everything(account):
    return CustomRole.objects.create(account=account, name="Everything", permissions=list(PERMISSIONS))


@pytest.fixture
def carol(account, everything):
    user = make_user("carol")
    Membership.objects.create(account=account, user=user, custom_role=everything)
    return user


@pytest.fixture
def bob(account, owner):
    admins = CustomRole.objects.create(account=account, name="Role admins", permissions=ROLE_ADMIN)
    user = make_user("bob")
    Membership.objects.create(account=account, user=user, custom_role=admins)
    return user


@pytest.fixture
def readers(account):
    return CustomRole.objects.create(account=account, name="Readers", permissions=["read:users"])


def page(account, name, **kwargs):
    return reverse(f"accounts:{name}", kwargs={"account_id": account.id, **kwargs})


def member_id(user):
    return Membership.objects.get(user=user).public_id


def permissions_of(role):
    role.refresh_from_db()
    return role.permissions


def test_the_role_form_refuses_to_narrow_a_role_that_holds_more_than_the_editor(client_of, bob, carol, account, everything):
    # read:users is bob's to give: what refuses it is what the role loses.
    response = client_of(bob).post(
        page(account, "role-edit", role_id=everything.id), {"name": "Everything", "permissions": ["read:users"]}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_permissions-error"' in body and "write:account" in body
    assert permissions_of(everything) == list(PERMISSIONS)
    # carol keeps Access Management.
    assert client_of(carol).get(page(account, "access")).status_code == 200
    assert not AuditEntry.objects.filter(action=Action.ROLE_CHANGED).exists()


def test_the_role_form_lets_the_editor_change_a_role_within_what_they_hold(client_of, bob, account, readers):
    response = client_of(bob).post(
        page(account, "role-edit", role_id=readers.id), {"name": "Readers", "permissions": ["read:users", "read:roles"]}
    )
    assert response.status_code == 302
    assert permissions_of(readers) == ["read:users", "read:roles"]


def test_an_owner_narrows_the_role_with_the_same_form(client_of, owner, account, everything):
    response = client_of(owner).post(
        page(account, "role-edit", role_id=everything.id), {"name": "Everything", "permissions": ["read:clusters"]}
    )
    assert response.status_code == 302 and permissions_of(everything) == ["read:clusters"]


def test_update_role_refuses_the_same_change(bob, account, everything):
    body = {"role": {"name": "Everything", "permissions": [{"value": "read:users"}]}}
    response = put_json(api_as(bob, account), url("iam-role", account, role_id=everything.id), body)
    assert_error(response, 403, 7, "write:account")
    assert permissions_of(everything) == list(PERMISSIONS)


def test_update_role_refuses_a_permission_the_caller_lacks(bob, account, readers):
    body = {"role": {"name": "Readers", "permissions": [{"value": "read:users"}, {"value": "write:account"}]}}
    response = put_json(api_as(bob, account), url("iam-role", account, role_id=readers.id), body)
    assert_error(response, 403, 7, "write:account")
    assert permissions_of(readers) == ["read:users"]


def test_create_role_refuses_more_than_the_caller_holds(bob, account):
    body = {"role": {"name": "Takeover", "permissions": [{"value": "write:account"}]}}
    assert_error(post_json(api_as(bob, account), url("iam-roles", account), body), 403, 7, "write:account")
    assert not CustomRole.objects.filter(name="Takeover").exists()


def test_the_delete_form_refuses_a_role_that_holds_more_than_the_caller(client_of, bob, account, everything):
    response = client_of(bob).post(page(account, "role-delete", role_id=everything.id))
    assert response.status_code == 400 and "write:account" in response.content.decode()
    assert CustomRole.objects.filter(id=everything.id).exists()


def test_delete_role_refuses_it_too(bob, account, everything):
    response = api_as(bob, account).delete(url("iam-role", account, role_id=everything.id))
    assert_error(response, 403, 7, "write:account")
    assert CustomRole.objects.filter(id=everything.id).exists()
    assert not AuditEntry.objects.filter(action=Action.ROLE_DELETED).exists()


def test_delete_role_lets_the_caller_delete_a_role_within_what_they_hold(bob, account, readers):
    assert api_as(bob, account).delete(url("iam-role", account, role_id=readers.id)).status_code == 200
    assert not CustomRole.objects.filter(id=readers.id).exists()


@pytest.mark.parametrize("direction", ["from", "to"])
def test_assign_user_roles_moves_no_one_from_or_to_a_role_above_the_caller(bob, carol, account, everything, readers, direction):
    if direction == "from":  # carol, from Everything to Readers
        user, body = carol, {"roleIdsToAdd": [str(readers.id)], "roleIdsToDelete": [str(everything.id)]}
    else:  # dan, from Readers to Everything
        user = make_user("dan")
        Membership.objects.create(account=account, user=user, custom_role=readers)
        body = {"roleIdsToAdd": [str(everything.id)], "roleIdsToDelete": [str(readers.id)]}
    before = Membership.objects.get(user=user).held_role
    response = post_json(api_as(bob, account), url("iam-user-roles", account, user_id=member_id(user)), body)
    assert_error(response, 403, 7, "write:account")
    assert Membership.objects.get(user=user).held_role == before


def test_the_member_form_moves_no_one_from_a_role_above_the_caller(client_of, bob, carol, account, readers):
    response = client_of(bob).post(page(account, "member-edit", member_id=member_id(carol)), {"role": str(readers.id)})
    assert response.status_code == 400 and "write:account" in response.content.decode()
    assert Membership.objects.get(user=carol).custom_role.name == "Everything"


def test_no_one_removes_a_member_whose_role_is_above_them(client_of, bob, carol, account):
    response = client_of(bob).post(page(account, "member-remove", member_id=member_id(carol)))
    assert response.status_code == 400 and "write:account" in response.content.decode()
    assert Membership.objects.filter(user=carol).exists()


def test_no_one_invites_to_a_role_above_them(bob, account, everything):
    with pytest.raises(GrantRefused, match="write:account"):
        invitation_create(account=account, email="mallory@example.com", role=everything, by=bob)
    with pytest.raises(GrantRefused, match="Only an owner"):
        invitation_create(account=account, email="mallory@example.com", role="owner", by=bob)
    assert not Invitation.objects.exists()


def test_the_invite_form_refuses_a_role_above_the_inviter(client_of, bob, account, everything):
    data = {"email": "mallory@example.com", "role": str(everything.id), "nonce": new_nonce()}
    response = client_of(bob).post(page(account, "invite"), data)
    assert response.status_code == 400 and not Invitation.objects.exists()


def test_the_last_owner_stays_an_owner_on_every_path(client_of, owner, account):
    client = client_of(owner)
    assert client.post(page(account, "member-edit", member_id=member_id(owner)), {"role": "admin"}).status_code == 400
    assert client.post(page(account, "member-remove", member_id=member_id(owner))).status_code == 400
    body = {"roleIdsToAdd": [str(Role.ADMIN.id)], "roleIdsToDelete": [str(Role.OWNER.id)]}
    response = post_json(api_as(owner, account), url("iam-user-roles", account, user_id=member_id(owner)), body)
    assert_error(response, 400, 9, "An account needs an owner")
    assert Membership.objects.get(user=owner).role == Role.OWNER


def test_the_roles_page_offers_edit_and_delete_only_for_roles_within_the_callers(client_of, bob, account, everything, readers):
    body = client_of(bob).get(page(account, "roles")).content.decode()
    assert 'aria-label="Edit the role Readers"' in body and 'aria-label="Delete the role Readers"' in body
    assert 'aria-label="Edit the role Everything"' not in body and 'aria-label="Delete the role Everything"' not in body
    assert "only someone who holds all of it can change or delete it" in body
