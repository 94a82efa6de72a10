"""A user connects a Qdrant the team already runs through the console's form
(issue 21), against a real Qdrant with jwt_rbac on that the test starts
"elsewhere" on 127.0.0.2 (tests/fixtures/elsewhere.py), then creates a key and
finds snippets that reach the cluster itself; the key works there until it is
deleted in the console."""

import re

import httpx
import pytest
from django.urls import reverse
from playwright.sync_api import expect

from clusters.models import Cluster
from tests.fixtures.qdrant import requires_qdrant

pytestmark = [pytest.mark.browser, requires_qdrant]


def fill_connect_form(page, account, theirs, *, api_key: str) -> None:
    page.goto(reverse("clusters:list", kwargs={"account_id": account.id}))
    page.get_by_role("link", name="Connect an existing Qdrant").click()
    page.fill("#id_name", "theirs")
    page.fill("#id_url", theirs.url())
    page.fill("#id_api_key", api_key)
    page.get_by_label("Directly").check()
    page.get_by_role("button", name="Check and connect").click()


def test_a_cluster_connected_in_the_console_gets_keys_with_direct_snippets(login, owner, account, elsewhere):
    theirs = elsewhere(jwt_rbac=True)
    page = login(owner)

    # A wrong master key: said next to the field, nothing saved, the rest kept.
    fill_connect_form(page, account, theirs, api_key="not-" + theirs.master_key)
    expect(page.locator("#id_api_key-error")).to_contain_text("refused this master key")
    expect(page.locator("#id_url")).to_have_value(theirs.url())
    assert not Cluster.objects.exists()

    fill_connect_form(page, account, theirs, api_key=theirs.master_key)
    expect(page.get_by_role("heading", name="theirs")).to_be_visible()
    expect(page.locator(".page-head [data-phase-badge]")).to_have_text("Healthy")
    expect(page.locator("[data-runtime-label]")).to_have_text(
        f"Connected: runs elsewhere, at {theirs.url()}; clients reach it directly")
    expect(page.get_by_text("Hybrid · 127.0.0.2")).to_be_visible()
    expect(page.locator("[data-version]")).to_have_text("v1.16.3")
    # jwt_rbac is on there: granular keys from the start.
    expect(page.locator("dd[data-jwt-rbac]")).to_have_text("Granular database API keys")
    expect(page.locator("[data-endpoint]")).to_have_text(f"http://127.0.0.2:{theirs.nodes[0].http}")

    cluster = Cluster.objects.get(name="theirs")
    page.goto(reverse("apikeys:create", kwargs={"account_id": account.id, "cluster_id": cluster.id}))
    page.fill("#id_name", "direct reader")
    page.get_by_role("button", name="Create").click()
    secret = page.locator("[data-secret]")
    expect(secret).to_contain_text("eyJ")
    token = secret.inner_text().strip()

    # The snippets reach the cluster itself, not the console's front.
    curl = page.get_by_role("tabpanel", name="curl (api-key header)")
    expect(curl).to_contain_text(f"curl -X GET '{theirs.url()}'")
    expect(curl).to_contain_text(token)
    page.get_by_role("tab", name="Python").click()
    python = page.get_by_role("tabpanel", name="Python")
    expect(python).to_contain_text(re.compile(r'url="http://127\.0\.0\.2"'))
    expect(python).to_contain_text(f"port={theirs.nodes[0].http}")

    # And the key works there, as the snippet would use it: checked by Qdrant itself.
    answer = httpx.get(f"{theirs.url()}/collections", headers={"api-key": token})
    assert answer.status_code == 200, answer.text

    # Deleted in the console, it is refused by the cluster on its next request,
    # with nothing of ours between the client and the cluster.
    page.get_by_role("link", name="Done").click()
    page.locator("#api-keys").get_by_role("link", name="Delete direct reader").click()
    page.get_by_role("button", name="Delete key").click()
    expect(page.locator(".flash")).to_contain_text("Deleted the database API key direct reader")
    answer = httpx.get(f"{theirs.url()}/collections", headers={"api-key": token})
    assert answer.status_code == 401, answer.text
