"""Walks every URL pattern as an outsider and as a viewer.

An outsider (a member of another account) must get 404 for everything that
belongs to the account; a viewer may read but every change answers 403.
A URL with a parameter this walk does not know fails the test, so new
pages cannot slip past it.
"""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

# Pages that belong to no account: anyone may open them.
PUBLIC = {"login", "logout", "dashboard", "api:schema", "api:docs", "invitation", "metrics"}
# A user's own sign-in pages (django-allauth's and the profile): they belong
# to no account and show only the caller's own things; walked below.
PERSONAL_PREFIXES = ("account_", "mfa_", "socialaccount_", "usersessions_", "openid_connect_")
PERSONAL = {"profile", "account-create", "sessions", "session-end"}


def personal(name: str) -> bool:
    return name in PERSONAL or name.startswith(PERSONAL_PREFIXES)


# What belongs to no account but to whoever runs the console: Django staff
# users only (accounts.access.require_operator); walked below.
OPERATOR_PREFIX = "/operators/"

# Forms that read by POST (what they are given must not be in a URL) and change nothing.
READS_BY_POST = {"apikeys:account-explain"}


def _patterns(resolver=None, namespace="", params=frozenset()):
    """(name, URL parameter names) of every named pattern, through includes."""
    for entry in (resolver or get_resolver()).url_patterns:
        names = params | set(entry.pattern.converters)
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, f"{namespace}{entry.namespace}:" if entry.namespace else namespace, names)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}", names


def _kwargs(names: set, objects: dict) -> dict:
    missing = names - objects.keys()
    assert not missing, f"the access walk does not know how to fill {missing}; add them to `objects`"
    return {name: objects[name] for name in names}


@pytest.fixture
def objects(account, cluster, owner):
    from accounts.services import invitation_create
    from managementkeys.services import management_key_create
    from tests.fixtures.apikeys import make_key, stored_admin_key

    from accounts.models import CustomRole
    from fronts.credentials import front_credential_create

    key = make_key(cluster)[0]
    role = CustomRole.objects.create(account=account, name="Deployers", permissions=["read:clusters"])
    return {
        "account_id": account.id,
        "cluster_id": cluster.id,
        "key_id": key.id,
        "database_api_key_id": key.id,
        "management_key_id": management_key_create(name="test key", account=account, by=owner)[0].id,
        # `cluster` is a current cluster, which the service refuses admin keys;
        # the walk needs only a row of this cluster for the URL to find.
        "admin_key_id": stored_admin_key(cluster).id,
        "member_id": owner.memberships.get(account=account).public_id,
        "role_id": role.id,
        "user_id": owner.memberships.get(account=account).public_id,
        "invitation_id": invitation_create(account=account, email="new@example.com", role="viewer", by=owner)[0].id,
        "front_id": front_credential_create(name="east")[0].id,
    }


def account_urls(objects):
    for name, params in _patterns():
        if name in PUBLIC or personal(name):
            continue
        # An admin key's pages take its id as `key_id`, like a database API key's.
        ids = objects | {"key_id": objects["admin_key_id"]} if name.startswith("apikeys:admin-") else objects
        url = reverse(name, kwargs=_kwargs(params, ids))
        if not url.startswith(OPERATOR_PREFIX):
            yield name, url


def operator_urls(objects):
    for name, params in _patterns():
        url = reverse(name, kwargs=_kwargs(params, objects)) if not personal(name) and name not in PUBLIC else ""
        if url.startswith(OPERATOR_PREFIX):
            yield name, url


def test_every_account_url_is_404_for_an_outsider(client_of, outsider, objects):
    client = client_of(outsider)
    urls = list(account_urls(objects))
    assert len(urls) >= 5
    for name, url in urls:
        assert client.get(url).status_code == 404, f"GET {name}"
        post = client.post(url, {"name": "forged"}).status_code
        # A read-only page refuses POST with 405 before looking anything up;
        # that is fine as long as a made-up account gets the same answer.
        made_up = client.post(url.replace(str(objects["account_id"]), str(uuid.uuid4())), {}).status_code
        assert post == 404 or post == made_up == 405, f"POST {name} answered {post}"


def test_a_viewer_reads_but_every_change_is_403(client_of, viewer, objects):
    client = client_of(viewer)
    readable, refused = [], []
    for name, url in account_urls(objects):
        get = client.get(url).status_code
        assert get in (200, 403), f"GET {name} answered {get}"
        (readable if get == 200 else refused).append(name)
        post = client.post(url, {"name": "forged"}).status_code
        if name in READS_BY_POST:
            assert post in (200, 400), f"POST {name} answered {post}"
            continue
        assert post in (403, 405), f"POST {name} answered {post}"
    assert "clusters:list" in readable and "clusters:detail" in readable
    assert "clusters:create" in refused
    assert {"accounts:roles", "api:iam-role", "api:iam-users", "api:iam-user-roles", "api:iam-role-users"} <= set(readable)
    assert {"accounts:role-create", "accounts:role-edit", "accounts:role-delete"} <= set(refused)


def test_anonymous_visitors_are_sent_to_login_and_the_api_answers_401(client, objects):
    for name, url in account_urls(objects):
        response = client.get(url)
        if url.startswith("/api/"):
            assert response.status_code == 401 and response.json()["code"] == 16, name
        else:
            assert response.status_code == 302 and response.url.startswith("/login/"), name


def test_every_personal_page_answers_a_visitor_without_an_error(client, db):
    """Anonymous: a page of one's own sends to the login; the entrance pages
    (sign-up, reset) open, a failed single sign-on says so (401); none fails."""
    pages = [(name, params) for name, params in _patterns() if personal(name)]
    assert len(pages) >= 20
    for name, params in pages:
        if params:  # a key from an email or a provider (password reset, confirm-email): walked in their own tests
            continue
        # allauth's OpenID Connect include names its provider in a regex the walk cannot read.
        # Without OIDC_ISSUER_URL there is no provider: 404.
        sso = name.startswith("openid_connect_")
        response = client.get(reverse(name, kwargs={"provider_id": "sso"} if sso else {}))
        assert response.status_code in (200, 302, 401, 405) + ((404,) if sso else ()), f"GET {name} answered {response.status_code}"


def test_operator_pages_are_404_for_every_member_and_open_for_staff(client_of, owner, viewer, outsider, objects):
    """Fronts serve every account, so they belong to none: an account's owner
    learns of them no more than an outsider does of the account's objects."""
    from django.contrib.auth import get_user_model

    from tests.conftest import make_user

    urls = list(operator_urls(objects))
    assert {"fronts:list", "fronts:revoke"} <= {name for name, _ in urls}
    for user in (owner, viewer, outsider):
        client = client_of(user)
        for name, url in urls:
            assert client.get(url).status_code == 404, f"GET {name} as {user}"
            assert client.post(url, {"name": "forged"}).status_code in (404, 405), f"POST {name} as {user}"
    staff = make_user("olga")
    get_user_model().objects.filter(pk=staff.pk).update(is_staff=True)
    client = client_of(get_user_model().objects.get(pk=staff.pk))
    for name, url in urls:
        assert client.get(url).status_code == 200, f"GET {name} as staff"
    client.logout()
    for name, url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/"), name
