"""Usage charts in Chromium after known traffic (issue 24): requests made
through two fronts, over REST and gRPC, allowed and refused, are the counts
the management API answers and the key's page and the cluster's page show, drawn (uPlot) and in their
table, at 390 and 1280 px, without overflowing the viewport. Screenshots go
to SCREENSHOT_DIR (else a temporary directory, printed)."""

import os
from pathlib import Path

import httpx
import pytest
from django.db.models import Sum
from qdrant_client import QdrantClient, models

from apikeys.models import KeyUsage
from tests.fixtures.apikeys import cluster_url
from tests.fixtures.dataplane import MANAGE, DataPlaneProcess, collection_rule, free_port, mint
from tests.fixtures.worker import wait_for
from tests.test_api_support import api_as, url

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")]

REFUSED = "Write access to collection films is required"


@pytest.fixture(scope="module")
def second_front(dataplane_process, django_db_blocker, tmp_path_factory):
    port = free_port()
    env = dataplane_process.env | {"DATAPLANE_PORT": str(port),
                                   "DATAPLANE_DATA_DIR": str(tmp_path_factory.mktemp("dataplane-second"))}
    plane = DataPlaneProcess(port=port, data_dir=Path(env["DATAPLANE_DATA_DIR"]), env=env)
    with django_db_blocker.unblock():
        plane.start()
    yield plane
    plane.stop()


@pytest.fixture
def screenshots(tmp_path_factory):
    wanted = os.environ.get("SCREENSHOT_DIR")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("usage-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def traffic(front, reader: str, *, allowed: int, refused: int, grpc_allowed: int, grpc_refused: int) -> None:
    for _ in range(allowed):
        assert httpx.get(f"{front.url}/collections/films", headers={"api-key": reader}).status_code == 200
    for _ in range(refused):
        assert httpx.put(f"{front.url}/collections/films/points", headers={"api-key": reader},
                         json={"points": [{"id": 1, "vector": [1, 0]}]}).status_code == 403
    client = QdrantClient(host="127.0.0.1", grpc_port=front.grpc_port, prefer_grpc=True, https=False, api_key=reader,
                          check_compatibility=False)
    for _ in range(grpc_allowed):
        assert client.collection_exists("films")
    for _ in range(grpc_refused):
        with pytest.raises(Exception, match=REFUSED):
            client.upsert("films", [models.PointStruct(id=1, vector=[1.0, 0.0])])
    client.close()


def test_charts_and_the_api_show_the_requests_made_through_two_fronts(chromium, live_server, dataplane, second_front,
                                                                      cluster, account, owner, screenshots):
    _, manage = mint(cluster, MANAGE, by=owner, name="setup key")
    key, reader = mint(cluster, collection_rule("films", "r"), by=owner, name="films reader")
    for front in (dataplane, second_front):
        QdrantClient(url="http://127.0.0.1", port=front.port, api_key=manage, check_compatibility=False
                     ).create_collection("films", vectors_config=models.VectorParams(size=2,
                                                                                     distance=models.Distance.DOT))
    traffic(dataplane, reader, allowed=4, refused=3, grpc_allowed=2, grpc_refused=1)
    traffic(second_front, reader, allowed=5, refused=2, grpc_allowed=1, grpc_refused=2)
    allowed, refused = 4 + 2 + 5 + 1, 3 + 1 + 2 + 2

    def counted():
        rows = KeyUsage.objects.filter(key_id=key.id).values("outcome").annotate(total=Sum("count"))
        return {row["outcome"]: row["total"] for row in rows}

    assert wait_for(lambda: counted() == {"allowed": allowed, "403": refused} and counted(), timeout=15)
    # The management API's series (a console extension) count the same.
    series = api_as(owner, account).get(url("database-api-key-usage", account, database_api_key_id=key.id),
                                        {"window": "hour"}).json()
    assert sum(b["allowed"] for b in series["buckets"]) == allowed
    assert sum(b["forbidden"] for b in series["buckets"]) == refused
    assert series["refusals"] == [{"outcome": "403", "reason": REFUSED, "count": refused}]

    context = chromium.new_context(base_url=live_server.url)
    page = context.new_page()
    from tests.fixtures.browser import log_in

    log_in(page, owner)
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in (("key", key.get_absolute_url()), ("cluster", cluster_url(cluster))):
            page.goto(f"{path}?usage=hour#usage")
            page.wait_for_selector("[data-usage-chart='requests'][data-drawn] canvas")
            total = page.locator("[data-usage-total]").inner_text()
            setup = 2 if name == "cluster" else 0  # the collection made on each front, by the setup key
            assert total.startswith(f"{allowed + refused + setup} requests in the last hour"), total
            assert page.locator(f"[data-refusal='403']:has-text('{REFUSED}')").inner_text().endswith(f"×{refused}")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.locator("#usage").scroll_into_view_if_needed()
            page.screenshot(path=screenshots / f"usage-{name}-{width}.png", full_page=True)
            if name == "cluster":
                assert page.locator("[data-usage-chart='latency'][data-drawn] canvas").count() == 1
                assert page.locator(f"[data-top-key='{key.id}']").count() == 1
            page.locator("[data-usage-table] summary").click()
            cells = page.locator("[data-usage-table] tbody tr").evaluate_all(
                "rows => rows.map(r => [...r.querySelectorAll('td')].slice(0, 5).map(c => +c.textContent))")
            assert sum(row[0] for row in cells) == allowed + setup
            assert sum(row[2] for row in cells) == refused
    context.close()
    print(f"screenshots in {screenshots}")
