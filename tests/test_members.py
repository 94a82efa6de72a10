"""Access Management → Members: invite by email with a one-time link, join by
signing up or logging in, change roles, remove members; an account keeps an owner."""

import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership
from accounts.roles import Role
from accounts.services import invitation_create
from audit.models import Action, AuditEntry
from console.env import Env
from createonce.forms import new_nonce
from managementkeys.services import management_key_create
from tests.conftest import PASSWORD, make_user
from tests.test_api_support import api_client, url


def members_url(account):
    return reverse("accounts:access", kwargs={"account_id": account.id})


def invite(client, account, email="bob@example.com", role="developer", nonce=None):
    data = {"email": email, "role": role, "nonce": nonce or new_nonce()}
    return client.post(reverse("accounts:invite", kwargs={"account_id": account.id}), data)


def link_parts(link: str) -> tuple[str, str]:
    """(path, secret) of an invitation link."""
    match = re.search(r"https?://[^/]+(/invitations/[0-9a-f-]+/)#([A-Za-z0-9_-]+)", link)
    assert match, link
    return match.group(1), match.group(2)


def member_url(name, account, user):
    member = Membership.objects.get(account=account, user=user)
    return reverse(f"accounts:{name}", kwargs={"account_id": account.id, "member_id": member.public_id})


def test_an_owner_invites_by_email_and_sees_the_link_once(client_of, owner, account, caplog):
    caplog.set_level(logging.DEBUG)
    response = invite(client_of(owner), account)

    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["bob@example.com"]
    path, secret = link_parts(mail.outbox[0].body)
    assert f"{path}#{secret}" in response.content.decode()
    assert "as Developer" in mail.outbox[0].body and "Acme" in mail.outbox[0].subject
    assert len(secret) >= 43  # 256 bits
    invitation = Invitation.objects.get()
    assert invitation.role == "developer" and invitation.invited_by == owner
    assert secret not in str(vars(invitation)) and len(invitation.digest) == 64
    assert timedelta(days=6, hours=23) < invitation.expires_at - timezone.now() <= timedelta(days=7)
    assert secret not in caplog.text
    assert AuditEntry.objects.filter(action=Action.MEMBER_INVITED, actor=owner, target_name="bob@example.com").exists()
    # the list shows it as pending, without the link
    page = client_of(owner).get(members_url(account)).content.decode()
    assert "bob@example.com" in page and secret not in page


def test_the_invitee_signs_up_with_the_link_and_joins_with_the_role(client, owner, account, caplog):
    caplog.set_level(logging.DEBUG)
    invitation, secret = invitation_create(account=account, email="bob@example.com", role="developer", by=owner)
    page = reverse("invitation", args=[invitation.id])
    assert client.get(page).status_code == 200
    form = {"secret": secret, "username": "bob", "password1": PASSWORD, "password2": PASSWORD}

    response = client.post(page, form)

    assert response.status_code == 302
    assert response.url == reverse("clusters:list", kwargs={"account_id": account.id})
    bob = get_user_model().objects.get(username="bob")
    assert bob.email == "bob@example.com" and bob.check_password(PASSWORD)
    assert Membership.objects.get(account=account, user=bob).role == "developer"
    assert client.get(response.url).status_code == 200  # logged in
    assert AuditEntry.objects.filter(action=Action.MEMBER_JOINED, actor=bob, target_name="bob").exists()
    assert secret not in caplog.text and PASSWORD not in caplog.text
    # the link works once
    client.logout()
    again = client.post(page, form | {"username": "bob2"})
    assert again.status_code == 400 and "not valid" in again.content.decode()
    assert not get_user_model().objects.filter(username="bob2").exists()


def test_a_logged_in_user_accepts_the_invitation(client_of, owner, outsider, account):
    invitation, secret = invitation_create(account=account, email="charlie@example.com", role="viewer", by=owner)
    client = client_of(outsider)
    response = client.post(reverse("invitation", args=[invitation.id]), {"secret": secret})
    assert response.status_code == 302
    assert Membership.objects.get(account=account, user=outsider).role == "viewer"
    assert Invitation.objects.get().accepted_by == outsider


@pytest.mark.parametrize("spoil", ["wrong secret", "expired", "revoked", "other invitation"])
def test_a_bad_link_is_refused_with_one_message(client_of, owner, outsider, account, spoil):
    invitation, secret = invitation_create(account=account, email="charlie@example.com", role="admin", by=owner)
    target = invitation.id
    if spoil == "wrong secret":
        secret = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")
    elif spoil == "expired":
        Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif spoil == "revoked":
        client_of(owner).post(
            reverse("accounts:invitation-revoke", kwargs={"account_id": account.id, "invitation_id": invitation.id})
        )
        assert Invitation.objects.get().revoked_at is not None
    else:
        target = invitation_create(account=account, email="dan@example.com", role="viewer", by=owner)[0].id
    response = client_of(outsider).post(reverse("invitation", args=[target]), {"secret": secret})
    assert response.status_code == 400
    assert "This invitation link is not valid" in response.content.decode()
    assert not Membership.objects.filter(account=account, user=outsider).exists()


def test_inviting_an_address_again_replaces_the_first_link(owner, account):
    first, _ = invitation_create(account=account, email="bob@example.com", role="viewer", by=owner)
    invitation_create(account=account, email="BOB@example.com", role="viewer", by=owner)
    first.refresh_from_db()
    assert first.revoked_at is not None


def test_a_member_cannot_be_invited_again(client_of, owner, viewer, account):
    response = invite(client_of(owner), account, email=viewer.email)
    assert response.status_code == 400 and "already a member" in response.content.decode()
    assert not mail.outbox


def test_the_members_list_shows_role_and_last_login(client_of, owner, viewer, account):
    get_user_model().objects.filter(pk=viewer.pk).update(last_login=timezone.now().replace(year=2026, month=3, day=4))
    page = client_of(owner).get(members_url(account)).content.decode()
    row = re.search(r'<tr data-member="victor">.*?</tr>', page, re.S).group(0)
    assert "Viewer" in row and "2026-03-04" in row


def test_an_owner_changes_a_role_and_it_is_audited(client_of, owner, viewer, account):
    response = client_of(owner).post(member_url("member-edit", account, viewer), {"role": "admin"})
    assert response.status_code == 302
    assert Membership.objects.get(user=viewer, account=account).role == "admin"
    entry = AuditEntry.objects.get(action=Action.MEMBER_ROLE_CHANGED)
    assert entry.actor == owner and entry.target_name == "victor" and entry.detail == "Viewer → Admin"


def test_an_admin_cannot_make_an_owner(client_of, admin, viewer, account):
    response = client_of(admin).post(member_url("member-edit", account, viewer), {"role": "owner"})
    assert response.status_code == 400
    assert Membership.objects.get(user=viewer, account=account).role == "viewer"
    assert invite(client_of(admin), account, role="owner").status_code == 400


def test_the_last_owner_can_be_neither_demoted_nor_removed(client_of, owner, account):
    client = client_of(owner)
    demoted = client.post(member_url("member-edit", account, owner), {"role": "admin"})
    assert demoted.status_code == 400 and "needs an owner" in demoted.content.decode()
    removed = client.post(member_url("member-remove", account, owner))
    assert removed.status_code == 400 and "needs an owner" in removed.content.decode()
    assert Membership.objects.get(user=owner, account=account).role == "owner"


def test_with_a_second_owner_the_first_may_step_down(client_of, owner, account):
    make_user("olga", account, Role.OWNER)
    assert client_of(owner).post(member_url("member-edit", account, owner), {"role": "admin"}).status_code == 302
    assert Membership.objects.get(user=owner, account=account).role == "admin"


def test_a_removed_member_is_logged_out_and_their_management_keys_stop(client, owner, developer, account):
    _, plaintext = management_key_create(name="test key", account=account, by=developer)
    assert api_client(plaintext).get(url("management-keys", account)).status_code == 200
    client.force_login(developer)
    assert client.get(members_url(account)).status_code == 200

    from django.test import Client

    owners_client = Client()
    owners_client.force_login(owner)
    response = owners_client.post(member_url("member-remove", account, developer))

    assert response.status_code == 302
    assert not Membership.objects.filter(user=developer, account=account).exists()
    after = client.get(members_url(account))
    assert after.status_code == 302 and after.url.startswith("/login/")  # the session ended, not just the access
    assert api_client(plaintext).get(url("management-keys", account)).status_code == 401
    assert owners_client.get(members_url(account)).status_code == 200  # the remover's session is untouched
    assert AuditEntry.objects.filter(action=Action.MEMBER_REMOVED, actor=owner, target_name="dora").exists()


def test_a_developer_cannot_invite_change_or_remove(client_of, developer, viewer, account):
    client = client_of(developer)
    assert invite(client, account).status_code == 403
    assert client.post(member_url("member-edit", account, viewer), {"role": "admin"}).status_code == 403
    assert client.post(member_url("member-remove", account, viewer)).status_code == 403
    assert Membership.objects.filter(account=account, user=viewer, role="viewer").exists()


@pytest.mark.parametrize(
    "value, backend",
    [
        ("console://", "console"),
        ("locmem://", "locmem"),
        ("smtp+tls://mailer:s%40cret@mail.example.com:2525", "smtp"),
    ],
)
def test_email_url_is_parsed(monkeypatch, value, backend):
    monkeypatch.setenv("EMAIL_URL", value)
    settings = Env().email_url("EMAIL_URL", default="console://")
    assert settings["EMAIL_BACKEND"] == f"django.core.mail.backends.{backend}.EmailBackend"
    if backend == "smtp":
        assert settings["EMAIL_HOST_PASSWORD"] == "s@cret" and settings["EMAIL_PORT"] == 2525
        assert settings["EMAIL_USE_TLS"] and not settings["EMAIL_USE_SSL"]


def test_a_bad_email_url_does_not_print_its_password(monkeypatch):
    monkeypatch.setenv("EMAIL_URL", "smtp://mailer:hunter22@mail.example.com:port")
    with pytest.raises(ImproperlyConfigured) as error:
        Env().email_url("EMAIL_URL", default="console://")
    assert "hunter22" not in str(error.value)


def test_every_permission_is_explained_in_words(client_of, viewer, account):
    from accounts.roles import PERMISSION_DESCRIPTIONS, PERMISSIONS

    assert set(PERMISSION_DESCRIPTIONS) == set(PERMISSIONS)
    # The members page leads to the roles page, where the roles' permissions are in words.
    roles_url = reverse("accounts:roles", kwargs={"account_id": account.id})
    assert roles_url in client_of(viewer).get(members_url(account)).content.decode()
    page = client_of(viewer).get(roles_url).content.decode()
    assert "<code>write:users</code> <span class=\"muted\">Invite members, revoke invitations" in page
