"""An invitation is for its email: only a user with that address joins with it. Its page says
what it is (account, inviter, role) or why it no longer works before any form; a reload of
"Invitation sent" sends nothing new; re-sending, revoking and joining are in the audit log."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership
from accounts.services import invitation_create
from audit.models import Action, AuditEntry
from createonce.forms import new_nonce
from tests.conftest import PASSWORD, make_user
from tests.test_members import invite, link_parts


@pytest.fixture
def erin_invited(account, owner):
    """An invitation to erin@example.com, who has no user yet, with its link's secret."""
    return invitation_create(account=account, email="erin@example.com", role="viewer", by=owner)


def page(invitation):
    return reverse("invitation", args=[invitation.id])


def test_a_user_with_another_address_is_refused_and_nothing_changes(client_of, account, erin_invited):
    invitation, secret = erin_invited
    eve = make_user("eve")  # eve@example.com
    response = client_of(eve).post(page(invitation), {"secret": secret})
    assert response.status_code == 400
    body = response.content.decode()
    assert "This invitation is for erin@example.com" in body and "Accept invitation" not in body
    assert not Membership.objects.filter(user=eve).exists()
    invitation.refresh_from_db()
    assert invitation.is_pending() and invitation.accepted_by is None
    assert not AuditEntry.objects.filter(action=Action.MEMBER_JOINED).exists()


def test_opening_the_link_names_account_inviter_and_role_before_any_form(client, erin_invited):
    invitation, secret = erin_invited
    opening = client.get(page(invitation)).content.decode()
    assert "Acme" not in opening and "erin@example.com" not in opening  # no secret, nothing said
    body = client.post(page(invitation), {"step": "open", "secret": secret}).content.decode()
    details = body.index("data-invitation-details")
    assert body.index("alice</strong> invited <strong>erin@example.com</strong>", details) < body.index('name="username"')
    assert "join <strong>Acme</strong> as <strong>Viewer</strong>" in body


def end(invitation, how):
    if how == "used":
        Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())
    elif how == "revoked":
        Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
    elif how == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))


@pytest.mark.parametrize(
    "how, says",
    [
        ("used", "it was used already"),
        ("revoked", "it was revoked"),
        ("expired", "it expired on"),
        ("wrong secret", "check that you opened the whole link"),
    ],
)
@pytest.mark.parametrize("signed_in", [False, True])
def test_a_link_that_no_longer_works_says_why_with_no_form(client_of, client, erin_invited, how, says, signed_in):
    invitation, secret = erin_invited
    end(invitation, how)
    if how == "wrong secret":
        secret = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")
    browser = client_of(make_user("erin", role=None)) if signed_in else client
    response = browser.post(page(invitation), {"step": "open", "secret": secret})
    assert response.status_code == 400
    body = response.content.decode()
    assert says in body
    assert 'name="username"' not in body and "Accept invitation" not in body and "Sign up" not in body
    assert "Acme" not in body  # not even a used link names the account


def test_the_user_with_the_address_joins_and_the_audit_entry_names_it(client_of, account, erin_invited):
    invitation, secret = erin_invited
    erin = get_user_model().objects.create_user("erin.k", email="Erin@Example.com", password=PASSWORD)
    assert client_of(erin).post(page(invitation), {"secret": secret}).status_code == 302
    assert Membership.objects.get(user=erin).role == "viewer"
    entry = AuditEntry.objects.get(action=Action.MEMBER_JOINED)
    assert entry.actor == erin and "erin@example.com" in entry.detail


def test_signing_up_takes_the_invited_address(client, erin_invited):
    invitation, secret = erin_invited
    response = client.post(
        page(invitation), {"secret": secret, "username": "erin", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    assert get_user_model().objects.get(username="erin").email == "erin@example.com"


def test_signing_up_with_an_address_that_has_a_user_asks_to_log_in(client, account, owner):
    dora = make_user("dora")  # dora@example.com, of another account or none
    invitation, secret = invitation_create(account=account, email=dora.email, role="viewer", by=owner)
    response = client.post(
        page(invitation), {"secret": secret, "username": "dora2", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 400 and "log in as them" in response.content.decode()
    assert not get_user_model().objects.filter(username="dora2").exists()


def test_reloading_invitation_sent_sends_no_new_link(client_of, owner, account):
    client, nonce = client_of(owner), new_nonce()
    first = invite(client, account, email="erin@example.com", nonce=nonce)
    assert first.status_code == 200 and len(mail.outbox) == 1
    path, secret = link_parts(mail.outbox[0].body)

    again = invite(client, account, email="erin@example.com", nonce=nonce)  # the browser's "resubmit"
    assert again.status_code == 302 and len(mail.outbox) == 1
    assert secret not in client.get(again.url).content.decode()
    invitation = Invitation.objects.get()
    assert invitation.is_pending()  # the first link still works
    assert AuditEntry.objects.filter(action=Action.MEMBER_INVITED).count() == 1


def test_sending_again_and_revoking_are_audited(client_of, owner, account, erin_invited):
    first, _ = erin_invited
    second, _ = invitation_create(account=account, email="ERIN@example.com", role="viewer", by=owner)
    replaced = AuditEntry.objects.get(action=Action.INVITATION_REVOKED, target_id=str(first.id))
    assert replaced.actor == owner and "replaced by a new invitation" in replaced.detail
    assert "sent again" in AuditEntry.objects.get(action=Action.MEMBER_INVITED, target_id=str(second.id)).detail

    revoke = reverse("accounts:invitation-revoke", kwargs={"account_id": account.id, "invitation_id": second.id})
    assert client_of(owner).post(revoke).status_code == 302
    revoked = AuditEntry.objects.get(action=Action.INVITATION_REVOKED, target_id=str(second.id))
    assert revoked.actor == owner and revoked.target_name == "ERIN@example.com"
    second.refresh_from_db()
    assert second.revoked_at is not None and second.revoked_at <= timezone.now()


def test_send_again_opens_the_form_filled_in_and_replaces_the_first_link(client_of, owner, account, erin_invited):
    first, _ = erin_invited
    client = client_of(owner)
    members = client.get(reverse("accounts:access", kwargs={"account_id": account.id})).content.decode()
    again = re.search(r'href="([^"]+)" aria-label="Send the invitation to erin@example.com again"', members).group(1)
    form = client.get(again.replace("&amp;", "&")).content.decode()
    assert 'value="erin@example.com"' in form and re.search(r'<option value="viewer" selected>', form)
    assert invite(client, account, email="erin@example.com", role="viewer").status_code == 200
    first.refresh_from_db()
    assert first.revoked_at is not None and len(mail.outbox) == 1
