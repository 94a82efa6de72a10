"""DATAPLANE_STORAGE_PROCESSES: each open embedded cluster's storage in a
process of its own (dataplane/storage_process.py), so a cluster whose
storage is stuck holds no other. bench/dataplane.py part 6 measures it."""

import os
import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_cluster
from tests.fixtures.dataplane import MANAGE, another_front, mint


@pytest.fixture(scope="module")
def isolated(dataplane_process, django_db_blocker, tmp_path_factory):
    with another_front(dataplane_process, django_db_blocker, tmp_path_factory.mktemp("dataplane-isolated"),
                       DATAPLANE_STORAGE_PROCESSES="on") as plane:
        yield plane


def descendants(pid: int) -> list[int]:
    children = [int(c) for t in Path(f"/proc/{pid}/task").iterdir()
                for c in (t / "children").read_text().split()]
    return children + [d for c in children for d in descendants(c)]


def storage_process_of(front_pid: int, cluster_id) -> int:
    """The process that has the cluster's storage files open."""
    for pid in descendants(front_pid):
        try:
            if any(f"/clusters/{cluster_id}/" in os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()):
                return pid
        except OSError:
            continue
    raise AssertionError(f"no process holds cluster {cluster_id}'s storage")


def count(plane, token, timeout=10) -> int:
    reply = httpx.post(f"{plane.url}/collections/books/points/count", json={"exact": True},
                       headers={"api-key": token}, timeout=timeout)
    reply.raise_for_status()
    return reply.json()["result"]["count"]


def prepare(plane, cluster, owner, points: int) -> str:
    _, token = mint(cluster, MANAGE, by=owner)
    with httpx.Client(base_url=plane.url, headers={"api-key": token}, timeout=30) as client:
        client.put("/collections/books", json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
        client.put("/collections/books/points?wait=true", json={"points": [
            {"id": i, "vector": [1.0, float(i)]} for i in range(points)]}).raise_for_status()
    return token


@pytest.mark.django_db(transaction=True)
def test_a_cluster_whose_storage_is_stuck_holds_up_no_other_cluster(isolated, dataplane, account, owner):
    stuck, free = make_cluster(account, name="stuck"), make_cluster(account, name="free")
    stuck_token, free_token = prepare(isolated, stuck, owner, 3), prepare(isolated, free, owner, 5)
    held = storage_process_of(isolated.process.pid, stuck.id)
    assert held != storage_process_of(isolated.process.pid, free.id)
    os.kill(held, signal.SIGSTOP)  # as a long upsert or flush that keeps its process's GIL
    try:
        with pytest.raises(httpx.TimeoutException):
            count(isolated, stuck_token, timeout=1)
        assert [count(isolated, free_token) for _ in range(20)] == [5] * 20
    finally:
        os.kill(held, signal.SIGCONT)
    assert count(isolated, stuck_token) == 3  # and the stuck one answers once it goes on


@pytest.mark.django_db(transaction=True)
def test_a_storage_process_holds_none_of_the_front_s_secrets(isolated, dataplane, account, owner):
    cluster = make_cluster(account, name="plain")
    prepare(isolated, cluster, owner, 1)
    front = Path(f"/proc/{isolated.process.pid}/environ").read_bytes()
    storage = Path(f"/proc/{storage_process_of(isolated.process.pid, cluster.id)}/environ").read_bytes()
    assert b"KEYSET_CREDENTIAL=" in front and b"KEYSET_URL=" in front
    assert b"KEYSET_CREDENTIAL=" not in storage and b"KEYSET_URL=" not in storage


@pytest.mark.django_db(transaction=True)
def test_a_storage_process_killed_fails_the_call_it_was_in_and_the_next_call_gets_a_new_one(
        isolated, dataplane, account, owner):
    cluster = make_cluster(account, name="killed")
    token = prepare(isolated, cluster, owner, 7)
    held = storage_process_of(isolated.process.pid, cluster.id)
    os.kill(held, signal.SIGSTOP)
    with httpx.Client(timeout=30) as client:
        pending = client.build_request("POST", f"{isolated.url}/collections/books/points/count",
                                       json={"exact": True}, headers={"api-key": token})
        replies = []
        sender = threading.Thread(target=lambda: replies.append(client.send(pending)))
        sender.start()
        try:
            sender.join(timeout=1)
            assert sender.is_alive()  # the call is in the stopped process
        finally:
            os.kill(held, signal.SIGKILL)
        sender.join(timeout=30)
    assert replies[0].status_code == 500
    assert replies[0].json()["status"]["error"] == "Service internal error: the storage engine failed"
    assert count(isolated, token) == 7  # a new process, on the same files: nothing lost
    assert storage_process_of(isolated.process.pid, cluster.id) != held
