"""Under the Content-Security-Policy, the pages still work in a real browser and
the browser reports no violation: the Swagger UI at /api/docs renders the
operations, and a console page's scripts run."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def violations_of(page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda message: "Content Security Policy" in message.text and seen.append(message.text))
    return seen


def test_swagger_ui_renders_under_the_policy(page, db):
    seen = violations_of(page)
    page.goto("/api/docs")
    expect(page.locator(".opblock-tag").first).to_be_visible()
    expect(page.get_by_text("Vector Console management API")).to_be_visible()
    assert seen == []


def test_a_console_page_runs_its_scripts_under_the_policy(login, owner, cluster):
    page = login(owner)
    seen = violations_of(page)
    page.goto(f"/accounts/{cluster.account_id}/clusters/{cluster.id}/api-keys/create/")
    expect(page.locator("#id_name")).to_be_visible()
    assert seen == []
