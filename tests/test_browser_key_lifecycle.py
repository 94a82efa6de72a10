"""A user rolls a key in Chromium: the new secret is shown once and works at
once, the old one keeps working and both are listed, marked; then disables
the new key, which the endpoint refuses at once, and enables it again."""

import pytest
from playwright.sync_api import expect

from apikeys.models import DatabaseApiKey
from tests.fixtures.apikeys import cluster_url, make_key
from tests.fixtures.dataplane import http_get

pytestmark = pytest.mark.browser


def status_at_front(dataplane, token) -> int:
    return http_get(dataplane.url + "/collections", {"api-key": token})[0]


def test_roll_a_key_in_the_browser_then_disable_and_enable_the_new_one(dataplane, live_server, login, owner, cluster):
    key, old_token = make_key(cluster, by=owner, name="books writer")
    page = login(owner)
    page.goto(cluster_url(cluster))
    page.locator("#api-keys").get_by_role("link", name="books writer", exact=True).click()
    page.get_by_role("link", name="Roll…").click()

    expect(page.get_by_role("heading", name="Roll a database API key")).to_be_visible()
    expect(page.get_by_label("In 24 hours")).to_be_checked()
    page.get_by_label("In 1 hour").check()
    page.get_by_role("button", name="Roll key").click()

    expect(page.get_by_role("alert")).to_contain_text("it will not be shown again")
    expect(page.locator(".messages")).to_contain_text(f"The old secret …{key.postfix} keeps working until")
    new_token = page.locator("[data-secret]").inner_text().strip()
    new_key = DatabaseApiKey.objects.get(rolled_into__isnull=True, name="books writer", revoked_at__isnull=True)
    assert new_token != old_token and new_token.endswith(new_key.postfix)
    assert status_at_front(dataplane, new_token) == 200 and status_at_front(dataplane, old_token) == 200

    page.goto(cluster_url(cluster))
    old_row = page.locator(f'[data-key-id="{key.id}"]')
    new_row = page.locator(f'[data-key-id="{new_key.id}"]')
    expect(old_row.locator('[data-key-state="rolled"]')).to_contain_text("Old secret until")
    expect(new_row.locator('[data-key-state="new-secret"]')).to_be_visible()

    new_row.get_by_role("link", name="books writer", exact=True).click()
    page.get_by_role("button", name="Disable").click()
    expect(page.locator(".messages")).to_contain_text("it is refused at")
    expect(page.locator('[data-key-state="disabled"]')).to_be_visible()
    assert status_at_front(dataplane, new_token) == 401
    page.get_by_role("button", name="Enable").click()
    expect(page.locator(".messages")).to_contain_text("it opens")
    assert status_at_front(dataplane, new_token) == 200

    page.reload()
    assert new_token not in page.content()
