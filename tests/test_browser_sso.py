"""Single sign-on through a real OpenID Connect provider (npm's
oidc-provider, started on loopback by the `oidc_provider` fixture): a member
is matched by verified email; a newcomer joins OIDC_JOIN_ACCOUNT."""

import pytest
from allauth.socialaccount.models import SocialAccount
from playwright.sync_api import expect

from accounts.models import Membership
from accounts.roles import Role
from audit.models import Action, AuditEntry

pytestmark = pytest.mark.browser


def sign_in_at_the_provider(page, email: str) -> None:
    page.goto("/login/")
    page.get_by_role("button", name="Log in with Test IdP").click()
    # The provider's own pages: its development sign-in form, then consent.
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", "anything")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Continue").click()


def test_a_member_signs_in_with_the_provider_and_is_matched_by_email(transactional_db, page, oidc_provider, owner, account):
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    sign_in_at_the_provider(page, owner.email)
    page.wait_for_url(f"**/accounts/{account.id}/clusters/")
    expect(page.locator(".user-menu summary")).to_have_text(owner.username)
    linked = SocialAccount.objects.get(provider="sso")
    assert (linked.user, linked.uid) == (owner, owner.email)


def test_a_newcomer_joins_the_chosen_account_with_the_chosen_role(transactional_db, page, oidc_provider, settings, owner, account):
    settings.OIDC_JOIN_ACCOUNT = account.name
    settings.OIDC_JOIN_ROLE = "developer"
    sign_in_at_the_provider(page, "newcomer@example.org")
    page.wait_for_url(f"**/accounts/{account.id}/clusters/")
    member = Membership.objects.get(account=account, user__email="newcomer@example.org")
    assert member.role == Role.DEVELOPER
    assert AuditEntry.objects.filter(account=account, action=Action.MEMBER_JOINED, detail="by single sign-on").exists()


def test_without_a_join_account_a_newcomer_is_refused(transactional_db, page, oidc_provider, owner, account):
    sign_in_at_the_provider(page, "stranger@example.org")
    expect(page.get_by_role("heading", name="Sign Up Closed")).to_be_visible()
    assert not Membership.objects.filter(user__email="stranger@example.org").exists()
