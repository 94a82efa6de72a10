"""Two people in two browsers: an owner invites a colleague by email, the
colleague opens the emailed link, signs up and joins; the owner sees them."""

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import Membership
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_an_owner_invites_and_the_invitee_signs_up_and_joins(transactional_db, chromium, live_server, login, owner, account):
    page = login(owner)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"/accounts/{account.id}/access/")
    page.get_by_role("link", name="Invite member").click()
    page.fill("#id_email", "bob@example.com")
    page.select_option("#id_role", "developer")
    page.keyboard.press("Enter")  # the form works from the keyboard

    expect(page.get_by_role("heading", name="Invitation sent")).to_be_visible()
    link = page.locator("[data-secret]").inner_text().strip()
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("[data-copy-secret]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == link

    # The invitee, in a browser of their own.
    context = chromium.new_context(base_url=live_server.url)
    invitee = context.new_page()
    invitee.goto(link)
    expect(invitee.get_by_role("heading", name="Join an account on Vector Console")).to_be_visible()
    assert "#" not in invitee.url  # the secret left the address bar
    invitee.fill("#id_username", "bob")
    invitee.fill("#id_password1", PASSWORD)
    invitee.fill("#id_password2", PASSWORD)
    invitee.get_by_role("button", name="Sign up and join").click()
    expect(invitee.locator(".flash")).to_contain_text("You joined Acme as Developer.")
    assert Membership.objects.get(account=account, user__username="bob").role == "developer"
    context.close()

    page.goto(f"/accounts/{account.id}/access/")
    expect(page.locator('tr[data-member="bob"]')).to_contain_text("Developer")
    expect(page.locator("[data-invitations]")).to_have_count(0)


def test_an_existing_user_logs_in_from_the_link_and_joins(transactional_db, chromium, live_server, owner, outsider, account):
    from accounts.services import invitation_create

    invitation, secret = invitation_create(account=account, email=outsider.email, role="viewer", by=owner)
    context = chromium.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto(f"/invitations/{invitation.id}/#{secret}")
    page.get_by_role("link", name="log in").click()
    page.fill("#id_username", outsider.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    # Back on the invitation page: the secret came through the detour.
    page.get_by_role("button", name="Accept invitation").click()
    expect(page.locator(".flash")).to_contain_text("You joined Acme as Viewer.")
    assert Membership.objects.get(account=account, user=outsider).role == "viewer"
    context.close()


def test_a_user_with_another_address_sees_the_invitation_and_a_refusal(transactional_db, live_server, login, owner, outsider, account):
    from accounts.services import invitation_create

    invitation, secret = invitation_create(account=account, email="erin@example.com", role="viewer", by=owner)
    page = login(outsider)  # charlie@example.com
    page.goto(f"/invitations/{invitation.id}/#{secret}")
    details = page.locator("[data-invitation-details]")
    expect(details).to_contain_text("alice invited erin@example.com to join Acme as Viewer.")
    expect(page.locator("[data-invitation-refused]")).to_contain_text("This invitation is for erin@example.com")
    expect(page.get_by_role("button", name="Accept invitation")).to_have_count(0)
    assert not Membership.objects.filter(account=account, user=outsider).exists()
