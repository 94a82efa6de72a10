import pytest
from django.urls import reverse

from accounts.roles import PERMISSIONS, ROLE_PERMISSIONS, Role
from tests.conftest import PASSWORD


def test_login_lands_on_the_users_clusters(client, owner, account):
    response = client.post(reverse("login"), {"username": owner.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("clusters:list", kwargs={"account_id": account.id})


def test_a_wrong_password_is_refused_with_a_message(client, owner):
    response = client.post(reverse("login"), {"username": owner.username, "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_logout_is_a_post(client_of, owner):
    client = client_of(owner)
    client.post(reverse("logout"))
    assert client.get(reverse("dashboard")).status_code == 302


def test_logout_typed_in_the_address_bar_shows_a_log_out_button(client_of, owner):
    from django.test import Client

    client = client_of(owner)
    page = client.get(reverse("logout"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'action="{reverse("logout")}"' in html and 'method="post"' in html
    assert "csrfmiddlewaretoken" in html and "Log out</button>" in html
    # The GET itself logged nobody out.
    assert client.session.get("_auth_user_id") == str(owner.pk)
    # With CSRF enforced, the button's form works.
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    token = strict.get(reverse("logout")).context["csrf_token"]
    assert strict.post(reverse("logout"), {"csrfmiddlewaretoken": str(token)}).status_code == 302
    assert "_auth_user_id" not in strict.session


def test_a_user_without_an_account_is_told_so(client_of, django_user_model):
    user = django_user_model.objects.create_user("loner", password=PASSWORD)
    assert "not a member of any account" in client_of(user).get(reverse("dashboard")).content.decode()


def test_roles_are_sets_of_qdrant_cloud_permissions():
    assert ROLE_PERMISSIONS[Role.OWNER] == frozenset(PERMISSIONS)
    assert {"write:api_keys", "delete:api_keys", "write:clusters"} <= ROLE_PERMISSIONS[Role.DEVELOPER]
    assert all(p.startswith("read:") for p in ROLE_PERMISSIONS[Role.VIEWER])
    for role in Role:
        assert ROLE_PERMISSIONS[role] <= frozenset(PERMISSIONS)


@pytest.mark.parametrize("user", ["owner", "admin", "developer"])
def test_roles_with_write_clusters_may_open_the_create_form(client_of, account, user, request):
    response = client_of(request.getfixturevalue(user)).get(reverse("clusters:create", kwargs={"account_id": account.id}))
    assert response.status_code == 200


def test_a_viewer_gets_403_in_the_consoles_look(client_of, viewer, account):
    response = client_of(viewer).get(reverse("clusters:create", kwargs={"account_id": account.id}))
    assert response.status_code == 403
    html = response.content.decode()
    assert "This needs the permission write:clusters" in html and "Viewer" in html


def test_access_management_lists_members_and_roles(client_of, owner, viewer, account):
    client = client_of(owner)
    html = client.get(reverse("accounts:access", kwargs={"account_id": account.id})).content.decode()
    assert "victor" in html and "Viewer" in html
    roles = client.get(reverse("accounts:roles", kwargs={"account_id": account.id})).content.decode()
    assert "Viewer" in roles and "write:api_keys" in roles
