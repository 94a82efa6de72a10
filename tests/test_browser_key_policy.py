"""An owner sets the account's key policy in the browser; a key made before it is
listed as breaking it; the management key form shows the limits before one
types, and refuses a key that breaks them next to the field."""

import pytest
from playwright.sync_api import expect

from managementkeys.models import ManagementKey
from managementkeys.services import management_key_create
from tests.fixtures.browser import axe_violations, require_axe

pytestmark = pytest.mark.browser


def test_an_owner_caps_management_keys_and_the_form_keeps_to_it(transactional_db, live_server, login, owner,
                                                                  account):
    old, _ = management_key_create(name="old open key", account=account, by=owner)
    page = login(owner)
    page.goto(f"/accounts/{account.id}/access/management-keys/")
    page.get_by_role("link", name="Key policy").click()
    expect(page.locator("[data-keys-breaking-policy]")).to_contain_text("Every key meets the policy.")

    page.get_by_label("Longest expiry of new management keys (days)").fill("0")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator("#id_management_key_max_days-error")).to_have_text(
        "At least 1 day; leave the field empty for no limit.")
    expect(page.get_by_label("Longest expiry of new management keys (days)")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Longest expiry of new management keys (days)").fill("7")
    page.get_by_label("Management keys need allowed addresses").check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".flash")).to_contain_text("Saved the key policy")
    row = page.locator(f'[data-breaking-key="{old.id}"]')
    expect(row).to_contain_text("old open key")
    expect(row).to_contain_text("management keys expire within 7 days")
    expect(row).to_contain_text("management keys need allowed addresses")
    require_axe()
    assert axe_violations(page) == []

    # The old key is flagged in its list, not revoked.
    page.goto(f"/accounts/{account.id}/access/management-keys/")
    expect(page.locator(f'tr[data-key-id="{old.id}"] [data-key-state="breaks-policy"]')).to_be_visible()

    page.get_by_role("link", name="Create management key").click()
    expect(page.locator("[data-key-policy-note]")).to_contain_text("Management keys expire within 7 days.")
    expect(page.locator("[data-key-policy-note]")).to_contain_text("Management keys need allowed addresses.")
    expect(page.locator("#id_expires_in_days")).to_have_value("7")
    page.fill("#id_name", "deploy bot")
    page.fill("#id_expires_in_days", "30")
    page.locator("#id_expires_in_days").blur()
    expect(page.locator("#id_expires_in_days-error")).to_have_text("The account's key policy: at most 7 days.")

    page.fill("#id_expires_in_days", "7")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#id_allowed_networks-error")).to_have_text(
        "The account's key policy: management keys need allowed addresses.")
    assert not ManagementKey.objects.filter(name="deploy bot").exists()

    page.fill("#id_name", "deploy bot")
    page.fill("#id_allowed_networks", "203.0.113.0/24")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Management key created")).to_be_visible()
    made = ManagementKey.objects.get(name="deploy bot")
    assert made.allowed_networks == ["203.0.113.0/24"] and made.expires_at is not None
