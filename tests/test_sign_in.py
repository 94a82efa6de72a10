"""Self-service accounts (django-allauth): sign-up with email verification,
creating an account, changing and resetting a password."""

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from accounts.models import Account, Membership
from accounts.roles import Role
from audit.models import Action, AuditEntry
from tests.conftest import PASSWORD

NEW_PASSWORD = "a brand new passphrase 42"


def link_in_last_mail() -> str:
    return re.search(r"http://testserver(/\S+)", mail.outbox[-1].body).group(1)


def sign_up(client, username="nora", email="nora@example.org"):
    return client.post(
        reverse("account_signup"),
        {"username": username, "email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )


def test_sign_up_is_by_invitation_unless_opened(client, db):
    page = client.get(reverse("account_signup")).content.decode()
    assert "Sign Up Closed" in page
    sign_up(client)
    assert not get_user_model().objects.filter(username="nora").exists()
    assert "Sign up" not in client.get(reverse("login")).content.decode()


def test_a_new_user_verifies_their_email_then_creates_an_account(client, settings, db):
    settings.SIGNUP = "open"
    assert "Sign up" in client.get(reverse("login")).content.decode()
    response = sign_up(client)
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["nora@example.org"]
    # Not verified yet: the password alone does not let them in.
    response = client.post(reverse("login"), {"username": "nora", "password": NEW_PASSWORD})
    assert response.status_code == 302 and "confirm-email" in response.url
    assert "_auth_user_id" not in client.session

    confirm = link_in_last_mail()
    assert "Please confirm" in client.get(confirm).content.decode()
    response = client.post(confirm)
    assert EmailAddress.objects.get(email="nora@example.org").verified
    assert "You are not a member of any account" in client.get(reverse("dashboard")).content.decode()

    response = client.post(reverse("account-create"), {"name": "Nora's Lab"})
    account = Account.objects.get(name="Nora's Lab")
    assert response.url == reverse("clusters:list", kwargs={"account_id": account.id})
    assert Membership.objects.get(account=account).role == Role.OWNER
    assert AuditEntry.objects.filter(account=account, action=Action.ACCOUNT_CREATED).exists()


def test_a_taken_account_name_is_said_next_to_the_field(client_of, owner, account):
    response = client_of(owner).post(reverse("account-create"), {"name": account.name})
    assert response.status_code == 400
    assert "Account with this Name already exists." in response.content.decode()
    assert Account.objects.count() == 1


def test_an_address_taken_by_another_user_cannot_sign_up_again(client, settings, owner):
    settings.SIGNUP = "open"
    response = sign_up(client, email=owner.email)
    assert get_user_model().objects.filter(email=owner.email).count() == 1
    assert response.status_code in (200, 302)


def test_a_forgotten_password_is_reset_by_a_link_that_works_once(client, owner):
    client.post(reverse("account_reset_password"), {"email": owner.email})
    link = link_in_last_mail()
    form = client.get(link, follow=True)
    assert "Change Password" in form.content.decode()
    url = form.redirect_chain[-1][0] if form.redirect_chain else link
    client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    # Spent: the token is an HMAC of the old password hash.
    again = client.get(link, follow=True).content.decode()
    assert "Bad Token" in again


def test_a_reset_link_expires_after_an_hour(client, owner, settings):
    from django.contrib.auth.tokens import default_token_generator

    assert settings.PASSWORD_RESET_TIMEOUT == 3600
    token = default_token_generator.make_token(owner)
    generator = type(default_token_generator)()
    real_now = generator._now
    generator._now = lambda: real_now() + timedelta(hours=1, seconds=5)
    assert default_token_generator.check_token(owner, token)
    assert not generator.check_token(owner, token)


def test_a_password_change_needs_the_old_one(client_of, owner):
    client = client_of(owner)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": "wrong", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert "Please type your current password." in response.content.decode()
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)
    client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)


def test_the_profile_shows_the_users_sign_in_and_accounts(client_of, owner, account):
    page = client_of(owner).get(reverse("profile")).content.decode()
    assert owner.email in page and "verified" in page and account.name in page and "Second factor" in page


def test_an_operator_creates_the_first_user_with_a_command(db, monkeypatch, client):
    import io

    from django.core.management import call_command

    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_PASSWORD + "\n"))
    call_command("create_user", "olga", "olga@example.org", "--account", "Olga's Org", stdout=io.StringIO())
    olga = get_user_model().objects.get(username="olga")
    assert EmailAddress.objects.get(user=olga).verified
    assert Membership.objects.get(user=olga, account__name="Olga's Org").role == Role.OWNER
    response = client.post(reverse("login"), {"username": "olga", "password": NEW_PASSWORD})
    assert response.url == reverse("dashboard")


def test_the_command_refuses_a_weak_password(db, monkeypatch):
    import io

    from django.core.management import CommandError, call_command

    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    with pytest.raises(CommandError, match="too common"):
        call_command("create_user", "olga", "olga@example.org")
    assert not get_user_model().objects.filter(username="olga").exists()
