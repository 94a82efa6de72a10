"""Second factor (django-allauth's mfa): TOTP with codes computed here,
recovery codes shown once and usable once, an owner requiring a second factor
of every member, failed codes throttled with failed passwords, all audited."""

import importlib
import io
import re

import pytest
from allauth.mfa.models import Authenticator
from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.urls import reverse

from audit.models import Action, AuditEntry
from tests.conftest import PASSWORD
from tests.fixtures.totp import next_totp, totp


CODE = r"\b[0-9a-f]{4}(?:-[0-9a-f]{4}){4}\b"


@pytest.fixture(autouse=True)
def a_window(settings):
    settings.MFA_TOTP_TOLERANCE = 1  # a code is accepted once: a second step uses the next period's


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """allauth signals a new or removed authenticator once the transaction commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def enrol(on_commit):
    """`enrol(client)` adds an authenticator app; returns its secret and the recovery codes shown."""

    def enrol(client) -> tuple[str, list[str]]:
        page = client.get(reverse("mfa_activate_totp")).content.decode()
        secret = re.search(r'id="authenticator_secret" value="([A-Z2-7]+)"', page).group(1)
        with on_commit():
            response = client.post(reverse("mfa_activate_totp"), {"code": totp(secret)})
        assert response.url == reverse("mfa_view_recovery_codes")
        codes = re.findall(CODE, client.get(response.url).content.decode())
        return secret, codes

    return enrol


def log_in(client, user, ip="203.0.113.9"):
    return client.post(reverse("login"), {"username": user.username, "password": PASSWORD}, REMOTE_ADDR=ip)


def test_a_user_adds_an_authenticator_app_and_then_needs_its_code(enrol, client_of, client, owner, account):
    secret, codes = enrol(client_of(owner))
    assert len(codes) == 10
    stored = Authenticator.objects.get(user=owner, type=Authenticator.Type.TOTP)
    assert secret not in str(stored.data)  # encrypted at rest
    client.logout()

    response = log_in(client, owner)
    assert response.url == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    wrong = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert "Incorrect code." in wrong.content.decode()
    client.post(reverse("mfa_authenticate"), {"code": next_totp(secret)})
    assert client.session["_auth_user_id"] == str(owner.pk)

    actions = list(AuditEntry.objects.filter(account=account).values_list("action", flat=True))
    assert Action.SECOND_FACTOR_ADDED in actions and Action.SECOND_FACTOR_FAILED in actions


def test_a_recovery_code_works_once(enrol, client_of, client, owner, account):
    _, codes = enrol(client_of(owner))
    # Shown once: the page to view them again no longer lists them.
    assert codes[0] not in client_of(owner).get(reverse("mfa_view_recovery_codes")).content.decode()
    client.logout()
    log_in(client, owner)
    client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert client.session["_auth_user_id"] == str(owner.pk)
    entry = AuditEntry.objects.get(account=account, action=Action.RECOVERY_CODE_USED)
    assert entry.detail == "9 left"

    client.logout()
    log_in(client, owner)
    again = client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert "Incorrect code." in again.content.decode() and "_auth_user_id" not in client.session


def test_the_database_holds_no_recovery_code(enrol, client_of, owner):
    _, codes = enrol(client_of(owner))
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    sessions = " ".join(str(s.get_decoded()) for s in Session.objects.all())
    for code in codes:
        for form in (code, code.replace("-", "")):
            assert form not in dump.getvalue() and form not in sessions
    stored = Authenticator.objects.get(user=owner, type=Authenticator.Type.RECOVERY_CODES).data
    assert "seed" not in stored and len(stored["digests"]) == 10


def test_recovery_codes_are_shown_once_and_typed_loosely(enrol, client_of, client, owner):
    owners_client = client_of(owner)
    _, codes = enrol(owners_client)
    again = owners_client.get(reverse("mfa_view_recovery_codes")).content.decode()
    assert not re.findall(CODE, again) and "There are 10 out of 10 recovery codes available." in again
    assert owners_client.get(reverse("mfa_download_recovery_codes")).status_code == 403
    client.logout()
    log_in(client, owner)
    client.post(reverse("mfa_authenticate"), {"code": codes[3].upper().replace("-", " ")})
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_new_recovery_codes_replace_the_old_ones(enrol, on_commit, client_of, client, owner, account):
    owners_client = client_of(owner)
    _, old = enrol(owners_client)
    with on_commit():
        response = owners_client.post(reverse("mfa_generate_recovery_codes"))
    new = re.findall(CODE, owners_client.get(response.url).content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert AuditEntry.objects.filter(account=account, action=Action.RECOVERY_CODES_RENEWED).exists()
    client.logout()
    log_in(client, owner)
    refused = client.post(reverse("mfa_authenticate"), {"code": old[0]})
    assert "Incorrect code." in refused.content.decode()
    client.post(reverse("mfa_authenticate"), {"code": new[0]})
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_codes_from_allauths_seed_keep_working_as_digests(owner):
    # A user who made recovery codes before they were digests (migration 0007).
    from accounts.recovery_codes import SeedRecoveryCodes

    seeded = SeedRecoveryCodes.activate(owner)
    codes = seeded.generate_codes()
    assert seeded.validate_code(codes[0])
    importlib.import_module("accounts.migrations.0007_recovery_code_digests").seeds_to_digests(apps, None)

    stored = Authenticator.objects.get(user=owner, type=Authenticator.Type.RECOVERY_CODES)
    assert "seed" not in stored.data and len(stored.data["digests"]) == 9
    assert not stored.wrap().validate_code(codes[0])
    assert stored.wrap().validate_code(codes[1]) and not stored.wrap().validate_code(codes[1])


def test_wrong_codes_lock_the_user_out_like_wrong_passwords(enrol, client_of, client, owner):
    secret, _ = enrol(client_of(owner))
    client.logout()
    log_in(client, owner)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(reverse("mfa_authenticate"), {"code": "000000"}, REMOTE_ADDR="203.0.113.9")
    # Now even the right code is refused, and so is the password.
    locked = client.post(reverse("mfa_authenticate"), {"code": next_totp(secret)}, REMOTE_ADDR="203.0.113.9")
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # A new browser, another address: the username is locked for the password too.
    from django.test import Client

    assert log_in(Client(), owner, ip="198.51.100.1").status_code == 429


def test_an_owner_requires_a_second_factor_and_members_are_sent_to_add_one(enrol, client_of, owner, viewer, account):
    owners_client = client_of(owner)
    secret, _ = enrol(owners_client)
    owners_client.post(reverse("accounts:second-factor", kwargs={"account_id": account.id}), {"required": "on"})
    account.refresh_from_db()
    assert account.require_second_factor
    assert AuditEntry.objects.filter(account=account, action=Action.SECOND_FACTOR_REQUIRED).exists()

    from django.test import Client

    members_client = Client()
    members_client.force_login(viewer)
    clusters = reverse("clusters:list", kwargs={"account_id": account.id})
    response = members_client.get(clusters)
    assert response.status_code == 302 and response.url == reverse("mfa_activate_totp")
    enrol(members_client)
    assert members_client.get(clusters).status_code == 200

    page = owners_client.get(reverse("accounts:access", kwargs={"account_id": account.id})).content.decode()
    assert page.count('<span class="badge allowed">On</span>') == 2


def test_only_an_owner_sets_the_requirement(client_of, admin, account):
    response = client_of(admin).post(reverse("accounts:second-factor", kwargs={"account_id": account.id}), {"required": "on"})
    assert response.status_code == 403
    account.refresh_from_db()
    assert not account.require_second_factor


def test_removing_the_authenticator_app_is_audited(enrol, on_commit, client_of, owner, account):
    client = client_of(owner)
    secret, _ = enrol(client)
    with on_commit():
        client.post(reverse("mfa_deactivate_totp"), {})
    assert not Authenticator.objects.filter(user=owner, type=Authenticator.Type.TOTP).exists()
    assert AuditEntry.objects.filter(account=account, action=Action.SECOND_FACTOR_REMOVED).exists()
