"""IAMService v1 custom roles and members' roles: CreateRole, GetRole,
UpdateRole, DeleteRole, ListRoles, ListUsers, ListUserRoles,
AssignUserRoles, ListRoleUsers, as iam.v1.swagger.json describes them."""

import pytest

from accounts.models import CustomRole, Membership
from accounts.roles import Role
from accounts.services import invitation_create
from audit.models import Action, AuditEntry
from tests.conftest import make_user
from tests.test_api_support import api_as, assert_error, assert_matches_spec, key_body, post_json, put_json, url

SPEC = "iam.v1.swagger.json"
DEPLOYERS = {
    "role": {
        "name": "Deployers",
        "description": "Ship clusters and their keys",
        "roleType": "ROLE_TYPE_CUSTOM",
        "permissions": [{"value": "write:api_keys"}, {"value": "read:clusters", "category": "Cluster"}],
    }
}


@pytest.fixture
def deployers(account):
    return CustomRole.objects.create(
        account=account, name="Deployers", description="Ship", permissions=["read:clusters", "read:api_keys"]
    )


def _member(user):
    return Membership.objects.select_related("custom_role").get(user=user)


def test_create_role_makes_a_custom_role_and_audits_it(owner, account):
    response = post_json(api_as(owner, account), url("iam-roles", account), DEPLOYERS)
    assert response.status_code == 200, response.content
    body = response.json()
    assert_matches_spec(body, SPEC, "v1CreateRoleResponse")
    role = body["role"]
    assert role["roleType"] == "ROLE_TYPE_CUSTOM" and role["name"] == "Deployers"
    assert role["accountId"] == str(account.id) and "subType" not in role
    # In the IAM service's order, each with its category filled in by the server.
    assert role["permissions"] == [
        {"value": "read:clusters", "category": "Cluster"},
        {"value": "write:api_keys", "category": "Cluster API Keys"},
    ]
    stored = CustomRole.objects.get(id=role["id"])
    assert stored.account == account and stored.permissions == ["read:clusters", "write:api_keys"]
    entry = AuditEntry.objects.get(action=Action.ROLE_CREATED)
    assert entry.target_name == "Deployers" and entry.actor == owner and "write:api_keys" in entry.detail
    assert "test key" in entry.via_key_name


@pytest.mark.parametrize(
    "role, fragment",
    [
        ({"name": "Bad", "permissions": [{"value": "read:everything"}]}, "role.permissions[0].value: 'read:everything'"),
        ({"name": "Bad", "permissions": [{"value": 7}]}, "role.permissions[0].value"),
        ({"name": "", "permissions": [{"value": "read:clusters"}]}, "role.name: Give the role a name"),
        ({"name": "bell\x07", "permissions": [{"value": "read:clusters"}]}, "printable"),
        ({"name": "Viewer", "permissions": [{"value": "read:clusters"}]}, "system role"),
        ({"name": "Empty", "permissions": []}, "at least one permission"),
        ({"name": "Sys", "roleType": "ROLE_TYPE_SYSTEM", "permissions": [{"value": "read:clusters"}]}, "ROLE_TYPE_CUSTOM"),
        ({"name": "Nul", "description": "a\x00b", "permissions": [{"value": "read:clusters"}]}, "role.description:"),
    ],
)
def test_create_role_refuses_bad_input_and_changes_nothing(owner, account, role, fragment):
    response = post_json(api_as(owner, account), url("iam-roles", account), {"role": role})
    assert_error(response, 400, 3, fragment)
    assert not CustomRole.objects.exists()
    assert not AuditEntry.objects.filter(action=Action.ROLE_CREATED).exists()


def test_a_second_role_of_the_same_name_is_refused(owner, account, deployers):
    response = post_json(api_as(owner, account), url("iam-roles", account), DEPLOYERS | {"role": DEPLOYERS["role"] | {"name": "deployers"}})
    assert_error(response, 400, 3, "role.name:", "already has a role named deployers")
    assert CustomRole.objects.count() == 1


def test_an_admin_cannot_make_a_role_with_more_than_they_hold(admin, account):
    body = {"role": {"name": "Takeover", "permissions": [{"value": "delete:account"}]}}
    response = post_json(api_as(admin, account), url("iam-roles", account), body)
    assert_error(response, 403, 7, "delete:account")
    assert not CustomRole.objects.exists()


def test_list_and_get_roles_show_system_then_custom_roles(viewer, account, deployers, other_account):
    CustomRole.objects.create(account=other_account, name="Theirs", permissions=["read:clusters"])
    client = api_as(viewer, account)
    body = client.get(url("iam-roles", account)).json()
    assert_matches_spec(body, SPEC, "v1ListRolesResponse")
    assert [(r["name"], r["roleType"]) for r in body["items"]] == [
        ("Owner", "ROLE_TYPE_SYSTEM"),
        ("Admin", "ROLE_TYPE_SYSTEM"),
        ("Developer", "ROLE_TYPE_SYSTEM"),
        ("Viewer", "ROLE_TYPE_SYSTEM"),
        ("Deployers", "ROLE_TYPE_CUSTOM"),
    ]
    got = client.get(url("iam-role", account, role_id=deployers.id)).json()
    assert_matches_spec(got, SPEC, "v1GetRoleResponse")
    assert got["role"]["id"] == str(deployers.id) and got["role"]["description"] == "Ship"
    assert "createdAt" in got["role"] and "lastModifiedAt" in got["role"]
    system = client.get(url("iam-role", account, role_id=Role.ADMIN.id)).json()["role"]
    assert system["name"] == "Admin" and system["subType"] == "SYSTEM_ROLE_SUB_TYPE_ADMIN"


def test_another_accounts_role_is_not_found(owner, account, other_account):
    theirs = CustomRole.objects.create(account=other_account, name="Theirs", permissions=["read:clusters"])
    client = api_as(owner, account)
    assert_error(client.get(url("iam-role", account, role_id=theirs.id)), 404, 5, "roleId")
    assert_error(put_json(client, url("iam-role", account, role_id=theirs.id), DEPLOYERS), 404, 5)
    assert_error(client.delete(url("iam-role", account, role_id=theirs.id)), 404, 5)
    assert_error(client.get(url("iam-role-users", account, role_id=theirs.id)), 404, 5)
    member = make_user("vera", account, Role.VIEWER).memberships.get()
    body = {"roleIdsToAdd": [str(theirs.id)], "roleIdsToDelete": [str(Role.VIEWER.id)]}
    assert_error(post_json(client, url("iam-user-roles", account, user_id=member.public_id), body), 404, 5, "roleIdsToAdd[0]")
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and _member(member.user).role == Role.VIEWER
    assert_error(client.get(url("iam-role", account, role_id="not-a-guid")), 400, 3, "roleId: must be an identifier")


def test_update_role_replaces_it_or_only_what_the_mask_names(owner, account, deployers):
    client = api_as(owner, account)
    path = url("iam-role", account, role_id=deployers.id)
    response = put_json(client, path, DEPLOYERS | {"role": DEPLOYERS["role"] | {"name": "Shippers"}})
    assert response.status_code == 200, response.content
    assert_matches_spec(response.json(), SPEC, "v1UpdateRoleResponse")
    deployers.refresh_from_db()
    assert deployers.name == "Shippers" and deployers.permissions == ["read:clusters", "write:api_keys"]
    entry = AuditEntry.objects.get(action=Action.ROLE_CHANGED)
    assert "renamed Deployers → Shippers" in entry.detail and "+write:api_keys" in entry.detail and "−read:api_keys" in entry.detail

    masked = {"role": {"description": "Only this", "name": "ignored"}, "updateMask": "description"}
    assert put_json(client, path, masked).status_code == 200
    deployers.refresh_from_db()
    assert deployers.name == "Shippers" and deployers.description == "Only this"
    assert deployers.permissions == ["read:clusters", "write:api_keys"]
    assert_error(put_json(client, path, {"role": {}, "updateMask": "accountId"}), 400, 3, "updateMask")


def test_update_role_with_a_bad_permission_changes_nothing(owner, account, deployers):
    body = {"role": {"name": "Deployers", "permissions": [{"value": "read:clusters"}, {"value": "fly:rockets"}]}}
    response = put_json(api_as(owner, account), url("iam-role", account, role_id=deployers.id), body)
    assert_error(response, 400, 3, "role.permissions[1].value: 'fly:rockets' is not a permission")
    deployers.refresh_from_db()
    assert deployers.permissions == ["read:clusters", "read:api_keys"]
    assert not AuditEntry.objects.filter(action=Action.ROLE_CHANGED).exists()


@pytest.mark.parametrize("role", list(Role))
def test_system_roles_cannot_be_changed_or_deleted(owner, account, role):
    client = api_as(owner, account)
    assert_error(put_json(client, url("iam-role", account, role_id=role.id), DEPLOYERS), 400, 9, "system role")
    assert_error(client.delete(url("iam-role", account, role_id=role.id)), 400, 9, "system role")
    assert not CustomRole.objects.exists()


def test_delete_role_removes_an_unused_role(owner, account, deployers):
    response = api_as(owner, account).delete(url("iam-role", account, role_id=deployers.id))
    assert response.status_code == 200 and response.json() == {}
    assert not CustomRole.objects.exists()
    assert AuditEntry.objects.get(action=Action.ROLE_DELETED).target_name == "Deployers"


def test_a_role_held_by_a_member_cannot_be_deleted(owner, account, deployers):
    make_user("dan").memberships.create(account=account, custom_role=deployers)
    response = api_as(owner, account).delete(url("iam-role", account, role_id=deployers.id))
    assert_error(response, 400, 9, "Deployers is in use", "1 member")
    assert CustomRole.objects.filter(id=deployers.id).exists()
    assert not AuditEntry.objects.filter(action=Action.ROLE_DELETED).exists()


def test_a_role_of_a_pending_invitation_cannot_be_deleted(owner, account, deployers):
    invitation_create(account=account, email="new@example.com", role=deployers, by=owner)
    response = api_as(owner, account).delete(url("iam-role", account, role_id=deployers.id))
    assert_error(response, 400, 9, "1 pending invitation")
    assert CustomRole.objects.filter(id=deployers.id).exists()


def test_list_users_and_their_roles(viewer, owner, account, deployers):
    dan = make_user("dan")
    dan.memberships.create(account=account, custom_role=deployers)
    client = api_as(viewer, account)
    users = client.get(url("iam-users", account)).json()
    assert_matches_spec(users, SPEC, "v1ListUsersResponse")
    by_email = {u["email"]: u for u in users["items"]}
    assert set(by_email) == {"alice@example.com", "victor@example.com", "dan@example.com"}
    assert by_email["dan@example.com"]["status"] == "USER_STATUS_ACTIVE"
    dan_id = by_email["dan@example.com"]["id"]
    assert dan_id == str(_member(dan).public_id)

    roles = client.get(url("iam-user-roles", account, user_id=dan_id)).json()
    assert_matches_spec(roles, SPEC, "v1ListUserRolesResponse")
    assert [r["id"] for r in roles["roles"]] == [str(deployers.id)]
    holders = client.get(url("iam-role-users", account, role_id=deployers.id)).json()
    assert_matches_spec(holders, SPEC, "v1ListRoleUsersResponse")
    assert [u["email"] for u in holders["users"]] == ["dan@example.com"]
    owners = client.get(url("iam-role-users", account, role_id=Role.OWNER.id)).json()
    assert [u["email"] for u in owners["users"]] == ["alice@example.com"]
    assert_error(client.get(url("iam-user-roles", account, user_id=owner.pk)), 400, 3, "userId")


def test_assign_user_roles_swaps_the_members_role_and_audits_it(owner, viewer, account, deployers):
    member = _member(viewer)
    body = {"roleIdsToAdd": [str(deployers.id), str(deployers.id)], "roleIdsToDelete": [str(Role.VIEWER.id)]}
    response = post_json(api_as(owner, account), url("iam-user-roles", account, user_id=member.public_id), body)
    assert response.status_code == 200 and response.json() == {}
    member = _member(viewer)
    assert member.custom_role == deployers and member.role == ""
    entry = AuditEntry.objects.get(action=Action.MEMBER_ROLE_CHANGED)
    assert entry.detail == "Viewer → Deployers" and entry.target_name == "victor"


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"roleIdsToAdd": ["ADMIN"]}, "with Viewer and Admin"),
        ({"roleIdsToDelete": ["VIEWER"]}, "with no role"),
        ({"roleIdsToAdd": ["ADMIN"], "roleIdsToDelete": ["ADMIN", "VIEWER"]}, "with no role"),
    ],
)
def test_assign_user_roles_leaving_other_than_one_role_changes_nothing(owner, viewer, account, body, fragment):
    body = {field: [str(Role[name].id) for name in names] for field, names in body.items()}
    member = _member(viewer)
    response = post_json(api_as(owner, account), url("iam-user-roles", account, user_id=member.public_id), body)
    assert_error(response, 400, 9, "exactly one role", fragment, str(Role.VIEWER.id))
    assert _member(viewer).role == Role.VIEWER


def test_the_last_owner_keeps_the_owner_role(owner, account):
    member = _member(owner)
    body = {"roleIdsToAdd": [str(Role.ADMIN.id)], "roleIdsToDelete": [str(Role.OWNER.id)]}
    response = post_json(api_as(owner, account), url("iam-user-roles", account, user_id=member.public_id), body)
    assert_error(response, 400, 9, "An account needs an owner")
    assert _member(owner).role == Role.OWNER


def test_an_admin_cannot_make_an_owner_by_assigning_roles(admin, viewer, account):
    member = _member(viewer)
    body = {"roleIdsToAdd": [str(Role.OWNER.id)], "roleIdsToDelete": [str(Role.VIEWER.id)]}
    response = post_json(api_as(admin, account), url("iam-user-roles", account, user_id=member.public_id), body)
    assert_error(response, 403, 7, "Only an owner")
    assert _member(viewer).role == Role.VIEWER


def test_a_custom_role_grants_and_denies_what_it_holds(owner, account, cluster):
    """A member whose custom role lacks write:api_keys cannot create a key; once the role has it, they can."""
    dan = make_user("dan")
    readers = CustomRole.objects.create(account=account, name="Readers", permissions=["read:clusters", "read:api_keys"])
    dan.memberships.create(account=account, custom_role=readers)
    client = api_as(dan, account)
    assert client.get(url("clusters", account)).status_code == 200
    denied = post_json(client, url("database-api-keys", account), key_body(cluster))
    assert_error(denied, 403, 7, "write:api_keys", "Readers")

    body = {"role": {"name": "Readers", "permissions": [{"value": p} for p in ["read:clusters", "read:api_keys", "write:api_keys"]]}}
    assert put_json(api_as(owner, account), url("iam-role", account, role_id=readers.id), body).status_code == 200
    allowed = post_json(client, url("database-api-keys", account), key_body(cluster))
    assert allowed.status_code == 200, allowed.content
    effective = client.get(url("iam-effective-permissions", account)).json()
    assert {p["value"] for p in effective["permissions"]} == {"read:clusters", "read:api_keys", "write:api_keys"}
