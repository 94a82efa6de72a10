"""On a legacy cluster like the demo's, a user creates an admin key, copies it
once, never sees it again, and deletes it."""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from apikeys.models import AdminKey
from createonce.digests import token_matches
from tests.conftest import make_cluster
from tests.fixtures.apikeys import cluster_url

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_legacy_cluster(account):
    """As `manage.py seed_demo` makes it: created 2024-11-05, before granular keys existed."""
    return make_cluster(
        account, name="legacy-cluster", version="v1.12.6", created_at=datetime(2024, 11, 5, 9, 30, tzinfo=UTC)
    )


def test_create_an_admin_key_see_it_once_copy_it_and_it_is_gone_after_a_reload(
    transactional_db, live_server, login, owner, demo_legacy_cluster
):
    cluster = demo_legacy_cluster
    page = login(owner)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(cluster_url(cluster))
    expect(page.locator("[data-granular-banner]")).to_contain_text("This restarts your cluster.")
    admin = page.locator("#admin-keys")
    expect(admin.get_by_role("heading", name="Admin Database API keys")).to_be_visible()
    expect(admin.locator("[data-no-admin-keys]")).to_be_visible()
    admin.get_by_role("link", name="Create", exact=True).click()

    expect(page.get_by_role("heading", name="Create an admin key")).to_be_visible()
    page.fill("#id_name", "legacy importer")
    page.fill("#id_expires_in_days", "")
    expect(page.locator("[data-expiry-preview]")).to_have_text("The key never expires.")
    page.get_by_role("button", name="Create", exact=True).click()

    expect(page.get_by_role("heading", name="Admin key created")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("it will not be shown again")
    secret = page.locator("[data-secret]").inner_text().strip()
    key = AdminKey.objects.get()
    assert token_matches(key, secret) and "." not in secret
    assert page.locator("#reveal-snippets-panel-curl").inner_text().count(secret) == 1

    page.get_by_role("button", name="Copy", exact=True).first.click()
    expect(page.locator("[data-copy-secret]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    page.reload()
    expect(page.locator("[data-key-gone]")).to_contain_text("can no longer be shown")
    assert secret not in page.content()
    assert AdminKey.objects.count() == 1

    page.goto(cluster_url(cluster))
    row = page.locator("#admin-keys tr[data-admin-key-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("legacy importer")
    expect(row).to_contain_text("…" + secret[-6:])
    assert secret not in page.content()

    row.get_by_role("link", name="Delete legacy importer").click()
    expect(page.get_by_role("heading", name="Delete an admin key")).to_be_visible()
    page.get_by_role("button", name="Delete key").click()
    expect(page.locator(".flash")).to_contain_text("Deleted the admin key legacy importer")
    expect(page.locator("#admin-keys tr[data-admin-key-id]")).to_have_count(0)
    assert AdminKey.objects.live().count() == 0
