"""The data plane as the front of `qdrant` clusters: real Qdrant nodes behind
it, the official qdrant-client over REST and over gRPC through it.

Every key kind gets exactly the node's own answer to the same token (status
and message), routes the embedded engine lacks work, a deleted key stops at
the front though the node would still take the JWT, and a client reading
through the front loses nothing when a node is killed."""

import json
import os
import shutil
import signal
import subprocess
import threading

import grpc
import httpx
import pytest
from qdrant_client import QdrantClient, models

from apikeys.services import admin_key_create, database_key_delete
from clusters import crypto
from clusters.models import Cluster, ClusterNode, NodeState, Runtime
from fronts.changelog import keys_changed
from runtimes.base import wait_until
from tests.fixtures.dataplane import MANAGE, READ_ONLY, collection_rule, mint
from tests.fixtures.qdrant import ROOT, requires_qdrant

pytestmark = requires_qdrant


def front_cluster(cluster, nodes, qdrant) -> Cluster:
    """The cluster's rows as the node supervisor records them: runtime qdrant,
    the nodes' master key and ports, every node HEALTHY."""
    Cluster.objects.filter(id=cluster.id).update(
        runtime=Runtime.QDRANT, jwt_rbac=True, number_of_nodes=len(nodes),
        master_key_encrypted=crypto.encrypt(nodes[0].cluster.master_key),
    )
    ClusterNode.objects.filter(cluster=cluster).delete()
    for node in nodes:
        ports = qdrant.address(node).ports
        ClusterNode.objects.create(cluster=cluster, index=node.index, state=NodeState.HEALTHY,
                                   http_port=ports.http, grpc_port=ports.grpc, p2p_port=ports.p2p)
    keys_changed()
    cluster.refresh_from_db(fields=["runtime", "jwt_rbac", "number_of_nodes", "master_key_encrypted"])
    return cluster


@pytest.fixture
def single(legacy_cluster, qdrant, qdrant_node, dataplane, owner):
    # An admin key, made while the legacy cluster has no granular access yet.
    _, legacy_cluster.admin_token = admin_key_create(cluster=legacy_cluster, name="admin key", expires_at=None,
                                                     by=owner)
    return front_cluster(legacy_cluster, [qdrant_node], qdrant)


def rest(base_url, token):
    return httpx.Client(base_url=base_url, headers={"api-key": token} if token is not None else {}, timeout=30)


def answer(response: httpx.Response):
    """Status and message: Qdrant's plain text, or the JSON envelope's `status`."""
    try:
        return response.status_code, json.loads(response.content)["status"]
    except (ValueError, KeyError, TypeError):
        return response.status_code, response.text


REQUESTS = [
    ("GET", "/collections", None),
    ("GET", "/collections/a", None),
    ("GET", "/collections/b", None),
    ("GET", "/collections/a/exists", None),
    ("PUT", "/collections/a", {"vectors": {"size": 2, "distance": "Dot"}}),
    ("PATCH", "/collections/a", {"optimizers_config": {"indexing_threshold": 1000}}),
    ("DELETE", "/collections/no-such", None),
    ("PUT", "/collections/a/points?wait=true", {"points": [{"id": 1, "vector": [1.0, 0.5], "payload": {"g": "x"}}]}),
    ("POST", "/collections/a/points/query", {"query": [1.0, 0.0], "limit": 3}),
    ("POST", "/collections/a/points/count", {"exact": True}),
    ("POST", "/collections/b/points/count", {"exact": True}),
    ("POST", "/collections/a/points/recommend", {"positive": [1], "limit": 3}),
    ("PUT", "/collections/a/index?wait=true", {"field_name": "g", "field_schema": "keyword"}),
    ("GET", "/collections/a/snapshots", None),
    ("GET", "/snapshots", None),
    ("GET", "/cluster", None),
    ("GET", "/aliases", None),
    ("POST", "/collections/aliases", {"actions": []}),
]


def keys_of_every_kind(cluster, owner):
    """(name, token at the front, token the node gets) for each kind of key, and a few that are no key."""
    kinds = [("admin", cluster.admin_token, cluster.master_key)]
    for name, rules in [("manage", MANAGE), ("read", READ_ONLY), ("a-read", collection_rule("a", "r")),
                        ("a-write", collection_rule("a", "rw")), ("b-read", collection_rule("b", "r"))]:
        _, token = mint(cluster, rules, by=owner, name=f"{name} key")
        kinds.append((name, token, token))
    kinds += [("none", None, None), ("garbage", "not-a-key", "not-a-key")]
    return kinds


def seed_collections(node_url, master_key):
    with rest(node_url, master_key) as client:
        for name in ("a", "b"):
            client.put(f"/collections/{name}", json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
        client.put("/collections/a/points?wait=true",
                   json={"points": [{"id": 1, "vector": [1.0, 0.5], "payload": {"g": "x"}}]}).raise_for_status()


def test_every_key_kind_has_exactly_the_nodes_rights_over_rest(single, qdrant, qdrant_node, dataplane, owner):
    node_url = qdrant.address(qdrant_node).http_url
    seed_collections(node_url, single.master_key)
    differences = []
    for kind, token, node_token in keys_of_every_kind(single, owner):
        with rest(dataplane.url, token) as front, rest(node_url, node_token) as node:
            for method, path, body in REQUESTS:
                got = answer(front.request(method, path, json=body))
                expected = answer(node.request(method, path, json=body))
                if got != expected:
                    differences.append((kind, method, path, got, expected))
    assert differences == []


def grpc_calls():
    """(name, call) pairs on a qdrant-client, as the REST requests above."""
    point = models.PointStruct(id=1, vector=[1.0, 0.5], payload={"g": "x"})
    return [
        ("list", lambda c: [x.name for x in c.get_collections().collections]),
        ("info a", lambda c: c.get_collection("a").status),
        ("info b", lambda c: c.get_collection("b").status),
        ("exists a", lambda c: c.collection_exists("a")),
        ("create a", lambda c: c.create_collection("a", vectors_config=models.VectorParams(
            size=2, distance=models.Distance.DOT))),
        ("update a", lambda c: c.update_collection("a", optimizers_config=models.OptimizersConfigDiff(
            indexing_threshold=1000))),
        ("delete missing", lambda c: c.delete_collection("no-such")),
        ("upsert a", lambda c: c.upsert("a", [point], wait=True).status),
        ("query a", lambda c: [p.id for p in c.query_points("a", query=[1.0, 0.0], limit=3).points]),
        ("count a", lambda c: c.count("a", exact=True).count),
        ("count b", lambda c: c.count("b", exact=True).count),
        ("index a", lambda c: c.create_payload_index("a", "g", models.PayloadSchemaType.KEYWORD, wait=True).status),
        ("snapshots a", lambda c: len(c.list_snapshots("a"))),
        ("full snapshots", lambda c: len(c.list_full_snapshots())),
        ("aliases", lambda c: c.get_aliases().aliases),
    ]


def grpc_answer(call, client):
    try:
        return "ok", call(client)
    except grpc.RpcError as error:
        return error.code(), error.details()


def grpc_client(port, token):
    return QdrantClient(host="127.0.0.1", grpc_port=port, prefer_grpc=True, api_key=token, https=False,
                        check_compatibility=False, timeout=30)


def test_every_key_kind_has_exactly_the_nodes_rights_over_grpc(single, qdrant, qdrant_node, dataplane, owner):
    seed_collections(qdrant.address(qdrant_node).http_url, single.master_key)
    node_port = qdrant.address(qdrant_node).ports.grpc
    differences = []
    for kind, token, node_token in keys_of_every_kind(single, owner):
        if token is None:
            continue  # qdrant-client sends no metadata then; the no-key case is below
        front, node = grpc_client(dataplane.grpc_port, token), grpc_client(node_port, node_token)
        try:
            for name, call in grpc_calls():
                got, expected = grpc_answer(call, front), grpc_answer(call, node)
                if got != expected:
                    differences.append((kind, name, got, expected))
        finally:
            front.close()
            node.close()
    assert differences == []


def raw_grpc(port, method, metadata=()):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            return "ok", channel.unary_unary(method)(b"", metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            return error.code(), error.details()


def test_grpc_refusals_and_open_methods_match_the_node(single, qdrant, qdrant_node, dataplane):
    node_port = qdrant.address(qdrant_node).ports.grpc
    for metadata in [(), (("api-key", "not-a-key"),), (("authorization", "Bearer not-a-key"),)]:
        assert raw_grpc(dataplane.grpc_port, "/qdrant.Collections/List", metadata) == \
            raw_grpc(node_port, "/qdrant.Collections/List", metadata)
    code, reply = raw_grpc(dataplane.grpc_port, "/qdrant.Qdrant/HealthCheck")
    assert code == "ok" and b"qdrant - vector search engine" in reply
    assert raw_grpc(dataplane.grpc_port, "/grpc.health.v1.Health/Check") == ("ok", b"\x08\x01")


def test_get_root_answers_the_nodes_own_version(single, owner, dataplane):
    _, token = mint(single, READ_ONLY, by=owner)
    response = httpx.get(dataplane.url + "/", headers={"api-key": token})
    assert response.status_code == 200
    assert response.json()["version"] == "1.16.3"
    assert response.json()["commit"] == "bd49f45a8a2d4e4774cac50fa29507c4e8375af2"
    client = grpc_client(dataplane.grpc_port, token)
    try:
        assert client.info().version == "1.16.3"
    finally:
        client.close()


def test_routes_outside_the_embedded_subset_work_with_the_official_client(single, owner, dataplane):
    _, token = mint(single, MANAGE, by=owner)
    over_rest = QdrantClient(url=dataplane.url, api_key=token, check_compatibility=False, timeout=30)
    over_grpc = grpc_client(dataplane.grpc_port, token)
    try:
        for name, client in (("rest", over_rest), ("grpc", over_grpc)):
            collection = f"books-{name}"
            client.create_collection(collection, vectors_config=models.VectorParams(size=2, distance="Dot"))
            client.upsert(collection, [models.PointStruct(id=i, vector=[1.0, float(i)], payload={"genre": "sf"})
                                       for i in range(5)], wait=True)
            client.create_payload_index(collection, "genre", models.PayloadSchemaType.KEYWORD, wait=True)
            assert "genre" in client.get_collection(collection).payload_schema
            assert client.update_collection(collection, optimizers_config=models.OptimizersConfigDiff(
                indexing_threshold=1000))
            assert client.get_collection(collection).config.optimizer_config.indexing_threshold == 1000
            recommended = client.query_points(collection, query=models.RecommendQuery(
                recommend=models.RecommendInput(positive=[1])), limit=3).points
            assert len(recommended) == 3
            assert client.list_snapshots(collection) == []
        response = httpx.post(dataplane.url + "/collections/books-rest/points/recommend",
                              headers={"api-key": token}, json={"positive": [1], "limit": 2})
        assert response.status_code == 200 and len(response.json()["result"]) == 2
    finally:
        over_rest.close()
        over_grpc.close()


def test_a_deleted_key_is_refused_at_the_front_though_the_node_takes_it(single, qdrant, qdrant_node, owner,
                                                                         dataplane):
    key, token = mint(single, MANAGE, by=owner)
    node_url = qdrant.address(qdrant_node).http_url
    node_port = qdrant.address(qdrant_node).ports.grpc
    assert httpx.get(dataplane.url + "/collections", headers={"api-key": token}).status_code == 200
    database_key_delete(key=key, by=owner)

    refused = httpx.get(dataplane.url + "/collections", headers={"api-key": token})
    assert (refused.status_code, refused.text) == (401, "Invalid API key or JWT")
    assert httpx.get(node_url + "/collections", headers={"api-key": token}).status_code == 200
    metadata = (("api-key", token),)
    assert raw_grpc(dataplane.grpc_port, "/qdrant.Collections/List", metadata) == \
        (grpc.StatusCode.UNAUTHENTICATED, "Invalid API key or JWT")
    assert raw_grpc(node_port, "/qdrant.Collections/List", metadata)[0] == "ok"


def test_no_ready_node_is_a_503(single, owner, dataplane):
    _, token = mint(single, MANAGE, by=owner)
    ClusterNode.objects.filter(cluster=single).update(state=NodeState.UNHEALTHY)
    keys_changed()
    response = httpx.get(dataplane.url + "/collections", headers={"api-key": token})
    assert response.status_code == 503
    assert raw_grpc(dataplane.grpc_port, "/qdrant.Collections/List", (("api-key", token),))[0] == \
        grpc.StatusCode.UNAVAILABLE


def test_reads_through_the_front_survive_kill_9_of_a_node(legacy_cluster, qdrant, qdrant_trio, dataplane, owner):
    cluster = front_cluster(legacy_cluster, qdrant_trio, qdrant)
    _, token = mint(cluster, READ_ONLY, by=owner)
    with rest(qdrant.address(qdrant_trio[0]).http_url, cluster.master_key) as node:
        node.put("/collections/books", json={"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3,
                                             "replication_factor": 2}).raise_for_status()
        node.put("/collections/books/points?wait=true", json={
            "points": [{"id": i, "vector": [1.0, float(i)]} for i in range(30)]}).raise_for_status()
    over_rest = QdrantClient(url=dataplane.url, api_key=token, check_compatibility=False, timeout=30)
    over_grpc = grpc_client(dataplane.grpc_port, token)
    victim_pid = qdrant.pid(qdrant_trio[1])
    results = {"rest": [], "grpc": []}
    stop = threading.Event()

    def reader(name, client):
        while not stop.is_set():
            try:
                results[name].append(client.count("books", exact=True).count)
            except Exception as error:  # noqa: BLE001 - any failure is what the test counts
                results[name].append(repr(error))

    threads = [threading.Thread(target=reader, args=item) for item in
               (("rest", over_rest), ("grpc", over_grpc))]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: min(map(len, results.values())) >= 50, timeout=30, what="reads before the kill")
        os.kill(victim_pid, signal.SIGKILL)
        counts = {name: len(reads) for name, reads in results.items()}
        wait_until(lambda: all(len(results[n]) >= counts[n] + 200 for n in results), timeout=60,
                   what="reads after the kill")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        over_rest.close()
        over_grpc.close()
    failed = {name: [r for r in reads if r != 30] for name, reads in results.items()}
    assert failed == {"rest": [], "grpc": []}
    assert not qdrant.is_running(qdrant_trio[1])


JS_CLIENT = ROOT / "node_modules" / "@qdrant" / "js-client-grpc"


def js_calls(port, token):
    result = subprocess.run(["node", str(ROOT / "tests" / "js" / "grpc_calls.mjs"), "127.0.0.1", str(port), token],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_javascript_grpc_client_gets_the_nodes_answers_through_the_front(single, qdrant, qdrant_node, dataplane,
                                                                             owner):
    if not (shutil.which("node") and JS_CLIENT.is_dir()):
        pytest.skip("node or @qdrant/js-client-grpc is missing: run `npm ci` at the repository root (Node 20)")
    seed_collections(qdrant.address(qdrant_node).http_url, single.master_key)
    node_port = qdrant.address(qdrant_node).ports.grpc
    seen = {}
    for kind, token, node_token in keys_of_every_kind(single, owner):
        if token is None:
            continue
        seen[kind] = js_calls(dataplane.grpc_port, token)
        assert seen[kind] == js_calls(node_port, node_token), kind
    assert seen["manage"]["count"] == ["ok", 1]
    assert seen["read"]["deleteMissing"][0] == 7  # PERMISSION_DENIED, as from the node
    assert seen["garbage"]["list"] == [16, "Invalid API key or JWT"]


def test_a_rolling_restart_behind_the_front_loses_no_read_and_no_idempotent_write(legacy_cluster, qdrant,
                                                                                  qdrant_trio, dataplane, owner):
    """Node by node, as the node supervisor does it: out of the ready list
    (its row no longer HEALTHY), restarted, back when healthy."""
    from runtimes.base import wait_healthy

    cluster = front_cluster(legacy_cluster, qdrant_trio, qdrant)
    _, token = mint(cluster, collection_rule("books", "rw"), by=owner)
    with rest(qdrant.address(qdrant_trio[0]).http_url, cluster.master_key) as node:
        node.put("/collections/books", json={"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3,
                                             "replication_factor": 2}).raise_for_status()
        node.put("/collections/books/points?wait=true", json={
            "points": [{"id": i, "vector": [1.0, float(i)]} for i in range(30)]}).raise_for_status()
    over_rest = QdrantClient(url=dataplane.url, api_key=token, check_compatibility=False, timeout=30)
    over_grpc = grpc_client(dataplane.grpc_port, token)
    results = {"rest reads": [], "grpc reads": [], "rest writes": [], "grpc writes": []}
    stop = threading.Event()

    def loop(name, client):
        i = 0
        while not stop.is_set():
            i += 1
            for kind, call in (("reads", lambda: client.count("books", exact=True).count),
                               ("writes", lambda i=i: client.upsert("books", [models.PointStruct(
                                   id=i % 30, vector=[1.0, float(i % 30)])], wait=True).status.value)):
                try:
                    results[f"{name} {kind}"].append(call())
                except Exception as error:  # noqa: BLE001 - any failure is what the test counts
                    results[f"{name} {kind}"].append(repr(error))

    threads = [threading.Thread(target=loop, args=item) for item in (("rest", over_rest), ("grpc", over_grpc))]
    pids = []
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: min(map(len, results.values())) >= 10, timeout=30, what="the clients to run")
        for node in qdrant_trio:  # restarted from this (the main) thread: PR_SET_PDEATHSIG
            wait_until(lambda: qdrant.settled(qdrant_trio[0].cluster), timeout=120, interval=0.2,
                       what="the cluster to settle")
            ClusterNode.objects.filter(cluster=cluster, index=node.index).update(state=NodeState.STARTING)
            counts = {name: len(done) for name, done in results.items()}
            wait_until(lambda counts=counts: all(len(results[n]) >= counts[n] + 3 for n in results), timeout=30,
                       what="requests after the node left the ready list")  # the front polls every 0.1 s
            old_pid = qdrant.pid(node)
            qdrant.restart(node)
            wait_healthy(qdrant, node, timeout=120)
            pids.append((old_pid, qdrant.pid(node)))
            ClusterNode.objects.filter(cluster=cluster, index=node.index).update(state=NodeState.HEALTHY)
        counts = {name: len(done) for name, done in results.items()}
        wait_until(lambda: all(len(results[n]) >= counts[n] + 10 for n in results), timeout=30,
                   what="requests after the restart")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        over_rest.close()
        over_grpc.close()
    assert all(old != new for old, new in pids)
    expected = {"reads": 30, "writes": "completed"}
    failed = {name: [r for r in done if r != expected[name.split()[1]]] for name, done in results.items()}
    assert failed == {name: [] for name in results}
