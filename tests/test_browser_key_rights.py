"""In Chromium: explain a pasted key, then its page's matrix of what it can do,
which agrees with the data plane's answers to the same operations."""

import httpx
import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import axe_violations, require_axe
from tests.fixtures.dataplane import MANAGE, mint

pytestmark = pytest.mark.browser


def test_explain_a_pasted_key_then_read_its_matrix(login, owner, account, cluster, dataplane):
    _, manage_token = mint(cluster, MANAGE, by=owner, name="seed key")
    for name in ("books", "films"):
        httpx.put(f"{dataplane.url}/collections/{name}", headers={"api-key": manage_token},
                  json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
    key, token = mint(cluster, [{"collection": "books", "access": "r"}], by=owner, name="books reader")

    page = login(owner)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/accounts/{account.id}/api-keys/")
    page.get_by_role("link", name="Explain a key").click()
    field = page.get_by_label("Database API key or admin key")
    expect(field).to_have_attribute("autocomplete", "off")
    field.fill(token)
    page.get_by_role("button", name="Explain").click()

    result = page.locator("[data-explained]")
    expect(result).to_have_attribute("data-state", "active")
    expect(result).to_contain_text("books reader")
    expect(result).to_contain_text(cluster.name)
    # What was pasted is gone from the page and was never in a URL.
    expect(page.get_by_label("Database API key or admin key")).to_have_value("")
    assert token not in page.content() and token not in page.url

    result.get_by_role("link", name="Open the key's page").click()
    matrix = page.locator("[data-rights-matrix]")
    expect(matrix.locator("tr[data-collection]")).to_have_count(2)
    cells = {
        (cell.evaluate("c => c.parentElement.dataset.collection"), cell.get_attribute("data-group")):
            cell.get_attribute("data-allowed") == "true"
        for cell in matrix.locator("td[data-group]").all()
    }
    assert cells[("books", "read")] and not cells[("books", "write")] and not cells[("films", "read")]
    # The front says the same: the matrix's read and write of each collection, asked of the data plane.
    for collection in ("books", "films"):
        read = httpx.post(f"{dataplane.url}/collections/{collection}/points/count", headers={"api-key": token},
                          json={"exact": True})
        write = httpx.put(f"{dataplane.url}/collections/{collection}/points", headers={"api-key": token},
                          json={"points": [{"id": 1, "vector": [0.1, 0.2]}]})
        assert (read.status_code != 403, write.status_code != 403) == (
            cells[(collection, "read")], cells[(collection, "write")])
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    require_axe()
    assert axe_violations(page) == []
