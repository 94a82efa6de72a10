"""The reveal page's "Test connection" sends GET / with the new key to the
cluster's endpoint, served by a running data plane, and shows the answer."""

import pytest
from playwright.sync_api import expect

from clusters.models import Cluster
from tests.fixtures.apikeys import create_url

pytestmark = pytest.mark.browser


def test_the_new_key_opens_the_cluster(dataplane, live_server, login, owner, cluster):
    Cluster.objects.filter(id=cluster.id).update(endpoint_url="http://127.0.0.1", rest_port=dataplane.port)
    page = login(owner)
    page.goto(create_url(cluster))
    page.fill("#id_name", "connection check")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("[data-secret]")).to_contain_text("eyJhb")

    page.get_by_role("button", name="Test connection").click()
    result = page.locator("[data-test-result]")
    expect(result).to_contain_text("200", timeout=10_000)
    expect(result).to_contain_text('"title":"qdrant - vector search engine"')
    expect(result).to_contain_text('"version":"1.19.0"')
