"""Failed logins are throttled per username and per client IP (django-axes),
the page says when to retry, and the audit log records failures and lockouts."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse

from audit.models import Action, AuditEntry
from tests.conftest import PASSWORD, make_user

LIMIT = settings.LOGIN_FAILURE_LIMIT


def log_in(client, username, password, ip="203.0.113.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def logged_in(response) -> bool:
    return response.status_code == 302 and response.url == reverse("dashboard")


def move_time_forward(delta: timedelta) -> None:
    """As if `delta` had passed: axes dates every failure; age them all."""
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - delta)


def test_the_limit_is_what_the_readme_says():
    assert LIMIT == 10 and settings.LOGIN_LOCKOUT_MINUTES == 15


def test_wrong_passwords_lock_the_username_and_the_page_says_when_to_retry(client, owner):
    for _ in range(LIMIT - 1):
        assert log_in(client, owner.username, "wrong").status_code == 200
    locked = log_in(client, owner.username, "wrong")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "Too many failed logins" in page and "Try again after" in page and "(in 15 min)" in page
    assert 14 * 60 < int(locked["Retry-After"]) <= 15 * 60

    refused = log_in(client, owner.username, PASSWORD)
    assert refused.status_code == 429 and not logged_in(refused)
    assert "Try again after" in refused.content.decode()


def test_the_username_is_locked_whatever_the_address(client, owner):
    for n in range(LIMIT):
        log_in(client, owner.username, "wrong", ip=f"198.51.100.{n + 1}")
    assert log_in(client, owner.username, PASSWORD, ip="192.0.2.200").status_code == 429


def test_a_refused_attempt_does_not_push_the_retry_time_back(client, owner):
    for _ in range(LIMIT):
        log_in(client, owner.username, "wrong")
    first = int(log_in(client, owner.username, "wrong")["Retry-After"])
    move_time_forward(timedelta(minutes=5))
    assert log_in(client, owner.username, "wrong")["Retry-After"] != str(first)
    assert int(log_in(client, owner.username, PASSWORD)["Retry-After"]) <= first - 5 * 60 + 1


def test_the_lock_opens_after_the_window(client, owner):
    for _ in range(LIMIT):
        log_in(client, owner.username, "wrong")
    move_time_forward(timedelta(minutes=14))
    assert log_in(client, owner.username, PASSWORD).status_code == 429
    move_time_forward(timedelta(minutes=1, seconds=1))
    assert logged_in(log_in(client, owner.username, PASSWORD))


def test_one_address_is_locked_across_usernames(client, owner, db):
    for n in range(LIMIT):
        log_in(client, f"guess{n}", "wrong", ip="203.0.113.66")
    # A real user with the right password, from that address: refused ...
    assert log_in(client, owner.username, PASSWORD, ip="203.0.113.66").status_code == 429
    # ... from another address: in.
    assert logged_in(log_in(client, owner.username, PASSWORD, ip="203.0.113.67"))


def test_the_right_password_before_the_limit_still_works(client, owner):
    for _ in range(LIMIT - 1):
        log_in(client, owner.username, "wrong")
    assert logged_in(log_in(client, owner.username, PASSWORD))


def test_failures_and_the_lockout_go_to_the_audit_log_of_the_users_accounts(client, owner, account, other_account):
    from accounts.models import Membership
    from accounts.roles import Role

    Membership.objects.create(account=other_account, user=owner, role=Role.VIEWER)
    for _ in range(LIMIT + 3):  # three more, refused during the lockout: not recorded
        log_in(client, owner.username, "wrong")
    for acct in (account, other_account):
        entries = AuditEntry.objects.filter(account=acct)
        assert entries.filter(action=Action.LOGIN_FAILED).count() == LIMIT
        lockout = entries.get(action=Action.LOGIN_LOCKED_OUT)
        assert (lockout.target_name, lockout.target_label, lockout.client_ip) == (owner.username, "User", "203.0.113.7")
    client.force_login(owner)
    page = client.get(reverse("audit:log", kwargs={"account_id": account.id})).content.decode()
    assert "Login failed" in page and "Login locked out after repeated failures" in page


def test_a_user_of_another_account_sees_nothing_of_it(client, owner, outsider, other_account):
    log_in(client, owner.username, "wrong")
    assert not AuditEntry.objects.filter(account=other_account).exists()


@pytest.mark.parametrize("field", ["username", "password"])
def test_a_login_without_a_field_is_no_error(client, db, field):
    data = {"username": "someone", "password": "x"}
    del data[field]
    assert client.post(reverse("login"), data).status_code == 200


def test_the_demo_user_is_unaffected_by_force_login(client_of, db):
    # Tests and the console's own code never call authenticate() without a request.
    user = make_user("eve")
    assert client_of(user).get(reverse("dashboard")).status_code == 200


def test_no_password_or_csrf_token_is_kept_with_the_failures(client, owner):
    log_in(client, owner.username, "my-secret-guess")
    client.post(reverse("login"), {"username": owner.username, "password": "another-guess", "csrfmiddlewaretoken": "tok3n"})
    kept = " ".join(AccessAttempt.objects.values_list("post_data", flat=True))
    assert "my-secret-guess" not in kept and "another-guess" not in kept and "tok3n" not in kept
