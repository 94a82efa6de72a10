"""In Chromium, on a phone: a newcomer signs up, verifies their email through
the emailed link, creates an account, adds an authenticator app (codes
computed here), and logs in again with a code and with a recovery code; an
owner requires a second factor and a member is sent to add one; a dangerous
page asks for the password again."""

import re

import pytest
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import expect

from accounts.models import Account
from tests.conftest import PASSWORD
from tests.fixtures.browser import log_in
from tests.fixtures.totp import next_totp, totp

pytestmark = pytest.mark.browser

PASSPHRASE = "violet marmots climb glaciers"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def a_window(settings):
    settings.MFA_TOTP_TOLERANCE = 1  # a code is accepted once: the second login uses the next period's


def add_authenticator_app(page) -> tuple[str, list[str]]:
    """From the profile: enrol an authenticator app; returns its secret and the recovery codes."""
    page.goto("/me/")
    page.get_by_role("link", name="Two-factor authentication").first.click()
    page.get_by_role("link", name="Activate").first.click()
    secret = page.locator("#authenticator_secret").input_value()
    page.fill("#id_code", totp(secret))
    page.keyboard.press("Enter")
    codes = page.locator("#recovery_codes").input_value().split()
    return secret, codes


def log_out(page) -> None:
    page.goto("/logout/")
    page.locator("main").get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda u: "/logout/" not in u)


def password_step(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.keyboard.press("Enter")


def test_a_newcomer_signs_up_verifies_creates_an_account_and_turns_on_a_second_factor(
    transactional_db, page, settings
):
    settings.SIGNUP = "open"
    # allauth sends one confirmation per address per 3 minutes, counted in the
    # (per-process) cache: test_sign_in.py signed nora up moments ago.
    cache.clear()
    page.set_viewport_size(PHONE)
    page.goto("/login/")
    page.get_by_role("link", name="Sign up").click()
    page.fill("#id_username", "nora")
    page.fill("#id_email", "nora@example.org")
    page.fill("#id_password1", PASSPHRASE)
    page.fill("#id_password2", PASSPHRASE)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    link = re.search(r"(http://\S+/auth/confirm-email/\S+)", mail.outbox[-1].body).group(1)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="You are not a member of any account")).to_be_visible()
    page.get_by_role("link", name="Create an account").click()
    page.fill("#id_name", "Nora's Lab")
    page.keyboard.press("Enter")
    page.wait_for_url("**/clusters/")
    account = Account.objects.get(name="Nora's Lab")
    assert f"/accounts/{account.id}/clusters/" in page.url

    secret, codes = add_authenticator_app(page)
    assert len(codes) == 10
    log_out(page)

    password_step(page, "nora", PASSPHRASE)
    page.fill("#id_code", "123456" if totp(secret) != "123456" else "654321")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    page.fill("#id_code", next_totp(secret))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/accounts/{account.id}/clusters/")
    log_out(page)

    password_step(page, "nora", PASSPHRASE)
    page.fill("#id_code", codes[0])
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/accounts/{account.id}/clusters/")


def test_a_member_without_a_second_factor_is_sent_to_add_one(transactional_db, chromium, live_server, owner, viewer, account):
    account.require_second_factor = True
    account.save()
    context = chromium.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    log_in(page, viewer)
    page.goto(f"/accounts/{account.id}/clusters/")
    expect(page.get_by_role("heading", name="Activate Authenticator App")).to_be_visible()
    secret = page.locator("#authenticator_secret").input_value()
    page.fill("#id_code", totp(secret))
    page.keyboard.press("Enter")
    # The recovery codes are shown once: on the page the activation leads to (and it must
    # have loaded before going on, or the activation's POST may be cut short).
    expect(page.locator("#recovery_codes")).to_be_visible()
    page.goto(f"/accounts/{account.id}/clusters/")
    expect(page.get_by_role("heading", name="Clusters", exact=True)).to_be_visible()
    context.close()


def test_a_dangerous_page_asks_for_the_password_again(transactional_db, page, login, settings, owner, account, cluster):
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 2  # seconds, so the test need not wait ten minutes
    login(owner)
    page.wait_for_timeout(2500)
    page.goto(f"/accounts/{account.id}/clusters/{cluster.id}/delete/")
    expect(page.get_by_role("heading", name="Confirm Access")).to_be_visible()
    page.fill("#id_password", "wrong")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Incorrect password.")).to_be_visible()
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/clusters/{cluster.id}/delete/")
    page.fill("#id_name", cluster.name)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/accounts/{account.id}/clusters/")
