"""Two people in two browsers: an owner makes a custom role and gives it to a
member; the member, in a browser of their own, sees what the role allows and
can do exactly that."""

import pytest
from playwright.sync_api import expect

from accounts.models import CustomRole, Membership
from accounts.roles import PERMISSION_DESCRIPTIONS
from tests.fixtures.browser import log_in

pytestmark = pytest.mark.browser


def test_an_owner_makes_a_custom_role_and_the_member_given_it_sees_and_uses_it(
    transactional_db, chromium, live_server, login, owner, viewer, account, cluster
):
    page = login(owner)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"/accounts/{account.id}/access/roles/")
    page.get_by_role("link", name="Create role").click()
    page.fill("#id_name", "Deployers")
    page.fill("#id_description", "Ship keys for the clusters")
    # The picker by keyboard: Tab to a permission, Space ticks it.
    for permission in ("read:clusters", "read:api_keys", "write:api_keys"):
        page.get_by_label(permission).focus()
        page.keyboard.press("Space")
    expect(page.get_by_label("write:api_keys")).to_be_checked()
    expect(page.get_by_role("group", name="Cluster API Keys")).to_contain_text(PERMISSION_DESCRIPTIONS["write:api_keys"])
    page.get_by_role("button", name="Create role").click()
    expect(page.locator(".flash")).to_contain_text("Created the role Deployers.")
    card = page.locator('[data-role="Deployers"]')
    expect(card).to_contain_text("Custom")
    expect(card).to_contain_text("0 members")
    role = CustomRole.objects.get(account=account, name="Deployers")
    assert role.permissions == ["read:clusters", "read:api_keys", "write:api_keys"]

    # Give it to victor on the members page.
    page.goto(f"/accounts/{account.id}/access/")
    page.get_by_role("link", name="Change role of victor").click()
    page.select_option("#id_role", label="Deployers")
    page.get_by_role("button", name="Change role").click()
    expect(page.locator(".flash")).to_contain_text("victor is now Deployers of Acme.")
    expect(page.locator('tr[data-member="victor"]')).to_contain_text("Deployers")
    assert Membership.objects.get(user=viewer).custom_role == role

    # Deleting it now is refused, next to the button.
    page.goto(f"/accounts/{account.id}/access/roles/")
    page.get_by_role("link", name="Delete the role Deployers").click()
    page.get_by_role("button", name="Delete role").click()
    expect(page.locator(".actions .error")).to_have_text("Deployers is in use: give its 1 member another role first.")
    assert CustomRole.objects.filter(id=role.id).exists()

    # Victor, in a browser of his own.
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    member = context.new_page()
    log_in(member, viewer)
    # Deployers holds neither read:users nor read:roles: Access Management
    # leads him to his own role, which any member may see.
    member.goto(f"/accounts/{account.id}/clusters/")
    member.get_by_role("button", name="Menu").click()
    member.get_by_role("link", name="Access Management").click()
    expect(member.get_by_role("heading", name="Your role in Acme")).to_be_visible()
    mine = member.locator('[data-role="Deployers"]')
    expect(mine).to_contain_text("Ship keys for the clusters")
    expect(mine).to_contain_text(PERMISSION_DESCRIPTIONS["write:api_keys"])
    expect(mine).to_contain_text(PERMISSION_DESCRIPTIONS["read:clusters"])
    expect(mine).not_to_contain_text("delete:clusters")
    # Which is what he can do: create a database API key, but not a cluster.
    member.goto(f"/accounts/{account.id}/clusters/{cluster.id}/api-keys/create/")
    member.fill("#id_name", "deployers key")
    member.get_by_role("button", name="Create", exact=True).click()
    member.locator("[data-secret]").wait_for()
    member.goto(f"/accounts/{account.id}/clusters/create/")
    expect(member.locator("main")).to_contain_text("write:clusters, which your role (Deployers) in Acme does not have")
    member.get_by_role("link", name="See what your role allows").click()
    expect(member.locator('[data-role="Deployers"]')).to_be_visible()
    context.close()
    assert cluster.database_keys.filter(name="deployers key").exists()
