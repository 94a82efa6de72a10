"""The permission matrix: every method of the API for owner, admin, developer,
viewer and outsider, each with a management key of their own.

A method succeeds exactly when the caller's role holds the permission the spec
names for it (accounts/roles.py); otherwise it is PERMISSION_DENIED (403). An
outsider, a member of another account only, gets NOT_FOUND (404) for all of
it, and an anonymous caller UNAUTHENTICATED (401).
"""

import pytest

from accounts.models import CustomRole, Membership
from accounts.roles import ROLE_PERMISSIONS, Role
from apikeys.models import DatabaseApiKey
from apikeys.services import database_key_create
from clusters.models import Operation
from managementkeys.models import ManagementKey
from managementkeys.services import management_key_create
from tests.conftest import make_user
from tests.test_api_support import api_as, api_client, assert_error, key_body, mint, post_json, put_json, url

MANAGE = [{"collection": None, "access": "m"}]


def _db_key(ctx):
    return database_key_create(cluster=ctx["cluster"], name="matrix key", rules=MANAGE, expires_at=None, by=None)[0]


def _management_key(ctx):
    return management_key_create(name="test key", account=ctx["account"], by=ctx["owner"])[0]


def _custom_role(ctx):
    return CustomRole.objects.create(account=ctx["account"], name="Deployers", permissions=["read:clusters"])


def _new_viewer(ctx):
    return Membership.objects.get(user=make_user("vera", ctx["account"], Role.VIEWER))


NEW_ROLE = {"role": {"name": "Auditors", "permissions": [{"value": "read:audit_logs"}]}}


# name -> (permission the spec requires, HTTP method, URL name, URL kwargs from ctx, body, what changes on success)
METHODS = {
    "ListDatabaseApiKeys": ("read:api_keys", "get", "database-api-keys", {}, None, None),
    "CreateDatabaseApiKey": (
        "write:api_keys",
        "post",
        "database-api-keys",
        {},
        "key_body",
        lambda ctx: DatabaseApiKey.objects.filter(name="ci deploy key").exists(),
    ),
    "DeleteDatabaseApiKey": (
        "delete:api_keys",
        "delete",
        "database-api-key",
        {"database_api_key_id": lambda ctx: _db_key(ctx).id},
        None,
        lambda ctx: not DatabaseApiKey.objects.live().exists(),
    ),
    "ListClusters": ("read:clusters", "get", "clusters", {}, None, None),
    "GetCluster": ("read:clusters", "get", "cluster", {"cluster_id": lambda ctx: ctx["cluster"].id}, None, None),
    "EnableClusterJwtRbac": (
        "write:clusters",
        "post",
        "cluster-enable-jwt",
        {"cluster_id": lambda ctx: ctx["legacy_cluster"].id},
        None,
        lambda ctx: Operation.objects.filter(kind=Operation.Kind.ENABLE_JWT).exists(),
    ),
    "RestartCluster": (
        "write:clusters",
        "post",
        "cluster-restart",
        {"cluster_id": lambda ctx: ctx["cluster"].id},
        None,
        lambda ctx: Operation.objects.filter(kind=Operation.Kind.RESTART).exists(),
    ),
    "ListManagementKeys": ("read:management_keys", "get", "management-keys", {}, None, None),
    "CreateManagementKey": (
        "write:management_keys",
        "post",
        "management-keys",
        {},
        {},
        lambda ctx: ManagementKey.objects.count() == 2,
    ),
    "DeleteManagementKey": (
        "delete:management_keys",
        "delete",
        "management-key",
        {"management_key_id": lambda ctx: _management_key(ctx).id},
        None,
        lambda ctx: ManagementKey.objects.count() == 1,
    ),
    "ListPermissions": ("read:roles", "get", "iam-permissions", {}, None, None),
    "ListRoles": ("read:roles", "get", "iam-roles", {}, None, None),
    "ListEffectivePermissions": (None, "get", "iam-effective-permissions", {}, None, None),
    "GetRole": ("read:roles", "get", "iam-role", {"role_id": lambda ctx: Role.VIEWER.id}, None, None),
    "CreateRole": (
        "write:roles",
        "post",
        "iam-roles",
        {},
        NEW_ROLE,
        lambda ctx: CustomRole.objects.filter(name="Auditors").exists(),
    ),
    "UpdateRole": (
        "write:roles",
        "put",
        "iam-role",
        {"role_id": lambda ctx: _custom_role(ctx).id},
        NEW_ROLE,
        lambda ctx: CustomRole.objects.filter(name="Auditors").exists(),
    ),
    "DeleteRole": (
        "delete:roles",
        "delete",
        "iam-role",
        {"role_id": lambda ctx: _custom_role(ctx).id},
        None,
        lambda ctx: not CustomRole.objects.exists(),
    ),
    "ListRoleUsers": ("read:roles", "get", "iam-role-users", {"role_id": lambda ctx: Role.OWNER.id}, None, None),
    "ListUsers": ("read:users", "get", "iam-users", {}, None, None),
    "ListUserRoles": (
        "read:roles",
        "get",
        "iam-user-roles",
        {"user_id": lambda ctx: ctx["owner"].memberships.get().public_id},
        None,
        None,
    ),
    "AssignUserRoles": (
        "write:roles",
        "post",
        "iam-user-roles",
        {"user_id": lambda ctx: _new_viewer(ctx).public_id},
        {"roleIdsToAdd": [str(Role.DEVELOPER.id)], "roleIdsToDelete": [str(Role.VIEWER.id)]},
        lambda ctx: Membership.objects.get(user__username="vera").role == Role.DEVELOPER,
    ),
}
PEOPLE = ["owner", "admin", "developer", "viewer", "outsider"]


@pytest.fixture
def ctx(account, owner, cluster, legacy_cluster):
    return {"account": account, "owner": owner, "cluster": cluster, "legacy_cluster": legacy_cluster}


def call(client, ctx, method_name):
    _, verb, name, kwargs, body, _ = METHODS[method_name]
    path = url(name, ctx["account"], **{key: make(ctx) for key, make in kwargs.items()})
    if verb == "post":
        return post_json(client, path, key_body(ctx["cluster"]) if body == "key_body" else (body or {}))
    if verb == "put":
        return put_json(client, path, body)
    return getattr(client, verb)(path)


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("method_name", list(METHODS))
def test_permission_matrix(request, ctx, person, method_name):
    user = request.getfixturevalue(person)
    permission, *_, changed = METHODS[method_name]
    own_account = request.getfixturevalue("other_account") if person == "outsider" else ctx["account"]
    client = api_client(mint(own_account, user))
    response = call(client, ctx, method_name)

    if person == "outsider":
        assert_error(response, 404, 5)
    elif permission is None or permission in ROLE_PERMISSIONS[Role(user.memberships.get().role)]:
        assert response.status_code == 200, (response.status_code, response.content[:300])
        if changed:
            assert changed(ctx)
    else:
        assert_error(response, 403, 7, permission)
        if changed:
            assert not changed(ctx)


@pytest.mark.parametrize("method_name", list(METHODS))
def test_anonymous_callers_are_unauthenticated(ctx, method_name):
    response = call(api_client(), ctx, method_name)
    assert_error(response, 401, 16, "apikey")
    assert response["WWW-Authenticate"] == "apikey"


@pytest.mark.parametrize("method_name", list(METHODS))
def test_a_made_up_account_is_not_found(ctx, owner, method_name):
    from uuid import uuid4

    client = api_client(mint(ctx["account"], owner))
    _, verb, name, kwargs, *_ = METHODS[method_name]
    path = url(name, ctx["account"], **{key: make(ctx) for key, make in kwargs.items()})
    response = getattr(client, verb)(path.replace(str(ctx["account"].id), str(uuid4())))
    assert_error(response, 404, 5)


def test_the_console_session_works_too_and_keeps_csrf(client_of, developer, account, cluster):
    client = client_of(developer)
    assert client.get(url("clusters", account)).status_code == 200

    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(developer)
    response = post_json(strict, url("database-api-keys", account), key_body(cluster))
    assert_error(response, 403, 7, "CSRF")
    assert not DatabaseApiKey.objects.exists()


def test_a_viewer_gets_403_not_405_on_a_path_whose_methods_it_may_not_use(viewer, account, cluster):
    client = api_as(viewer, account)
    assert_error(client.get(url("cluster-restart", account, cluster_id=cluster.id)), 403, 7)
    assert_error(client.delete(url("clusters", account)), 405, 12)  # it may list clusters: the method is wrong
    assert_error(client.post(url("clusters", account)), 403, 7)  # creating one needs write:clusters
