"""A developer names a management key, gives it an expiry, copies it once, and
finds it by name in the list."""

import pytest
from playwright.sync_api import expect

from managementkeys.models import ManagementKey
from managementkeys.services import management_key_authenticate

pytestmark = pytest.mark.browser


def test_create_a_named_management_key_and_copy_it(transactional_db, live_server, login, developer, account):
    page = login(developer)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"/accounts/{account.id}/access/management-keys/")
    page.get_by_role("link", name="Create management key").click()
    expect(page.locator("#id_expires_in_days")).to_have_value("90")
    expect(page.locator("[data-expiry-preview]")).to_contain_text("The key expires on")
    page.fill("#id_name", "ci deploy")
    page.fill("#id_expires_in_days", "30")
    page.get_by_role("button", name="Create key").click()

    expect(page.get_by_role("heading", name="Management key created")).to_be_visible()
    secret = page.locator("[data-secret]").inner_text().strip()
    assert management_key_authenticate(secret) == ManagementKey.objects.get(name="ci deploy")
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("[data-copy-secret]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    page.get_by_role("link", name="Done").click()
    row = page.locator("[data-management-keys] tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("ci deploy")
    assert secret.split(".")[1] not in page.content()
