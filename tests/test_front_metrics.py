"""The front's Prometheus metrics (issue 24): a front of two processes with
DATAPLANE_METRICS_PORT serves requests by cluster, protocol, route group and
outcome, summed over its processes, with latency histograms and the key
set's state; scraped and parsed with prometheus_client's own parser. No
label names a key. Against real nodes: forwarded requests and failovers
per node after kill -9 of one of three are what happened, and a node's
strict mode rate limit, forwarded through the front, is outcome 429 in the
metrics and in the key's stored usage."""

import json
import os
import re
import signal

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client import QdrantClient, models

from fronts.models import KeySetChange
from tests.fixtures.apikeys import key_url
from tests.fixtures.dataplane import MANAGE, READ_ONLY, DataPlaneProcess, collection_rule, free_port, mint
from tests.fixtures.qdrant import requires_qdrant
from tests.fixtures.worker import wait_for
from tests.test_api_support import api_as, url

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


def metered_front(dataplane_process, django_db_blocker, tmp_path_factory, processes: int):
    port, metrics_port = free_port(), free_port()
    env = dataplane_process.env | {
        "DATAPLANE_PORT": str(port),
        "DATAPLANE_PROCESSES": str(processes),
        "DATAPLANE_METRICS_PORT": str(metrics_port),
        "DATAPLANE_DATA_DIR": str(tmp_path_factory.mktemp("dataplane-metrics")),
    }
    plane = DataPlaneProcess(port=port, data_dir=Path(env["DATAPLANE_DATA_DIR"]), env=env)
    with django_db_blocker.unblock():
        plane.start()
    plane.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    return plane


@pytest.fixture(scope="module")
def front(dataplane_process, django_db_blocker, tmp_path_factory):
    plane = metered_front(dataplane_process, django_db_blocker, tmp_path_factory, processes=2)
    yield plane
    plane.stop()


@pytest.fixture(scope="module")
def one_process_front(dataplane_process, django_db_blocker, tmp_path_factory):
    """One process: its requests take the nodes in turn, so which of them start at a given node is known."""
    plane = metered_front(dataplane_process, django_db_blocker, tmp_path_factory, processes=1)
    yield plane
    plane.stop()


def scrape(front) -> dict:
    """{(metric sample name, labels as sorted tuple): value}, parsed by prometheus_client."""
    text = httpx.get(front.metrics_url).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def total(samples, metric: str, **labels) -> float:
    """The sum of a metric's samples that have these labels."""
    return sum(value for (name, found), value in samples.items()
               if name == metric and all((k, v) in found for k, v in labels.items()))


def requests(samples, **labels) -> float:
    return total(samples, "qdrant_front_requests_total", **labels)


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


def test_a_tenant_bound_keys_refusals_are_counted_as_tenant(front, dataplane, cluster, owner):
    """Whatever a tenant's rule says (its messages share no word: "another tenant's", "bound read-only to
    group_id", "not available to tenant-bound keys"), over REST and gRPC; the same key's plain access
    refusal stays `access`."""
    from apikeys.services import database_key_create
    from tests.test_tenant_front import COLLECTION, point, seed, tenant_key

    _, manage = mint(cluster, MANAGE, by=owner, name="tenant setup key")
    # Bound to acme on COLLECTION alone: another collection is a plain access refusal.
    _, acme = database_key_create(
        cluster=cluster, name="acme app", rules=collection_rule(COLLECTION, "rw"), expires_at=None, by=owner,
        tenant={"field": "group_id", "value": "acme", "type": "keyword", "access": "rw", "collections": []})
    reader = tenant_key(cluster, owner, "acme", access="r")
    for token in (manage, acme, reader):
        front.wait_until_accepted(token)
    seed(QdrantClient(url="http://127.0.0.1", port=front.port, api_key=manage, check_compatibility=False))
    c = str(cluster.id)
    before = scrape(front)

    def rest(token: str) -> QdrantClient:
        return QdrantClient(url="http://127.0.0.1", port=front.port, api_key=token, check_compatibility=False)

    grpc = QdrantClient(host="127.0.0.1", grpc_port=front.grpc_port, prefer_grpc=True, https=False, api_key=acme,
                        check_compatibility=False)
    with pytest.raises(Exception, match="point 7 is another tenant"):  # globex's point
        rest(acme).set_payload(COLLECTION, {"x": 1}, points=[7])
    with pytest.raises(Exception, match="not available to tenant-bound keys"):
        rest(acme).get_collection(COLLECTION)
    with pytest.raises(Exception, match="bound read-only to group_id"):
        rest(reader).upsert(COLLECTION, [point(40, "acme")])
    with pytest.raises(Exception, match="point 8 is another tenant"):
        grpc.set_payload(COLLECTION, {"x": 1}, points=[8])
    with pytest.raises(Exception, match="Access to collection elsewhere is required"):
        rest(acme).count("elsewhere")

    def added(**labels) -> float:
        return requests(scrape(front), cluster=c, **labels) - requests(before, cluster=c, **labels)

    wait_for(lambda: added(outcome="403") >= 5, timeout=10)
    assert added(protocol="rest", route_group="points", outcome="403", refusal="tenant") == 2
    assert added(protocol="rest", route_group="collections", outcome="403", refusal="tenant") == 1
    assert added(protocol="grpc", route_group="points", outcome="403", refusal="tenant") == 1
    assert added(protocol="rest", route_group="points", outcome="403", refusal="access") == 1
    assert added(outcome="403") == 5


RATE_LIMITED = "Rate limiting exceeded: Read rate limit exceeded"


@requires_qdrant
def test_a_nodes_rate_limit_through_the_front_is_counted_as_429(front, dataplane, cluster, account, owner, qdrant,
                                                               qdrant_node, client):
    from tests.test_dataplane_front import front_cluster

    cluster = front_cluster(cluster, [qdrant_node], qdrant)
    node_url = qdrant.address(qdrant_node).http_url
    # One read a minute: the node answers 429 over REST and RESOURCE_EXHAUSTED over gRPC after the first.
    httpx.put(f"{node_url}/collections/limited", headers={"api-key": cluster.master_key}, json={
        "vectors": {"size": 2, "distance": "Dot"},
        "strict_mode_config": {"enabled": True, "read_rate_limit": 1}}).raise_for_status()
    key, reader = mint(cluster, READ_ONLY, by=owner, name="reader")  # every running front has it on return
    statuses = [httpx.post(f"{front.url}/collections/limited/points/count", headers={"api-key": reader},
                           json={}) for _ in range(3)]
    assert [response.status_code for response in statuses] == [200, 429, 429]
    assert statuses[1].headers["retry-after"]
    over_grpc = QdrantClient(host="127.0.0.1", grpc_port=front.grpc_port, prefer_grpc=True, https=False,
                             api_key=reader, check_compatibility=False)
    for _ in range(2):
        with pytest.raises(Exception, match="Rate limiting exceeded"):
            over_grpc.count("limited")
    over_grpc.close()

    c = str(cluster.id)
    samples = wait_for(lambda: (s := scrape(front)) and requests(s, cluster=c, route_group="points") >= 5 and s,
                       timeout=10)
    assert requests(samples, cluster=c, protocol="rest", route_group="points", outcome="allowed") == 1
    assert requests(samples, cluster=c, protocol="rest", route_group="points", outcome="429") == 2
    assert requests(samples, cluster=c, protocol="grpc", route_group="points", outcome="429") == 2
    assert requests(samples, cluster=c, outcome="5xx") == 0
    # The node answered each of them: forwarded, none failed over.
    forwarded = "qdrant_front_forwarded_requests_total"
    assert total(samples, forwarded, cluster=c, protocol="rest") == 3
    assert total(samples, forwarded, cluster=c, protocol="grpc") == 2
    assert total(samples, "qdrant_front_failovers_total", cluster=c) == 0

    # The key's stored usage, through the management API, and its page (the chart's legend and table).
    def series():
        body = api_as(owner, account).get(url("database-api-key-usage", account, database_api_key_id=key.id),
                                          {"window": "hour"}).json()
        return body if body["total"] >= 5 else None

    body = wait_for(series, timeout=15)
    assert body["total"] == 5
    assert sum(b["tooManyRequests"] for b in body["buckets"]) == 4
    assert sum(b["allowed"] for b in body["buckets"]) == 1
    assert body["refusals"] == [{"outcome": "429", "reason": RATE_LIMITED, "count": 4}]
    client.force_login(owner)
    page = client.get(key_url(key) + "?usage=hour").content.decode()
    data = json.loads(re.search(r'<script id="usage-data" type="application/json">(.*?)</script>', page).group(1))
    assert data["labels"]["429"] == "429 Too many" and sum(data["outcomes"]["429"]) == 4
    assert re.search(rf'data-refusal="429">429: {RATE_LIMITED} <strong>×4</strong>', page)


@requires_qdrant
def test_forwarded_requests_and_failovers_per_node_after_kill_9_of_a_node(one_process_front, dataplane, cluster,
                                                                         owner, qdrant, qdrant_trio):
    from tests.test_dataplane_front import front_cluster, grpc_client

    front = one_process_front
    cluster = front_cluster(cluster, qdrant_trio, qdrant)
    _, reader = mint(cluster, READ_ONLY, by=owner, name="reader")
    c = str(cluster.id)
    rest_node = {qdrant.address(node).http_url: node.index for node in qdrant_trio}
    grpc_node = {f"127.0.0.1:{qdrant.address(node).ports.grpc}": node.index for node in qdrant_trio}
    over_grpc = grpc_client(front.grpc_port, reader)

    def make_requests(count: int) -> None:
        # Reads each node answers from its own state, whichever node is gone (no shard read that a live
        # node would route to the dead one): the only failovers are the front's.
        for _ in range(count):
            assert httpx.get(f"{front.url}/collections", headers={"api-key": reader}).status_code == 200
            assert over_grpc.get_collections().collections == []

    def per_node(samples, metric: str) -> dict:
        found = {}
        for (name, labels), value in samples.items():
            labels = dict(labels)
            if name == metric and labels["cluster"] == c:
                index = (rest_node if labels["protocol"] == "rest" else grpc_node)[labels["node"]]
                found[(labels["protocol"], index)] = value
        return found

    def scraped(requests_made: int) -> dict:
        """Once every request made is in the metrics (written once a second)."""
        return wait_for(lambda: (s := scrape(front)) and requests(s, cluster=c) == requests_made and s, timeout=10)

    make_requests(6)  # two a node per protocol, and pooled connections and channels to each node
    before = scraped(2 * 6)
    forwarded = "qdrant_front_forwarded_requests_total"
    assert per_node(before, forwarded) == {(protocol, index): 2 for protocol in ("rest", "grpc") for index in range(3)}
    assert per_node(before, "qdrant_front_failovers_total") == {}

    victim = qdrant_trio[1]
    os.kill(qdrant.pid(victim), signal.SIGKILL)
    wait_for(lambda: not qdrant.is_running(victim), timeout=10)
    make_requests(30)  # a third of them start at the killed node (the turns go on from where they were)
    after = scraped(2 * (6 + 30))
    over_grpc.close()

    for protocol in ("rest", "grpc"):
        answered = {index: per_node(after, forwarded)[(protocol, index)] - 2 for index in range(3)}
        # The nodes in turn, in index order: the killed node answered none, the next one took its
        # turns besides its own, the first only its own.
        assert answered == {0: 10, 1: 0, 2: 20}, protocol
        failovers = {index: count for (p, index), count in per_node(after, "qdrant_front_failovers_total").items()
                     if p == protocol}
        assert failovers == {1: 10}, protocol
