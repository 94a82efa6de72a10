import json

import pytest
from playwright.sync_api import expect

from clusters.models import Cluster

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_enable_button_to_healthy_with_granular_access(login, owner, legacy_cluster, worker):
    page = login(owner)
    page.goto(f"/accounts/{legacy_cluster.account_id}/clusters/{legacy_cluster.id}/")
    banner = page.locator("[data-granular-banner]")
    expect(banner).to_contain_text("This restarts your cluster.")
    banner.get_by_role("link", name="Enable").click()
    expect(page.get_by_role("heading", name="Enable database API keys with granular access control?")).to_be_visible()
    page.get_by_role("button", name="Enable and restart").click()

    badge = page.locator(".page-head [data-phase-badge]")
    expect(badge).to_have_text("Updating")
    # The head, the banner and the API Keys notice tell the same progress (issue 14).
    progress = page.locator("[data-operation-progress]")
    expect(progress).to_have_count(3)
    # Read all three in one turn of the page's script, once the restart shows: the page
    # reloads when the restart ends, and texts read one by one could straddle it. As a
    # string, the answer travels with the handle: reading an array's handle afterwards
    # would ask the page again, whose context the reload may have destroyed meanwhile.
    texts = json.loads(page.wait_for_function("""() => {
        const texts = [...document.querySelectorAll("[data-operation-progress]")].map((e) => e.innerText);
        return texts.length === 3 && texts[0].includes("Restarting node") && JSON.stringify(texts);
    }""", timeout=20_000).json_value())
    assert len(set(texts)) == 1, texts
    expect(page.locator("[data-enable-hint]")).not_to_contain_text("choose Enable")
    # The page follows the restart by itself and shows the result.
    expect(badge).to_have_text("Healthy", timeout=30_000)
    expect(page.locator("[data-granular-banner]")).to_have_count(0, timeout=10_000)
    expect(page.locator("dd[data-jwt-rbac]")).to_have_text("Granular database API keys")
    assert Cluster.objects.get(id=legacy_cluster.id).jwt_rbac
