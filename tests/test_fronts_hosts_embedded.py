"""Embedded clusters across hosts (tests/fixtures/hosts.py's three fronts,
each with its own data directory): the front that first needs a cluster's
storage owns it and the others forward to it, so every front serves the same
collections, over REST and gRPC; with the owner killed the others answer 503
naming it, and serve again once it is back; the owner refuses a revoked
front's operations; the console lists the collections the owner reports; a
restart the console cannot reach fails naming the owner; an operator moves a
cluster whose owner is gone; a front claims the clusters on its disk that
nobody owns (a console from before owners were recorded)."""

import io
import json
import os
import shutil
import signal
import socket
import time

import grpc
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from django.core.management import call_command

from clusters.embedded import storage_restart
from clusters.runtime import runtime_for
from fronts.credentials import front_credential_revoke, front_peer_token
from fronts.changelog import keys_changed
from fronts.models import EmbeddedOwner, FrontCredential
from tests.fixtures.apikeys import create_url
from tests.fixtures.dataplane import MANAGE, mint
from tests.fixtures.worker import wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

POINTS = [models.PointStruct(id=i, vector=[float(i), 1.0, 0.5, 0.25], payload={"n": i}) for i in range(1, 6)]


def rest(front, token) -> QdrantClient:
    return QdrantClient(url=front.url, api_key=token, check_compatibility=False, timeout=30)


def grpc_client(front, token) -> QdrantClient:
    return QdrantClient(host=front.host, grpc_port=front.grpc_port, prefer_grpc=True, https=False, api_key=token,
                        check_compatibility=False, timeout=30)


def owned(front) -> list[str]:
    return [cluster for stats in front.stats() for cluster in stats["owns"]]


def make_books(front, token) -> None:
    rest(front, token).create_collection(
        "books", vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))


def test_every_front_serves_the_same_collections_from_the_one_that_owns_them(hosts, cluster, owner):
    a, b, c = hosts
    _, token = mint(cluster, MANAGE, by=owner)
    make_books(a, token)  # the first to need the storage: a owns it
    grpc_client(b, token).upsert("books", points=POINTS, wait=True)
    hits = rest(c, token).query_points("books", query=[5.0, 1.0, 0.5, 0.25], limit=3).points
    assert [hit.id for hit in hits] == [5, 4, 3]
    for front in hosts:
        for client in (rest(front, token), grpc_client(front, token)):
            assert client.count("books", exact=True).count == len(POINTS)
            assert client.get_collection("books").points_count == len(POINTS)
    assert [owned(front) for front in hosts] == [[str(cluster.id)], [], []]  # one copy, a's
    assert all(sum(s["forwarded"] for s in front.stats()) > 0 for front in (b, c))


def test_with_the_owner_killed_the_others_answer_503_naming_it_and_serve_again_when_it_is_back(
        hosts, cluster, owner):
    a, b, c = hosts
    _, token = mint(cluster, MANAGE, by=owner)
    make_books(a, token)
    rest(b, token).upsert("books", points=POINTS, wait=True)
    os.killpg(a.process.pid, signal.SIGKILL)
    a.process.wait()
    named = f"front '{a.credential.name}' at tcp://{a.host}:{a.storage_port}"
    with pytest.raises(UnexpectedResponse) as refused:
        rest(b, token).count("books")
    assert refused.value.status_code == 503
    assert named in json.loads(refused.value.content)["status"]["error"]
    with pytest.raises(grpc.RpcError) as refused:
        grpc_client(c, token).count("books")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE and named in refused.value.details()
    assert [owned(front) for front in (b, c)] == [[], []]  # neither opened a copy of its own
    a.start()
    for front in (b, c):
        assert rest(front, token).count("books", exact=True).count == len(POINTS)
    assert owned(a) == [str(cluster.id)]


def forwarded_count(front, cluster, peer_token: str) -> dict:
    """A count of "books" sent to `front`'s storage port as another front forwards one (keyset/wire.py)."""
    message = {"cluster": str(cluster.id), "op": "count", "name": "books", "params": {}, "body": {"exact": True},
               "peer": peer_token}
    with socket.create_connection((front.host, front.storage_port), timeout=10) as sock:
        sock.sendall(json.dumps(message).encode() + b"\n")
        return json.loads(sock.makefile("rb").readline())


def test_the_owner_refuses_a_revoked_fronts_operations(hosts, cluster, owner):
    a, _, c = hosts
    _, token = mint(cluster, MANAGE, by=owner)
    make_books(a, token)
    rest(c, token).upsert("books", points=POINTS, wait=True)
    revoked = FrontCredential.objects.get(name=c.credential.name)
    peer_token = front_peer_token(revoked)
    assert forwarded_count(a, cluster, peer_token) == {"ok": True, "result": {"count": len(POINTS)}}
    front_credential_revoke(name=revoked.name)  # returns once the fronts applied it
    answer = forwarded_count(a, cluster, peer_token)
    assert answer["ok"] is False and answer["status"] == 403
    assert forwarded_count(a, cluster, "not a token")["status"] == 403


def test_the_key_form_offers_collections_made_through_a_front_that_does_not_own_them(
        hosts, cluster, owner, client_of):
    a, b, _ = hosts
    _, token = mint(cluster, MANAGE, by=owner)
    rest(a, token).get_collections()  # a owns the cluster
    make_books(b, token)
    assert runtime_for(cluster).collections(cluster) == ["books"]
    assert client_of(owner).get(create_url(cluster)).context["form"].known_collections == ["books"]
    rest(b, token).delete_collection("books")
    assert runtime_for(cluster).collections(cluster) == []
    assert owned(b) == []


def test_a_restart_of_a_cluster_owned_on_another_host_fails_naming_the_owner(hosts, cluster, owner):
    a, _, _ = hosts
    _, token = mint(cluster, MANAGE, by=owner)
    make_books(a, token)
    with pytest.raises(RuntimeError, match=f"front '{a.credential.name}' on another host"):
        storage_restart(cluster.id, renew=lambda: None)


def test_an_operator_moves_a_cluster_whose_owner_is_gone_for_good(hosts, cluster, owner):
    a, b, c = hosts
    _, token = mint(cluster, MANAGE, by=owner)
    make_books(a, token)
    rest(a, token).upsert("books", points=POINTS, wait=True)
    os.killpg(a.process.pid, signal.SIGKILL)
    a.process.wait()
    shutil.copytree(a.data_dir / "clusters" / str(cluster.id), b.data_dir / "clusters" / str(cluster.id))
    call_command("move_embedded_cluster", str(cluster.id), b.credential.name, stdout=io.StringIO())
    deadline = time.monotonic() + 5
    while True:  # b tells the console where it is as soon as it learns it owns the cluster
        try:
            assert rest(c, token).count("books", exact=True).count == len(POINTS)
            break
        except UnexpectedResponse as exc:
            assert exc.status_code == 503 and time.monotonic() < deadline
            time.sleep(0.05)
    assert [owned(front) for front in (b, c)] == [[str(cluster.id)], []]


def test_a_front_claims_the_clusters_on_its_disk_that_nobody_owns_and_the_console_lists_them(
        hosts, cluster, owner):
    a, _, _ = hosts
    _, token = mint(cluster, MANAGE, by=owner)
    make_books(a, token)
    os.killpg(a.process.pid, signal.SIGKILL)
    a.process.wait()
    # As a console upgraded from before owners were recorded: the collections are on a's disk only.
    EmbeddedOwner.objects.filter(cluster=cluster).delete()
    keys_changed(cluster=cluster)
    assert runtime_for(cluster).collections(cluster) == []
    a.start()  # no request reaches it
    wait_for(lambda: runtime_for(cluster).collections(cluster) == ["books"], timeout=5, interval=0.05)
    assert EmbeddedOwner.objects.get(cluster=cluster).front == a.credential.name
