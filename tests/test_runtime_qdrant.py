"""The `qdrant` qdrant and its supervisor against a real Qdrant binary
(QDRANT_BINARY, see `make qdrant`); see tests/fixtures/qdrant.py."""

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest
from django.conf import settings

from runtimes.base import NODE_PORTS, ClusterSpec, Node, wait_healthy, wait_until
from runtimes.processes import die_with_parent
from runtimes.qdrant import QdrantRuntime, free_ports
from tests.fixtures.qdrant import (
    QDRANT_BINARY,
    ROOT,
    master,
    new_key,
    requires_qdrant,
    start_cluster,
    url,
)

pytestmark = requires_qdrant


def test_a_node_reports_its_own_version(qdrant, qdrant_node):
    body = httpx.get(url(qdrant, qdrant_node, "/")).json()
    assert body["version"] == "1.16.3"
    assert body["commit"] == "bd49f45a8a2d4e4774cac50fa29507c4e8375af2"
    assert qdrant.version(qdrant_node) == "1.16.3"


def test_a_node_requires_the_master_key(qdrant, qdrant_node):
    collections = url(qdrant, qdrant_node, "/collections")
    assert httpx.get(collections).status_code == 401
    assert httpx.get(collections, headers={"api-key": new_key()}).status_code == 401
    assert httpx.get(collections, headers=master(qdrant_node)).status_code == 200


def test_a_node_with_jwt_rbac_accepts_jwts_signed_with_the_master_key(qdrant, qdrant_node):
    key = qdrant_node.cluster.master_key
    read_only = jwt.encode({"access": "r"}, key, algorithm="HS256")
    manage = jwt.encode({"access": "m"}, key, algorithm="HS256")
    forged = jwt.encode({"access": "m"}, new_key(), algorithm="HS256")
    collection = url(qdrant, qdrant_node, "/collections/books")
    vectors = {"vectors": {"size": 4, "distance": "Dot"}}

    assert httpx.put(collection, json=vectors, headers={"Authorization": f"Bearer {read_only}"}).status_code == 403
    assert httpx.put(collection, json=vectors, headers={"Authorization": f"Bearer {manage}"}).status_code == 200
    assert httpx.get(collection, headers={"api-key": read_only}).status_code == 200
    refused = httpx.get(collection, headers={"api-key": forged})
    assert (refused.status_code, refused.text) == (403, "InvalidSignature")


def test_the_config_is_private_and_the_master_key_is_on_no_command_line(qdrant, qdrant_node):
    key = qdrant_node.cluster.master_key
    config = qdrant.config_path(qdrant_node)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert key in config.read_text()
    pid = qdrant.pid(qdrant_node)
    assert key.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert key.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    httpx.get(url(qdrant, qdrant_node, "/collections"), headers=master(qdrant_node))
    assert key not in qdrant.log_path(qdrant_node).read_text()


def test_a_master_key_with_characters_yaml_gives_meaning_to_is_the_key_the_node_requires(qdrant):
    """config.yaml is written by PyYAML: quoting keeps `&`, `#`, `: ` and quotes inside the key."""
    key = f"&anchor {new_key()} #no comment: 'single' \"double\" yes"
    node = Node(ClusterSpec(id="quoted", size=1, master_key=key, jwt_rbac=False), 0)
    start_cluster(qdrant, node.cluster)
    collections = url(qdrant, node, "/collections")
    assert httpx.get(collections, headers={"api-key": key}).status_code == 200
    assert httpx.get(collections, headers={"api-key": key.split(" #")[0]}).status_code == 401


def test_ports_are_recorded_and_kept_across_a_restart(qdrant, qdrant_node):
    before = qdrant.address(qdrant_node)
    qdrant.restart(qdrant_node)
    wait_healthy(qdrant, qdrant_node)
    assert qdrant.address(qdrant_node) == before
    assert qdrant.ports(qdrant_node.cluster)[0] == before.ports


def free_block(size: int) -> range:
    """`size` ports in a row of NODE_PORTS that nothing listens on now."""
    for start in range(NODE_PORTS.start, NODE_PORTS.stop - size, size):
        try:
            free_ports(size, range(start, start + size))
            return range(start, start + size)
        except OSError:
            continue
    raise AssertionError("no free block")


def test_new_ports_come_from_the_range_and_never_from_another_cluster_s(tmp_path):
    """A stopped node's ports are free to bind, yet still its own; and nothing
    below the kernel's ephemeral range is handed out by the kernel meanwhile."""
    five = free_block(5)
    stopped = five[:2]
    runtime = QdrantRuntime(binary=sys.executable, root=tmp_path, node_ports=five)
    (tmp_path / "stopped").mkdir()
    (tmp_path / "stopped" / "ports.json").write_text(json.dumps([{"http": stopped[0], "grpc": stopped[1], "p2p": None}]))
    given = runtime.ports(ClusterSpec(id="new", size=1, master_key=""))[0]
    assert {given.http, given.grpc} <= set(five) - set(stopped)
    assert max(NODE_PORTS) < int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_a_restarted_node_keeps_its_data(qdrant, qdrant_node):
    collection = url(qdrant, qdrant_node, "/collections/books")
    httpx.put(collection, json={"vectors": {"size": 2, "distance": "Dot"}}, headers=master(qdrant_node)).raise_for_status()
    points = {"points": [{"id": i, "vector": [1.0, float(i)]} for i in range(10)]}
    httpx.put(collection + "/points?wait=true", json=points, headers=master(qdrant_node)).raise_for_status()
    old_pid = qdrant.pid(qdrant_node)

    qdrant.restart(qdrant_node)
    wait_healthy(qdrant, qdrant_node)

    assert qdrant.pid(qdrant_node) != old_pid
    count = httpx.post(collection + "/points/count", json={"exact": True}, headers=master(qdrant_node))
    assert count.json()["result"]["count"] == 10


def cluster_info(runtime: QdrantRuntime, node: Node) -> dict:
    """`GET /cluster` of the node, read with the master key."""
    response = httpx.get(runtime.address(node).http_url + "/cluster", headers=master(node), timeout=10)
    response.raise_for_status()
    return response.json()["result"]


def test_three_nodes_form_one_cluster(qdrant, qdrant_trio):
    for node in qdrant_trio:
        info = cluster_info(qdrant, node)
        assert info["status"] == "enabled"
        assert len(info["peers"]) == 3
    peers = {int(peer) for peer in cluster_info(qdrant, qdrant_trio[0])["peers"]}
    assert {cluster_info(qdrant, n)["peer_id"] for n in qdrant_trio} == peers


def active_replicas(collection: str, headers: dict) -> int:
    info = httpx.get(collection + "/cluster", headers=headers).json()["result"]
    return sum(replica["state"] == "Active" for replica in info["local_shards"] + info["remote_shards"])


def test_a_collection_with_two_replicas_survives_kill_9_of_a_node(qdrant, qdrant_trio):
    first, victim, last = qdrant_trio
    headers = master(first)
    collection = url(qdrant, first, "/collections/books")
    created = httpx.put(collection, headers=headers, json={
        "vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3, "replication_factor": 2,
    })
    assert created.status_code == 200, created.text
    points = {"points": [{"id": i, "vector": [1.0, float(i)], "payload": {"n": i}} for i in range(30)]}
    httpx.put(collection + "/points?wait=true", json=points, headers=headers).raise_for_status()
    # Every shard has both replicas active before the kill.
    wait_until(lambda: active_replicas(collection, headers) == 6, timeout=30, what="6 active replicas")

    os.kill(qdrant.pid(victim), signal.SIGKILL)
    wait_until(lambda: not qdrant.is_running(victim), timeout=5, what="the node to die")

    failures = []
    for _ in range(20):
        for node in (first, last):
            reading = url(qdrant, node, "/collections/books/points")
            response = httpx.post(reading, headers=headers, json={"ids": list(range(30)), "with_payload": True})
            if response.status_code != 200 or len(response.json()["result"]) != 30:
                failures.append((node.index, response.status_code, response.text[:200]))
            count = httpx.post(reading + "/count", headers=headers, json={"exact": True})
            if count.status_code != 200 or count.json()["result"]["count"] != 30:
                failures.append((node.index, count.status_code, count.text[:200]))
    assert failures == []

    # It rejoins on its storage with its replicas.
    qdrant.start(victim)
    wait_healthy(qdrant, victim)
    own = httpx.post(url(qdrant, victim, "/collections/books/points/count"), headers=headers, json={"exact": True})
    assert own.json()["result"]["count"] == 30


# -- the supervisor --------------------------------------------------------


class SupervisorProcess:
    """`python -m runtimes.supervisor` over a desired-state file, and a qdrant
    on the same root to look at its nodes (through their pid files)."""

    def __init__(self, tmp_path):
        self.root = tmp_path / "nodes"
        self.desired_path = tmp_path / "desired.json"
        self.log_path = tmp_path / "supervisor.log"
        self.observer = QdrantRuntime(binary=QDRANT_BINARY, root=self.root, stop_grace=5)
        self.process = None

    def want(self, *clusters: ClusterSpec, node_generations: dict | None = None) -> None:
        items = [{"id": c.id, "size": c.size, "master_key": c.master_key, "jwt_rbac": c.jwt_rbac,
                  "generation": c.generation, "node_generations": c.node_generations} for c in clusters]
        tmp = self.desired_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(items))
        tmp.chmod(0o600)
        tmp.replace(self.desired_path)

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runtimes.supervisor", "--desired-file", str(self.desired_path),
                 "--root", str(self.root), "--binary", QDRANT_BINARY, "--interval", "0.2",
                 "--ports", f"{settings.QDRANT_NODE_PORTS[0]}-{settings.QDRANT_NODE_PORTS[-1]}"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)

    def wait_healthy(self, cluster: ClusterSpec, timeout: float = 60) -> list[Node]:
        wait_until(lambda: (self.root / cluster.id / "ports.json").exists(), timeout=timeout, what="ports")
        nodes = [Node(cluster, i) for i in range(cluster.size)]
        for node in nodes:
            wait_healthy(self.observer, node, timeout=timeout)
        return nodes


@pytest.fixture
def supervisor(tmp_path):
    supervisor = SupervisorProcess(tmp_path)
    yield supervisor
    supervisor.terminate()
    supervisor.observer.stop_all()  # a backstop if the supervisor failed to


def count(qdrant, node) -> int:
    response = httpx.post(url(qdrant, node, "/collections/books/points/count"), headers=master(node), json={"exact": True})
    response.raise_for_status()
    return response.json()["result"]["count"]


def fill_books(qdrant, node, **collection) -> None:
    books = url(qdrant, node, "/collections/books")
    body = {"vectors": {"size": 2, "distance": "Dot"}} | collection
    httpx.put(books, json=body, headers=master(node)).raise_for_status()
    points = {"points": [{"id": i, "vector": [1.0, float(i)]} for i in range(10)]}
    httpx.put(books + "/points?wait=true", json=points, headers=master(node)).raise_for_status()


def test_the_supervisor_restarts_a_node_killed_by_hand_with_its_data(supervisor):
    cluster = ClusterSpec(id="solo", size=1, master_key=new_key(), jwt_rbac=True)
    supervisor.want(cluster)
    supervisor.start()
    (node,) = supervisor.wait_healthy(cluster)
    fill_books(supervisor.observer, node)
    killed = supervisor.observer.pid(node)

    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: supervisor.observer.pid(node) not in (None, killed), timeout=10, what="a new process")
    wait_healthy(supervisor.observer, node, timeout=30)

    assert count(supervisor.observer, node) == 10


def test_the_supervisor_forms_a_cluster_and_a_killed_peer_rejoins(supervisor):
    cluster = ClusterSpec(id="trio", size=3, master_key=new_key())
    supervisor.want(cluster)
    supervisor.start()
    nodes = supervisor.wait_healthy(cluster)
    fill_books(supervisor.observer, nodes[0], shard_number=3, replication_factor=2)
    victim = nodes[2]
    killed = supervisor.observer.pid(victim)

    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: supervisor.observer.pid(victim) not in (None, killed), timeout=10, what="a new process")
    supervisor.wait_healthy(cluster)

    assert len(cluster_info(supervisor.observer, victim)["peers"]) == 3
    assert count(supervisor.observer, victim) == 10


def test_sigterm_stops_every_node_and_the_next_supervisor_starts_them_on_their_storage(supervisor):
    cluster = ClusterSpec(id="solo", size=1, master_key=new_key(), jwt_rbac=True)
    supervisor.want(cluster)
    supervisor.start()
    (node,) = supervisor.wait_healthy(cluster)
    fill_books(supervisor.observer, node)
    ports = supervisor.observer.address(node)

    supervisor.terminate()
    assert supervisor.process.returncode == 0
    assert supervisor.observer.running() == []

    supervisor.start()
    supervisor.wait_healthy(cluster)
    assert supervisor.observer.address(node) == ports
    assert count(supervisor.observer, node) == 10


def test_a_generation_bump_restarts_only_that_node_with_its_new_config(supervisor):
    cluster = ClusterSpec(id="trio", size=3, master_key=new_key(), jwt_rbac=False)
    supervisor.want(cluster)
    supervisor.start()
    nodes = supervisor.wait_healthy(cluster)
    pids = [supervisor.observer.pid(n) for n in nodes]
    token = jwt.encode({"access": "r"}, cluster.master_key, algorithm="HS256")

    enabled = ClusterSpec(id="trio", size=3, master_key=cluster.master_key, jwt_rbac=True, node_generations={1: 1})
    supervisor.want(enabled)
    wait_until(lambda: supervisor.observer.pid(nodes[1]) not in (None, pids[1]), timeout=20, what="node 1 restarted")
    supervisor.wait_healthy(enabled)

    assert [supervisor.observer.pid(n) for n in nodes][::2] == pids[::2]
    collections = "/collections"
    assert httpx.get(url(supervisor.observer, nodes[1], collections), headers={"api-key": token}).status_code == 200
    assert httpx.get(url(supervisor.observer, nodes[0], collections), headers={"api-key": token}).status_code == 401


def test_nodes_of_a_cluster_no_longer_wanted_are_stopped(supervisor):
    kept = ClusterSpec(id="kept", size=1, master_key=new_key())
    dropped = ClusterSpec(id="dropped", size=1, master_key=new_key())
    supervisor.want(kept, dropped)
    supervisor.start()
    supervisor.wait_healthy(kept)
    supervisor.wait_healthy(dropped)

    supervisor.want(kept)
    wait_until(lambda: supervisor.observer.running() == [("kept", 0)], timeout=20, what="dropped to stop")
    assert (supervisor.root / "dropped" / "node-0" / "storage").exists()

    supervisor.observer.remove("dropped")  # what the delete-cluster job does next, from its own process
    assert not (supervisor.root / "dropped").exists()
    assert supervisor.observer.running() == [("kept", 0)]


def test_removing_a_cluster_stops_its_running_nodes_first(qdrant, qdrant_node):
    pid = qdrant.pid(qdrant_node)
    other_process_view = QdrantRuntime(binary=QDRANT_BINARY, root=qdrant.root)

    other_process_view.remove(qdrant_node.cluster.id)

    wait_until(lambda: not Path(f"/proc/{pid}/cmdline").exists() or not qdrant.is_running(qdrant_node),
               timeout=15, what="the node to stop")
    assert not qdrant.cluster_dir(qdrant_node.cluster.id).exists()


def test_nodes_die_with_a_supervisor_killed_outright(supervisor):
    cluster = ClusterSpec(id="solo", size=1, master_key=new_key())
    supervisor.want(cluster)
    supervisor.start()
    supervisor.wait_healthy(cluster)

    supervisor.process.kill()
    supervisor.process.wait(timeout=10)

    wait_until(lambda: supervisor.observer.running() == [], timeout=20, what="the node to die (PR_SET_PDEATHSIG)")
