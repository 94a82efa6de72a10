"""Several data plane processes on one port: every one sees every key, and a
cluster's collections are served by one of them, which the others forward to."""


import pytest
from qdrant_client import QdrantClient, models

from tests.fixtures.dataplane import MANAGE, another_front, mint

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


@pytest.fixture(scope="module")
def two_processes(dataplane_process, django_db_blocker, tmp_path_factory):
    with another_front(dataplane_process, django_db_blocker, tmp_path_factory.mktemp("dataplane-two"),
                       DATAPLANE_PROCESSES="2") as plane:
        yield plane


def test_writes_through_the_process_that_does_not_own_the_cluster_are_forwarded_to_its_owner(
        two_processes, dataplane, cluster, owner):
    _, token = mint(cluster, MANAGE, by=owner)  # both processes confirm it before mint returns

    def connect() -> QdrantClient:
        return QdrantClient(url="http://127.0.0.1", port=two_processes.port, api_key=token, check_compatibility=False)

    client = connect()
    client.create_collection("shared", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.close()
    # A new connection each time, until the kernel has handed a few to the
    # process that does not own the cluster (it accepts them as they come).
    for i in range(300):
        client = connect()
        client.upsert("shared", [models.PointStruct(id=i, vector=[1.0, float(i)])])
        assert client.count("shared").count == i + 1  # every write landed in the one storage
        client.close()
        if i % 5 == 4 and sum(s["forwarded"] for s in two_processes.stats()) >= 10:
            break
    stats = two_processes.stats()
    owners = [s for s in stats if str(cluster.id) in s["owns"]]
    others = [s for s in stats if str(cluster.id) not in s["owns"]]
    assert len(stats) == 2 and len(owners) == 1 and len(others) == 1
    # The other process ran none of them itself: it sent them to the owner, which ran them.
    assert others[0]["forwarded"] >= 10
    assert owners[0]["forwarded"] == 0
    assert owners[0]["served_for_others"] == others[0]["forwarded"]


def test_every_process_serves_the_grpc_port(two_processes, dataplane, cluster, owner):
    import grpc

    _, token = mint(cluster, MANAGE, by=owner)
    stats = two_processes.wait_for_processes(2)
    assert len({s["pid"] for s in stats}) == 2  # both started, so both bound the port (SO_REUSEPORT)
    for _ in range(20):  # fresh connections, spread over both processes by the kernel
        with grpc.insecure_channel(two_processes.grpc_target) as channel:
            reply = channel.unary_unary("/qdrant.Qdrant/HealthCheck")(b"", metadata=(("api-key", token),), timeout=10)
        assert b"qdrant - vector search engine" in reply


def test_grpc_writes_on_an_embedded_cluster_reach_the_one_storage_from_either_process(
        two_processes, dataplane, cluster, owner):
    _, token = mint(cluster, MANAGE, by=owner)

    def connect() -> QdrantClient:
        return QdrantClient(host="127.0.0.1", grpc_port=two_processes.grpc_port, prefer_grpc=True, https=False,
                            api_key=token, check_compatibility=False)

    client = connect()
    client.create_collection("over-grpc", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.close()
    before = sum(s["forwarded"] for s in two_processes.stats())
    for i in range(300):
        client = connect()
        client.upsert("over-grpc", [models.PointStruct(id=i, vector=[1.0, float(i)])])
        client.create_payload_index("over-grpc", "g", models.PayloadSchemaType.KEYWORD)
        assert client.count("over-grpc").count == i + 1
        client.close()
        if i % 5 == 4 and sum(s["forwarded"] for s in two_processes.stats()) - before >= 10:
            break
    assert sum(s["forwarded"] for s in two_processes.stats()) - before >= 10
    rest = QdrantClient(url="http://127.0.0.1", port=two_processes.port, api_key=token, check_compatibility=False)
    assert rest.count("over-grpc").count == i + 1
    assert "g" in rest.get_collection("over-grpc").payload_schema
