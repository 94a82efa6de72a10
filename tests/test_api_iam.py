"""IAMService v1: the permissions, the four system roles and the caller's effective permissions."""

import pytest

from accounts.models import Membership
from accounts.roles import PERMISSIONS, ROLE_PERMISSIONS, Role
from tests.test_api_support import api_as, assert_matches_spec, url

SPEC = "iam.v1.swagger.json"


def test_permissions_are_every_permission_with_its_category(viewer, account):
    body = api_as(viewer, account).get(url("iam-permissions", account)).json()
    assert_matches_spec(body, SPEC, "v1ListPermissionsResponse")
    assert body["permissions"] == [{"value": value, "category": category} for value, category in PERMISSIONS.items()]


def test_roles_are_the_four_system_roles(developer, account):
    body = api_as(developer, account).get(url("iam-roles", account)).json()
    assert_matches_spec(body, SPEC, "v1ListRolesResponse")
    roles = {role["name"]: role for role in body["items"]}
    assert list(roles) == ["Owner", "Admin", "Developer", "Viewer"]
    for role in Role:
        item = roles[role.label]
        assert item["roleType"] == "ROLE_TYPE_SYSTEM" and item["accountId"] == str(account.id)
        assert {permission["value"] for permission in item["permissions"]} == ROLE_PERMISSIONS[role]
    assert roles["Owner"]["subType"] == "SYSTEM_ROLE_SUB_TYPE_OWNER"
    assert roles["Admin"]["subType"] == "SYSTEM_ROLE_SUB_TYPE_ADMIN"
    assert len({item["id"] for item in body["items"]}) == 4


@pytest.mark.parametrize("person", ["owner", "admin", "developer", "viewer"])
def test_effective_permissions_are_the_callers_role(request, account, person):
    user = request.getfixturevalue(person)
    body = api_as(user, account).get(url("iam-effective-permissions", account)).json()
    assert_matches_spec(body, SPEC, "v1ListEffectivePermissionsResponse")
    role = Role(Membership.objects.get(user=user, account=account).role)
    assert {permission["value"] for permission in body["permissions"]} == ROLE_PERMISSIONS[role]
