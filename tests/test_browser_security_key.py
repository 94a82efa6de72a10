"""In Chromium with a virtual authenticator (the DevTools WebAuthn domain, as
a USB security key that is touched at once): a user adds a security key and
then signs in with it as their second factor."""

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse
from playwright.sync_api import expect

from audit.models import Action, AuditEntry

pytestmark = pytest.mark.browser


@pytest.fixture
def security_key(page):
    """A security key plugged into the page's browser; returns the DevTools session that holds it."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    added = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return devtools, added["authenticatorId"]


def test_a_user_adds_a_security_key_and_signs_in_with_it(
    transactional_db, page, login, security_key, settings, owner, account
):
    # The live server is plain http on localhost (a secure context to the browser);
    # allauth accepts that origin only when told to, as DEBUG does.
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
    devtools, authenticator_id = security_key
    login(owner)
    page.wait_for_url(lambda u: "/login/" not in u)
    page.goto(reverse("mfa_add_webauthn"))
    page.click("#mfa_webauthn_add")
    # Recovery codes come with the first second factor, shown once.
    expect(page.locator("#recovery_codes")).to_be_visible()
    key = Authenticator.objects.get(user=owner, type=Authenticator.Type.WEBAUTHN)
    assert len(devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]) == 1

    page.goto("/logout/")
    page.locator("main").get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda u: "/logout/" not in u)
    login(owner)
    page.wait_for_url(f"**{reverse('mfa_authenticate')}")
    page.click("#mfa_webauthn_authenticate")
    page.wait_for_url(f"**/accounts/{account.id}/clusters/")
    expect(page.get_by_role("heading", name="Clusters", exact=True)).to_be_visible()
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert AuditEntry.objects.filter(account=account, action=Action.SECOND_FACTOR_ADDED, detail="security key").exists()
