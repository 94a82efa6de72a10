"""A user creates a database API key on the cluster page, copies it once, and never sees it again."""

import re
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apikeys.models import DatabaseApiKey
from tests.fixtures.apikeys import cluster_url

pytestmark = pytest.mark.browser


def test_create_a_key_see_it_once_copy_it_and_it_is_gone_after_a_reload(
    transactional_db, live_server, login, owner, cluster
):
    page = login(owner)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(cluster_url(cluster))
    section = page.locator("#api-keys")
    expect(section.locator("[data-no-keys]")).to_be_visible()
    section.get_by_role("link", name="Create", exact=True).click()

    expect(page.get_by_role("heading", name="Create a database API key")).to_be_visible()
    page.fill("#id_name", "books writer")
    preview = page.locator("[data-expiry-preview]")
    expect(preview).to_contain_text((timezone.now() + timedelta(days=90)).strftime("%-d %B %Y"))
    page.fill("#id_expires_in_days", "30")  # the date follows as one types
    expect(preview).to_contain_text((timezone.now() + timedelta(days=30)).strftime("%-d %B %Y"))
    page.fill("#id_expires_in_days", "")
    expect(preview).to_have_text("The key never expires.")
    page.fill("#id_expires_in_days", "30")

    expect(page.locator(".scope-panel-collections")).to_be_hidden()
    page.get_by_text("Collections", exact=True).click()
    expect(page.locator(".scope-panel-collections")).to_be_visible()
    expect(page.locator(".scope-panel-cluster")).to_be_hidden()
    page.get_by_label("New collection name").fill("books")
    page.get_by_label("Access to the new collection").select_option("rw")
    page.get_by_role("button", name="Create", exact=True).click()

    expect(page.get_by_role("heading", name="Database API key created")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("it will not be shown again")
    token = page.locator("[data-secret]").inner_text().strip()
    assert token.startswith("eyJhb")
    claims = jwt.decode(token, cluster.master_key.encode(), algorithms=["HS256"])
    assert claims["access"] == [{"collection": "books", "access": "rw"}]
    assert page.locator("#reveal-snippets-panel-curl").inner_text().count(token) == 1

    page.get_by_role("button", name="Copy", exact=True).first.click()
    expect(page.locator("[data-copy-secret]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token

    page.reload()
    expect(page.locator("[data-key-gone]")).to_contain_text("can no longer be shown")
    assert token not in page.content()
    assert DatabaseApiKey.objects.count() == 1

    page.goto(cluster_url(cluster))
    row = page.locator("#api-keys tr[data-key-id]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("books writer")
    expect(row).to_contain_text("Read-write · 1 collection")
    expect(row).to_contain_text("…" + token[-6:])
    assert token not in page.content()


def test_bad_input_is_shown_next_to_the_field_in_the_browser(transactional_db, live_server, login, owner, cluster):
    page = login(owner)
    page.goto(cluster_url(cluster))
    page.locator("#api-keys").get_by_role("link", name="Create", exact=True).click()
    page.fill("#id_name", "no")
    page.fill("#id_expires_in_days", "soon")  # a text field: the server sees what was typed
    page.get_by_text("Collections", exact=True).click()
    page.get_by_role("button", name="Create", exact=True).click()
    # Name and expiry are refused before the form goes (keys.js), with the server's words.
    expect(page.locator("#id_name-error")).to_contain_text("at least 4 characters")
    expect(page.locator("#id_expires_in_days-error")).to_contain_text("whole number of days")
    expect(page.locator("#id_name")).to_be_focused()
    # The rest only the server knows: an empty Collections tab.
    page.fill("#id_name", "books reader")
    page.fill("#id_expires_in_days", "30")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#id_collections-error")).to_be_visible()
    expect(page.locator("#id_name")).to_have_value("books reader")
    assert not DatabaseApiKey.objects.exists()


def test_delete_asks_first_and_the_key_leaves_the_list(transactional_db, live_server, login, owner, cluster):
    from tests.fixtures.apikeys import make_key

    make_key(cluster, by=owner, name="old service")
    page = login(owner)
    page.goto(cluster_url(cluster))
    page.locator("#api-keys").get_by_role("link", name="Delete old service").click()
    expect(page.get_by_role("heading", name="Delete a database API key")).to_be_visible()
    page.get_by_role("button", name="Delete key").click()
    expect(page).to_have_url(re.compile(re.escape(cluster_url(cluster))))
    expect(page.locator(".flash")).to_contain_text("Deleted the database API key old service")
    expect(page.locator("#api-keys tr[data-key-id]")).to_have_count(0)
    assert DatabaseApiKey.objects.get().revoked_at is not None
