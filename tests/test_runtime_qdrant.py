"""The `qdrant` runtime against a real Qdrant binary (QDRANT_BINARY, see
`make qdrant`). Every node runs under the test's tmp dir on free loopback
ports, dies with pytest (PR_SET_PDEATHSIG) and is stopped at teardown."""

import os
import secrets
import signal
import stat
from pathlib import Path

import httpx
import jwt
import pytest

from runtimes.base import ClusterSpec, Node, start_cluster, wait_healthy, wait_until
from runtimes.qdrant import QdrantRuntime

QDRANT_BINARY = os.environ.get("QDRANT_BINARY", "")

pytestmark = pytest.mark.skipif(
    not QDRANT_BINARY, reason="QDRANT_BINARY is not set: run `make qdrant` and set it to the path it prints"
)


def new_key() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def runtime(tmp_path):
    runtime = QdrantRuntime(binary=QDRANT_BINARY, root=tmp_path / "nodes", stop_grace=5)
    yield runtime
    runtime.stop_all()


@pytest.fixture
def single(runtime):
    cluster = ClusterSpec(id="single", size=1, master_key=new_key(), jwt_rbac=True)
    start_cluster(runtime, cluster)
    return Node(cluster, 0)


@pytest.fixture
def three_nodes(runtime):
    cluster = ClusterSpec(id="trio", size=3, master_key=new_key(), jwt_rbac=True)
    start_cluster(runtime, cluster)
    return [Node(cluster, i) for i in range(3)]


def url(runtime, node, path):
    return runtime.address(node).http_url + path


def master(node):
    return {"api-key": node.cluster.master_key}


def test_a_node_reports_its_own_version(runtime, single):
    body = httpx.get(url(runtime, single, "/")).json()
    assert body["version"] == "1.16.3"
    assert body["commit"] == "bd49f45a8a2d4e4774cac50fa29507c4e8375af2"
    assert runtime.version(single) == "1.16.3"


def test_a_node_requires_the_master_key(runtime, single):
    collections = url(runtime, single, "/collections")
    assert httpx.get(collections).status_code == 401
    assert httpx.get(collections, headers={"api-key": new_key()}).status_code == 401
    assert httpx.get(collections, headers=master(single)).status_code == 200


def test_a_node_with_jwt_rbac_accepts_jwts_signed_with_the_master_key(runtime, single):
    key = single.cluster.master_key
    read_only = jwt.encode({"access": "r"}, key, algorithm="HS256")
    manage = jwt.encode({"access": "m"}, key, algorithm="HS256")
    forged = jwt.encode({"access": "m"}, new_key(), algorithm="HS256")
    collection = url(runtime, single, "/collections/books")
    vectors = {"vectors": {"size": 4, "distance": "Dot"}}

    assert httpx.put(collection, json=vectors, headers={"Authorization": f"Bearer {read_only}"}).status_code == 403
    assert httpx.put(collection, json=vectors, headers={"Authorization": f"Bearer {manage}"}).status_code == 200
    assert httpx.get(collection, headers={"api-key": read_only}).status_code == 200
    refused = httpx.get(collection, headers={"api-key": forged})
    assert (refused.status_code, refused.text) == (403, "InvalidSignature")


def test_the_config_is_private_and_the_master_key_is_on_no_command_line(runtime, single):
    key = single.cluster.master_key
    config = runtime.config_path(single)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert key in config.read_text()
    pid = runtime.pid(single)
    assert key.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert key.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    httpx.get(url(runtime, single, "/collections"), headers=master(single))
    assert key not in runtime.log_path(single).read_text()


def test_ports_are_recorded_and_kept_across_a_restart(runtime, single):
    before = runtime.address(single)
    runtime.restart(single)
    wait_healthy(runtime, single)
    assert runtime.address(single) == before
    assert runtime.ports(single.cluster)[0] == before.ports


def test_a_restarted_node_keeps_its_data(runtime, single):
    collection = url(runtime, single, "/collections/books")
    httpx.put(collection, json={"vectors": {"size": 2, "distance": "Dot"}}, headers=master(single)).raise_for_status()
    points = {"points": [{"id": i, "vector": [1.0, float(i)]} for i in range(10)]}
    httpx.put(collection + "/points?wait=true", json=points, headers=master(single)).raise_for_status()
    old_pid = runtime.pid(single)

    runtime.restart(single)
    wait_healthy(runtime, single)

    assert runtime.pid(single) != old_pid
    count = httpx.post(collection + "/points/count", json={"exact": True}, headers=master(single))
    assert count.json()["result"]["count"] == 10


def test_three_nodes_form_one_cluster(runtime, three_nodes):
    for node in three_nodes:
        info = runtime.cluster_info(node)
        assert info["status"] == "enabled"
        assert len(info["peers"]) == 3
    peers = {int(peer) for peer in runtime.cluster_info(three_nodes[0])["peers"]}
    assert {runtime.cluster_info(n)["peer_id"] for n in three_nodes} == peers


def active_replicas(collection: str, headers: dict) -> int:
    info = httpx.get(collection + "/cluster", headers=headers).json()["result"]
    return sum(replica["state"] == "Active" for replica in info["local_shards"] + info["remote_shards"])


def test_a_collection_with_two_replicas_survives_kill_9_of_a_node(runtime, three_nodes):
    first, victim, last = three_nodes
    headers = master(first)
    collection = url(runtime, first, "/collections/books")
    created = httpx.put(collection, headers=headers, json={
        "vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3, "replication_factor": 2,
    })
    assert created.status_code == 200, created.text
    points = {"points": [{"id": i, "vector": [1.0, float(i)], "payload": {"n": i}} for i in range(30)]}
    httpx.put(collection + "/points?wait=true", json=points, headers=headers).raise_for_status()
    # Every shard has both replicas active before the kill.
    wait_until(lambda: active_replicas(collection, headers) == 6, timeout=30, what="6 active replicas")

    os.kill(runtime.pid(victim), signal.SIGKILL)
    wait_until(lambda: not runtime.is_running(victim), timeout=5, what="the node to die")

    failures = []
    for attempt in range(20):
        for node in (first, last):
            reading = url(runtime, node, "/collections/books/points")
            response = httpx.post(reading, headers=headers, json={"ids": list(range(30)), "with_payload": True})
            if response.status_code != 200 or len(response.json()["result"]) != 30:
                failures.append((node.index, response.status_code, response.text[:200]))
            count = httpx.post(reading + "/count", headers=headers, json={"exact": True})
            if count.status_code != 200 or count.json()["result"]["count"] != 30:
                failures.append((node.index, count.status_code, count.text[:200]))
    assert failures == []

    # It rejoins on its storage with its replicas.
    runtime.start(victim)
    wait_healthy(runtime, victim)
    own = httpx.post(url(runtime, victim, "/collections/books/points/count"), headers=headers, json={"exact": True})
    assert own.json()["result"]["count"] == 30
