"""The front's Prometheus metrics (issue 24): a front of two processes with
DATAPLANE_METRICS_PORT serves requests by cluster, protocol, route group and
outcome, summed over its processes, with latency histograms and the key
set's state; scraped and parsed with prometheus_client's own parser. No
label names a key."""

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client import QdrantClient, models

from fronts.models import KeySetChange
from tests.fixtures.dataplane import MANAGE, DataPlaneProcess, collection_rule, free_port, mint
from tests.fixtures.worker import wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


@pytest.fixture(scope="module")
def front(dataplane_process, django_db_blocker, tmp_path_factory):
    port, metrics_port = free_port(), free_port()
    env = dataplane_process.env | {
        "DATAPLANE_PORT": str(port),
        "DATAPLANE_PROCESSES": "2",
        "DATAPLANE_METRICS_PORT": str(metrics_port),
        "DATAPLANE_DATA_DIR": str(tmp_path_factory.mktemp("dataplane-metrics")),
    }
    plane = DataPlaneProcess(port=port, data_dir=Path(env["DATAPLANE_DATA_DIR"]), env=env)
    with django_db_blocker.unblock():
        plane.start()
    plane.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    yield plane
    plane.stop()


def scrape(front) -> dict:
    """{(metric sample name, labels as sorted tuple): value}, parsed by prometheus_client."""
    text = httpx.get(front.metrics_url).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def requests(samples, **labels) -> float:
    return sum(value for (name, found), value in samples.items()
               if name == "qdrant_front_requests_total" and all((k, v) in found for k, v in labels.items()))


def test_requests_are_counted_by_cluster_protocol_route_group_and_outcome(front, dataplane, cluster, owner):
    manage_key, manage = mint(cluster, MANAGE, by=owner, name="admin key")
    reader_key, reader = mint(cluster, collection_rule("films", "r"), by=owner, name="films reader")
    QdrantClient(url="http://127.0.0.1", port=front.port, api_key=manage, check_compatibility=False
                 ).create_collection("films", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    c = str(cluster.id)
    for _ in range(3):  # new connections: the kernel spreads them over both processes
        assert httpx.get(f"{front.url}/collections/films", headers={"api-key": reader}).status_code == 200
    for _ in range(2):
        assert httpx.put(f"{front.url}/collections/films/points", headers={"api-key": reader},
                         json={"points": [{"id": 1, "vector": [1, 0]}]}).status_code == 403
    assert httpx.get(f"{front.url}/collections").status_code == 401
    grpc = QdrantClient(host="127.0.0.1", grpc_port=front.grpc_port, prefer_grpc=True, https=False,
                        api_key=reader, check_compatibility=False)
    for _ in range(2):
        assert grpc.collection_exists("films")
    with pytest.raises(Exception, match="Write access to collection films is required"):
        grpc.upsert("films", [models.PointStruct(id=1, vector=[1.0, 0.0])])

    expected = 1 + 3 + 2 + 1 + 2 + 1
    samples = wait_for(lambda: (s := scrape(front)) and requests(s) >= expected and s, timeout=10)
    assert requests(samples) == expected
    assert requests(samples, cluster=c, protocol="rest", route_group="collections", outcome="allowed") == 4
    assert requests(samples, cluster=c, protocol="rest", route_group="points", outcome="403", refusal="access") == 2
    assert requests(samples, cluster="none", protocol="rest", outcome="401", refusal="no_key") == 1
    assert requests(samples, cluster=c, protocol="grpc", route_group="collections", outcome="allowed") == 2
    assert requests(samples, cluster=c, protocol="grpc", route_group="points", outcome="403", refusal="access") == 1
    points = (("cluster", c), ("protocol", "rest"), ("route_group", "points"))
    assert samples[("qdrant_front_request_duration_seconds_count", points)] == 2
    assert samples[("qdrant_front_request_duration_seconds_bucket", tuple(sorted((*points, ("le", "+Inf")))))] == 2

    assert samples[("qdrant_front_processes", ())] == 2
    assert samples[("qdrant_front_contract_up", ())] == 1
    assert samples[("qdrant_front_keyset_applied_change", ())] >= KeySetChange.objects.order_by("-id").first().id
    assert 0 <= samples[("qdrant_front_keyset_lag_seconds", ())] < 30
    labels = {value for _, found in samples for _, value in found}
    assert not labels & {str(manage_key.id), str(reader_key.id)}
