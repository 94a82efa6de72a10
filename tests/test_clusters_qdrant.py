"""Clusters on real Qdrant nodes, end to end: the console's rows, a real Celery
worker running the operations and the node supervisor running the nodes
(tests/fixtures/nodes.py). Skipped without QDRANT_BINARY (a failure with
REQUIRE_QDRANT=1). The front is not in the way here: keys are checked against
the nodes themselves, with what the front sends them (the master key for an
admin key, the JWT as it is)."""

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
from django.db import connection
from django.utils import timezone

from apikeys.models import DatabaseApiKey
from apikeys.services import database_key_create
from clusters.models import Cluster, ClusterNode, NodeState, Operation, Phase
from clusters.restarts import cluster_restart_start, granular_access_enable
from clusters.services import cluster_create
from tests.fixtures.qdrant import requires_qdrant
from tests.fixtures.worker import wait_for
from tests.test_api_support import api_as, assert_matches_spec, post_json, url

pytestmark = requires_qdrant

LEGACY = datetime(2024, 11, 5, tzinfo=UTC)


def new_cluster(account, name: str, nodes: int, created_at=None) -> Cluster:
    cluster = cluster_create(
        account=account, name=name, version="v1.19.0",
        number_of_nodes=nodes, created_at=created_at,
    )
    return healthy(cluster)


def healthy(cluster: Cluster, timeout: float = 120) -> Cluster:
    wait_for(lambda: Cluster.objects.get(id=cluster.id).phase == Phase.HEALTHY, timeout=timeout)
    cluster.refresh_from_db()
    return cluster


def master(cluster) -> dict:
    return {"api-key": cluster.master_key}


def fill_books(node_supervisor, cluster, **collection) -> None:
    books = node_supervisor.url(cluster, 0, "/collections/books")
    body = {"vectors": {"size": 2, "distance": "Dot"}} | collection
    httpx.put(books, json=body, headers=master(cluster)).raise_for_status()
    points = {"points": [{"id": i, "vector": [1.0, float(i)]} for i in range(20)]}
    httpx.put(books + "/points?wait=true", json=points, headers=master(cluster)).raise_for_status()


def restarts_of(node_supervisor, cluster, index: int) -> int:
    """How often the supervisor restarted the node for a new generation."""
    return node_supervisor.log().count(f"restarting {cluster.id}/node-{index} for generation")


def test_a_cluster_created_through_the_api_runs_on_real_nodes(node_supervisor, owner, account):
    response = post_json(api_as(owner, account), url("clusters", account), {"cluster": {
        "name": "real-search",
        "configuration": {"numberOfNodes": 2},
    }})
    assert response.status_code == 200, response.content
    body = response.json()
    assert_matches_spec(body, "cluster.v1.swagger.json", "v1CreateClusterResponse")
    assert body["cluster"]["configuration"]["runtime"] == "qdrant"
    assert body["cluster"]["state"]["phase"] == "CLUSTER_PHASE_CREATING"
    cluster = healthy(Cluster.objects.get(id=body["cluster"]["id"]))

    pids = node_supervisor.pids(cluster)
    assert all(pids) and len(set(pids)) == 2
    nodes = list(cluster.nodes.all())
    assert all(n.state == NodeState.HEALTHY and n.http_port and n.grpc_port and n.p2p_port for n in nodes)
    own_version = httpx.get(node_supervisor.url(cluster, 0, "/")).json()["version"]
    got = api_as(owner, account).get(url("cluster", account, cluster_id=cluster.id)).json()["cluster"]
    assert got["state"]["version"] == f"v{own_version}"  # what the nodes say, not the v1.19.0 asked for
    assert {n["version"] for n in got["state"]["nodes"]} == {f"v{own_version}"}
    # One distributed cluster: each node sees both peers.
    info = httpx.get(node_supervisor.url(cluster, 1, "/cluster"), headers=master(cluster)).json()["result"]
    assert len(info["peers"]) == 2


def test_a_node_killed_by_hand_shows_down_and_is_started_again(node_supervisor, client_of, owner, account):
    cluster = new_cluster(account, "solo", 1)
    fill_books(node_supervisor, cluster)
    status = f"/accounts/{account.id}/clusters/{cluster.id}/status/"
    client = client_of(owner)
    killed = node_supervisor.pid(cluster, 0)

    os.kill(killed, signal.SIGKILL)

    wait_for(lambda: client.get(status).json()["nodes"][0]["state"] != NodeState.HEALTHY, timeout=10)
    assert client.get(status).json()["nodes_up"] in (0, 1)  # down, or already back
    wait_for(lambda: node_supervisor.pid(cluster, 0) not in (None, killed), timeout=20)
    wait_for(lambda: client.get(status).json()["nodes"][0]["state"] == NodeState.HEALTHY, timeout=60)
    count = httpx.post(node_supervisor.url(cluster, 0, "/collections/books/points/count"), headers=master(cluster),
                       json={"exact": True})
    assert count.json()["result"]["count"] == 20  # on its storage, data kept


class Watch(threading.Thread):
    """Samples, until stopped, the nodes' pids, their rows and a read with the
    master key (what the front sends a node for an admin key) from each node."""

    def __init__(self, node_supervisor, cluster):
        super().__init__(daemon=True)
        self.supervisor, self.cluster = node_supervisor, cluster
        self.pids = node_supervisor.pids(cluster)
        self.changed: dict[int, float] = {}  # node -> when its pid first changed
        self.back: dict[int, float] = {}  # node -> when its row said: new generation, healthy
        self.samples = 0
        self.unavailable = []  # moments when no node answered a read
        self.refused = []  # a node that answered but refused the master key
        self.halt = threading.Event()

    def run(self) -> None:
        headers = master(self.cluster)
        try:
            while not self.halt.is_set():
                now = time.monotonic()
                for index, pid in enumerate(self.supervisor.pids(self.cluster)):
                    if pid not in (None, self.pids[index]):
                        self.changed.setdefault(index, now)
                for row in ClusterNode.objects.filter(cluster=self.cluster):
                    if row.generation and row.applied_generation == row.generation and row.state == NodeState.HEALTHY:
                        self.back.setdefault(row.index, now)
                answered = False
                for index in range(self.cluster.number_of_nodes):
                    try:
                        response = httpx.post(self.supervisor.url(self.cluster, index, "/collections/books/points/count"),
                                              headers=headers, json={"exact": True}, timeout=2)
                    except httpx.HTTPError:
                        continue
                    if response.status_code in (401, 403):
                        self.refused.append((index, response.status_code))
                    elif response.status_code == 200 and response.json()["result"]["count"] == 20:
                        answered = True
                self.samples += 1
                if not answered:
                    self.unavailable.append(now)
                self.halt.wait(0.1)
        finally:
            connection.close()


def assert_one_by_one(watch: Watch, size: int) -> None:
    assert sorted(watch.changed) == list(range(size)), watch.changed
    for index in range(size - 1):
        # The next node went down only once this one was back (new generation, ready, joined).
        assert watch.back[index] <= watch.changed[index + 1], (watch.back, watch.changed)


def test_enable_on_a_real_legacy_cluster_restarts_its_nodes_one_by_one(node_supervisor, owner, account):
    cluster = new_cluster(account, "legacy-real", 3, created_at=LEGACY)
    assert not cluster.jwt_rbac
    fill_books(node_supervisor, cluster, shard_number=3, replication_factor=2)
    wait_for(lambda: all(n.state == NodeState.HEALTHY for n in cluster.nodes.all()), timeout=60)
    watch = Watch(node_supervisor, cluster)
    watch.start()

    operation = granular_access_enable(cluster=cluster, by=owner, client_ip=None)
    wait_for(lambda: Operation.objects.get(id=operation.id).state == Operation.State.DONE, timeout=240)
    watch.halt.set()
    watch.join()

    cluster.refresh_from_db()
    assert cluster.jwt_rbac
    # The last node is ready when the operation ends; a peer may still be
    # bringing a replica back (NOT_READY, naming it) until its next report.
    wait_for(lambda: Cluster.objects.get(id=cluster.id).phase == Phase.HEALTHY, timeout=30)
    assert_one_by_one(watch, 3)
    assert [restarts_of(node_supervisor, cluster, i) for i in range(3)] == [1, 1, 1]
    assert watch.refused == []  # the master key (admin keys, through the front) worked throughout
    assert watch.unavailable == [], f"{len(watch.unavailable)} of {watch.samples} samples without an answer"
    _key, token = database_key_create(
        cluster=cluster, name="reader", rules=[{"collection": None, "access": "r"}], expires_at=None, by=owner
    )
    for index in range(3):  # granular keys work after, on every node
        read = httpx.get(node_supervisor.url(cluster, index, "/collections/books"), headers={"api-key": token})
        assert read.status_code == 200, read.text
        write = httpx.put(node_supervisor.url(cluster, index, "/collections/other"), headers={"api-key": token},
                          json={"vectors": {"size": 2, "distance": "Dot"}})
        assert write.status_code == 403  # read-only: the node applies the access table itself


def test_a_worker_killed_mid_restart_is_resumed_and_restarts_no_node_twice(node_supervisor, worker, owner, account):
    cluster = new_cluster(account, "pair", 2)
    fill_books(node_supervisor, cluster, shard_number=2, replication_factor=2)
    watch = Watch(node_supervisor, cluster)
    watch.start()

    operation = cluster_restart_start(cluster=cluster, by=owner, client_ip=None)
    # Killed in the step of node 1: its restart asked for, not yet done.
    wait_for(lambda: ClusterNode.objects.get(cluster=cluster, index=1).generation == 1, timeout=120, interval=0.02)
    worker.kill()
    worker.start()  # a new worker; the sweeper hands it the operation once the lease expires

    wait_for(lambda: Operation.objects.get(id=operation.id).state == Operation.State.DONE, timeout=180)
    watch.halt.set()
    watch.join()
    assert [restarts_of(node_supervisor, cluster, i) for i in range(2)] == [1, 1]
    assert [n.generation for n in cluster.nodes.all()] == [1, 1]
    assert_one_by_one(watch, 2)
    assert Cluster.objects.get(id=cluster.id).phase == Phase.HEALTHY


def test_deleting_a_cluster_stops_its_nodes_removes_their_storage_and_kills_its_keys(
    node_supervisor, client_of, owner, account
):
    cluster = new_cluster(account, "doomed", 1)
    key, token = database_key_create(
        cluster=cluster, name="reader", rules=[{"collection": None, "access": "r"}], expires_at=None, by=owner
    )
    pid = node_supervisor.pid(cluster, 0)
    storage = node_supervisor.root / str(cluster.id)
    assert storage.exists()
    client = client_of(owner)
    delete = f"/accounts/{account.id}/clusters/{cluster.id}/delete/"

    assert client.post(delete, {"name": "not-it"}).status_code == 200  # the name typed must match
    assert Cluster.objects.get(id=cluster.id).phase == Phase.HEALTHY
    response = client.post(delete, {"name": "doomed"})

    assert response.status_code == 302
    assert DatabaseApiKey.objects.get(id=key.id).revoked_at is not None  # at once
    wait_for(lambda: not Cluster.objects.filter(id=cluster.id).exists(), timeout=60)
    assert not os.path.exists(f"/proc/{pid}") or node_supervisor.pid(cluster, 0) is None
    assert not storage.exists()
    assert not DatabaseApiKey.objects.filter(id=key.id).exists()


def test_a_cluster_deleted_through_the_api_is_gone_with_its_nodes(node_supervisor, owner, account):
    cluster = new_cluster(account, "doomed-api", 1)
    pid = node_supervisor.pid(cluster, 0)
    response = api_as(owner, account).delete(url("cluster", account, cluster_id=cluster.id))
    assert response.status_code == 200 and response.json() == {}
    wait_for(lambda: not Cluster.objects.filter(id=cluster.id).exists(), timeout=60)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}/cmdline") or node_supervisor.pid(cluster, 0) is None, timeout=20)
    assert not (node_supervisor.root / str(cluster.id)).exists()


def test_a_node_down_outside_an_operation_makes_the_cluster_not_ready_until_it_is_back(
    node_supervisor, client_of, owner, account
):
    cluster = new_cluster(account, "wobbly", 1)
    status = f"/accounts/{account.id}/clusters/{cluster.id}/status/"
    client, api = client_of(owner), api_as(owner, account)
    killed = node_supervisor.pid(cluster, 0)
    seen_on_page, seen_in_api = set(), set()

    def look() -> tuple[dict, dict]:
        page = client.get(status).json()
        state = api.get(url("cluster", account, cluster_id=cluster.id)).json()["cluster"]["state"]
        seen_on_page.add((page["phase"], page["phase_label"], page["reason"]))
        seen_in_api.add((state["phase"], state["reason"]))
        return page, state

    # The supervisor restarts a killed node at once and reports it healthy as
    # soon as it answers, which on a loaded machine can come before the first
    # look at the console. So it is held (SIGSTOP) from the moment it has
    # reported the node down until the page and the API have been seen.
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: Cluster.objects.get(id=cluster.id).phase == Phase.NOT_READY, timeout=60, interval=0.005)
    os.kill(node_supervisor.process.pid, signal.SIGSTOP)
    try:
        look()
    finally:
        os.kill(node_supervisor.process.pid, signal.SIGCONT)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page, state = look()
        back = node_supervisor.pid(cluster, 0) not in (None, killed) and page["nodes_up"] == 1
        if back and page["phase"] == Phase.HEALTHY and state["phase"] == "CLUSTER_PHASE_HEALTHY":
            break
    else:
        raise AssertionError(f"not HEALTHY again within 60 s: {seen_on_page}")
    down = {reason for phase, label, reason in seen_on_page if (phase, label) == (Phase.NOT_READY, "Not ready")}
    assert down and all(reason.startswith("Not every node is ready: node-0 ") for reason in down), seen_on_page
    assert any(phase == "CLUSTER_PHASE_NOT_READY" and "node-0" in reason for phase, reason in seen_in_api)
    assert Cluster.objects.get(id=cluster.id).reason == ""


def test_a_node_down_during_an_operation_leaves_the_phase_to_it(node_supervisor, owner, account):
    cluster = new_cluster(account, "busy", 1)
    # A restart that a live worker holds (its row is what owns the phase), killed node and all.
    Operation.objects.create(cluster=cluster, kind=Operation.Kind.RESTART, state=Operation.State.RUNNING,
                             lease_token="held", lease_until=timezone.now() + timedelta(minutes=10))
    Cluster.objects.filter(id=cluster.id).update(phase=Phase.UPDATING, reason="Rolling restart")
    killed = node_supervisor.pid(cluster, 0)
    node_states, phases = [], []

    os.kill(killed, signal.SIGKILL)

    def back() -> bool:
        node_states.append(ClusterNode.objects.values_list("state", flat=True).get(cluster=cluster))
        phases.append(Cluster.objects.values_list("phase", flat=True).get(id=cluster.id))
        return node_supervisor.pid(cluster, 0) not in (None, killed) and node_states[-1] == NodeState.HEALTHY
    wait_for(back, timeout=60, interval=0.01)

    assert NodeState.UNHEALTHY in node_states or NodeState.STARTING in node_states  # it was seen down
    assert set(phases) == {Phase.UPDATING}
