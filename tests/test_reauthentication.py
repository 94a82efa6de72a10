"""Re-authentication for what is dangerous (GitHub's sudo mode): past
REAUTHENTICATION_MINUTES since the last password or second factor, the
console asks again, then carries on with what was asked."""

import secrets
import time

import pytest
from allauth.account.internal.flows.login import AUTHENTICATION_METHODS_SESSION_KEY
from django.core.cache import cache
from django.urls import reverse

from accounts.models import Membership
from clusters.models import Cluster
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """allauth allows 10 re-authentications a minute per user, counted in the
    (per-process) cache, and each test's owner is the same user id."""
    cache.clear()


def connected(cluster) -> None:
    """As if the team ran it and connected it (issue 21): its master key is theirs to change."""
    Cluster.objects.filter(pk=cluster.pk).update(runtime="connected")
    cluster.refresh_from_db()


def master_key_url(account, cluster) -> str:
    return reverse("clusters:master-key", kwargs={"account_id": account.id, "cluster_id": cluster.id})


def eleven_minutes_later(client) -> None:
    """As if the last authentication were 11 minutes old."""
    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    for record in records:
        record["at"] = time.time() - 11 * 60
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()


def test_the_window_is_ten_minutes(settings):
    assert settings.REAUTHENTICATION_MINUTES == 10 and settings.ACCOUNT_REAUTHENTICATION_TIMEOUT == 600


@pytest.mark.parametrize(
    "page",
    [
        lambda o: reverse("clusters:delete", kwargs={"account_id": o["account"].id, "cluster_id": o["cluster"].id}),
        lambda o: reverse("managementkeys:create", kwargs={"account_id": o["account"].id}),
        lambda o: reverse("accounts:member-edit", kwargs={"account_id": o["account"].id, "member_id": o["member"]}),
        lambda o: reverse("accounts:member-remove", kwargs={"account_id": o["account"].id, "member_id": o["member"]}),
        lambda o: reverse("accounts:role-create", kwargs={"account_id": o["account"].id}),
        lambda o: reverse("clusters:connect", kwargs={"account_id": o["account"].id}),
        lambda o: master_key_url(o["account"], o["cluster"]),
    ],
    ids=["delete cluster", "create management key", "change role", "remove member", "create role",
         "connect cluster", "change master key"],
)
def test_a_dangerous_page_asks_again_after_ten_minutes(client_of, owner, viewer, account, cluster, page):
    connected(cluster)
    url = page({"account": account, "cluster": cluster, "member": viewer.memberships.get().public_id})
    client = client_of(owner)
    assert client.get(url).status_code == 200  # just logged in: no question
    eleven_minutes_later(client)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('account_reauthenticate')}?next={url.replace('/', '%2F')}"
    again = client.post(response.url, {"password": PASSWORD})
    assert again.url == url
    assert client.get(url).status_code == 200


def test_the_key_policy_is_read_without_a_question_but_changed_after_one(client_of, owner, account):
    from apikeys.models import KeyPolicy

    url = reverse("apikeys:key-policy", kwargs={"account_id": account.id})
    client = client_of(owner)
    eleven_minutes_later(client)
    assert client.get(url).status_code == 200
    prompt = client.post(url, {"database_key_max_days": "30", "allow_no_expiry": "on"})
    assert "reauthenticate" in prompt.url
    assert not KeyPolicy.objects.filter(account=account).exists()
    # allauth kept the POST (it holds no secret) and replays it once the password is given.
    client.post(prompt.url, {"password": PASSWORD})
    assert KeyPolicy.objects.get(account=account).database_key_max_days == 30


def test_a_master_key_typed_before_the_question_is_not_kept(client_of, owner, account, cluster):
    connected(cluster)
    url = master_key_url(account, cluster)
    client = client_of(owner)
    eleven_minutes_later(client)
    typed = secrets.token_urlsafe(32)
    prompt = client.post(url, {"api_key": typed})
    assert prompt.url == f"{reverse('account_reauthenticate')}?next={url.replace('/', '%2F')}"
    assert typed not in str(client.session.items())
    # Once the password is given, the page asks for the key again: nothing was kept to replay.
    again = client.post(prompt.url, {"password": PASSWORD})
    assert again.url == url
    cluster.refresh_from_db()
    assert cluster.master_key != typed


def test_a_wrong_password_does_not_let_one_through(client_of, owner, account, cluster):
    url = reverse("clusters:delete", kwargs={"account_id": account.id, "cluster_id": cluster.id})
    client = client_of(owner)
    eleven_minutes_later(client)
    prompt = client.get(url).url
    response = client.post(prompt, {"password": "wrong"})
    assert "Incorrect password." in response.content.decode()
    assert client.get(url).status_code == 302


def test_the_removal_asked_for_goes_through_after_the_password(client_of, owner, viewer, account):
    member = viewer.memberships.get()
    url = reverse("accounts:member-remove", kwargs={"account_id": account.id, "member_id": member.public_id})
    client = client_of(owner)
    eleven_minutes_later(client)
    prompt = client.post(url)
    assert Membership.objects.filter(pk=member.pk).exists()
    # allauth kept the POST and replays it once the password is given.
    client.post(prompt.url, {"password": PASSWORD})
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_an_outsider_gets_404_before_any_question(client_of, outsider, account, cluster):
    url = reverse("clusters:delete", kwargs={"account_id": account.id, "cluster_id": cluster.id})
    client = client_of(outsider)
    eleven_minutes_later(client)
    assert client.get(url).status_code == 404


def test_requiring_a_second_factor_needs_no_question_but_stopping_does(client_of, owner, account):
    from allauth.mfa.models import Authenticator

    from clusters.crypto import encrypt

    Authenticator.objects.create(user=owner, type=Authenticator.Type.TOTP, data={"secret": encrypt("JBSWY3DPEHPK3PXP")})
    client = client_of(owner)
    eleven_minutes_later(client)
    url = reverse("accounts:second-factor", kwargs={"account_id": account.id})
    client.post(url, {"required": "on"})
    account.refresh_from_db()
    assert account.require_second_factor

    response = client.post(url, {})
    assert response.status_code == 302 and "reauthenticate" in response.url
    account.refresh_from_db()
    assert account.require_second_factor


def test_the_api_never_asks(client, owner, account, cluster):
    from managementkeys.services import management_key_create

    _, secret = management_key_create(name="deploy bot", account=account, by=owner)
    response = client.delete(
        f"/api/cluster/v1/accounts/{account.id}/clusters/{cluster.id}", HTTP_AUTHORIZATION=f"apikey {secret}"
    )
    assert response.status_code == 200
