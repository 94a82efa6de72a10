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


def connect_in_the_form(page, account, theirs, *, through_front: bool) -> None:
    page.goto(reverse("clusters:list", kwargs={"account_id": account.id}))
    page.get_by_role("link", name="Connect an existing Qdrant").click()
    page.fill("#id_name", "theirs")
    page.fill("#id_url", theirs.url(0))
    page.fill("#id_api_key", theirs.master_key)
    page.fill("#id_grpc_port", str(theirs.nodes[0].grpc))
    if theirs.tls:
        page.fill("#id_ca_certificate", theirs.tls.ca_pem)
    page.get_by_label("Through the front" if through_front else "Directly").check()
    page.get_by_role("button", name="Check and connect").click()
    expect(page.get_by_role("heading", name="theirs")).to_be_visible()


def create_key_in_the_form(page, account, name: str) -> str:
    cluster = Cluster.objects.get(name="theirs")
    page.goto(reverse("apikeys:create", kwargs={"account_id": account.id, "cluster_id": cluster.id}))
    page.fill("#id_name", name)
    page.get_by_role("button", name="Create").click()
    secret = page.locator("[data-secret]")
    expect(secret).to_contain_text("eyJ")
    return secret.inner_text().strip()


@pytest.mark.parametrize("setup", ["three nodes", "tls", "jwt_rbac off"])
def test_each_set_up_is_connected_in_the_console_and_its_keys_reach_it_directly(login, owner, account,
                                                                               elsewhere_shared, setup):
    theirs = elsewhere_shared(setup)
    page = login(owner)
    connect_in_the_form(page, account, theirs, through_front=False)
    expect(page.locator(".page-head [data-phase-badge]")).to_have_text("Healthy")
    expect(page.locator("[data-runtime-label]")).to_have_text(
        f"Connected: runs elsewhere, at {theirs.url(0)}; clients reach it directly")
    expect(page.locator("[data-nodes] li")).to_have_count(theirs.size)
    expect(page.locator("[data-endpoint]")).to_have_text(f"{theirs.scheme}://127.0.0.2:{theirs.nodes[0].http}")
    if not theirs.jwt_rbac:
        expect(page.locator("dd[data-jwt-rbac]")).to_have_text("Admin keys (legacy)")
        return
    token = create_key_in_the_form(page, account, "direct reader")
    last = theirs.size - 1  # any node checks the key itself
    answer = httpx.get(f"{theirs.url(last)}/collections", headers={"api-key": token}, verify=theirs.verify())
    assert answer.status_code == 200, answer.text


def test_a_tls_cluster_on_a_private_ca_connected_through_the_front_in_the_console(login, owner, account,
                                                                                 elsewhere_shared, dataplane):
    from qdrant_client import QdrantClient
    from qdrant_client.http.exceptions import UnexpectedResponse

    theirs = elsewhere_shared("tls")
    page = login(owner)
    connect_in_the_form(page, account, theirs, through_front=True)
    expect(page.locator("[data-runtime-label]")).to_have_text(
        f"Connected: runs elsewhere, at {theirs.url(0)}; clients reach it through the front")
    token = create_key_in_the_form(page, account, "front reader")
    dataplane.wait_until_accepted(token)
    rest = QdrantClient(url=dataplane.url, api_key=token, check_compatibility=False, timeout=10)
    grpc = QdrantClient(host="127.0.0.1", port=dataplane.port, grpc_port=dataplane.grpc_port, prefer_grpc=True,
                        https=False, api_key=token, check_compatibility=False, timeout=10)
    assert rest.get_collections() == grpc.get_collections()

    page.get_by_role("link", name="Done").click()
    page.locator("#api-keys").get_by_role("link", name="Delete front reader").click()
    page.get_by_role("button", name="Delete key").click()
    expect(page.locator(".flash")).to_contain_text("Deleted the database API key front reader")
    with pytest.raises(UnexpectedResponse) as refused:
        rest.get_collections()
    assert refused.value.status_code == 401
    with pytest.raises(Exception, match="UNAUTHENTICATED"):
        grpc.get_collections()
