"""From the API Keys page a user picks a cluster and reaches its key form,
and narrows the list with the filters, on a phone-sized screen."""

import pytest
from playwright.sync_api import expect

from tests.conftest import make_cluster
from tests.fixtures.apikeys import make_key

pytestmark = pytest.mark.browser


def test_create_from_the_api_keys_page_and_filter(transactional_db, live_server, login, owner, account, cluster):
    other = make_cluster(account, name="staging")
    make_key(cluster, by=owner, name="prod reader")
    make_key(other, by=owner, name="staging writer")
    page = login(owner)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/accounts/{account.id}/api-keys/")
    expect(page.locator("tr[data-key-id]")).to_have_count(2)

    page.select_option("#id_cluster", str(other.id))
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tr[data-key-id]")).to_have_count(1)
    expect(page.locator("tr[data-key-id]")).to_contain_text("staging writer")

    page.get_by_role("link", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name="Create an API key")).to_be_visible()
    page.select_option("#id_cluster", str(cluster.id))
    page.get_by_role("button", name="Continue").press("Enter")  # by keyboard
    expect(page.get_by_role("heading", name="Create a database API key")).to_be_visible()
    assert f"/clusters/{cluster.id}/api-keys/create/" in page.url
