"""Keys of a cluster reached directly are revoked by the cluster itself
(issue 21.4): each carries a `value_exists` condition on a marker point the
console keeps on that cluster, so a deleted, disabled or retired key is
refused by Qdrant on its next request, on every node, with no front between."""

import time
from datetime import timedelta

import httpx
import pytest
from django.core.exceptions import ValidationError
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import UnexpectedResponse

from apikeys.services import database_key_create, database_key_delete, key_disable, key_enable, key_roll
from clusters.models import Cluster
from tests.fixtures.qdrant import requires_qdrant
from tests.fixtures.worker import wait_for
from tests.test_api_support import api_as, post_json

pytestmark = [requires_qdrant, pytest.mark.django_db(transaction=True)]

READ = [{"collection": None, "access": "r"}]


def connect_direct(owner, account, theirs) -> Cluster:
    response = post_json(api_as(owner, account), f"/api/cluster/v1/accounts/{account.id}/clusters:connect",
                         {"name": "theirs", "url": theirs.url(0), "apiKey": theirs.master_key,
                          "access": "ACCESS_DIRECT"})
    assert response.status_code == 200, response.content
    return Cluster.objects.get(id=response.json()["cluster"]["id"])


def count_status(theirs, node: int, token: str, http: httpx.Client) -> int:
    """POST …/points/count on one node with the key, as a client reaching it directly would."""
    return http.post(f"{theirs.url(node)}/collections/data/points/count", json={"exact": True},
                     headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.fixture
def trio(owner, account, elsewhere):
    theirs = elsewhere(size=3)
    with httpx.Client(headers={"api-key": theirs.master_key}) as http:
        http.put(f"{theirs.url(0)}/collections/data", json={"vectors": {"size": 2, "distance": "Dot"},
                                                             "replication_factor": 3}).raise_for_status()
    return theirs, connect_direct(owner, account, theirs)


def test_a_deleted_key_is_refused_by_every_node_on_its_next_request(owner, trio):
    theirs, cluster = trio
    wrong = []
    with httpx.Client(timeout=10) as http:
        for round_ in range(100):
            for node in range(3):
                key, token = database_key_create(cluster=cluster, name=f"round {round_} {node}", rules=READ,
                                                 expires_at=None, by=owner)
                before = count_status(theirs, node, token, http)
                database_key_delete(key=key, by=owner)
                after = count_status(theirs, node, token, http)
                if (before, after) != (200, 401):
                    wrong.append((round_, node, before, after))
    assert wrong == []


def test_the_official_client_over_rest_and_grpc(owner, trio):
    theirs, cluster = trio
    key, token = database_key_create(cluster=cluster, name="client key", rules=READ, expires_at=None, by=owner)
    rest = QdrantClient(url=theirs.url(1), api_key=token, https=False, check_compatibility=False)
    grpc = QdrantClient(host="127.0.0.2", grpc_port=theirs.nodes[2].grpc, port=theirs.nodes[2].http,
                        api_key=token, prefer_grpc=True, https=False, check_compatibility=False)
    assert rest.count("data").count == 0 and grpc.count("data").count == 0
    # Its rights are Qdrant's own: read-only.
    with pytest.raises(UnexpectedResponse) as refused:
        rest.upsert("data", points=[{"id": 1, "vector": [1.0, 0.0]}])
    assert refused.value.status_code == 403
    database_key_delete(key=key, by=owner)
    with pytest.raises(UnexpectedResponse) as refused:
        rest.count("data")
    assert refused.value.status_code == 401 and "stateful validation failed" in str(refused.value)
    with pytest.raises(Exception, match="UNAUTHENTICATED"):
        grpc.count("data")


def test_disable_enable_and_a_roll_now(owner, trio):
    theirs, cluster = trio
    key, token = database_key_create(cluster=cluster, name="lifecycle", rules=READ, expires_at=None, by=owner)
    with httpx.Client(timeout=10) as http:
        key_disable(key=key, by=owner)
        assert count_status(theirs, 0, token, http) == 401
        key_enable(key=key, by=owner)
        assert count_status(theirs, 0, token, http) == 200
        successor, new_token = key_roll(key=key, grace=timedelta(0), by=owner)
        assert count_status(theirs, 0, token, http) == 401
        assert count_status(theirs, 0, new_token, http) == 200


def test_an_old_secret_dies_within_2_s_of_its_deadline(owner, trio, worker):
    theirs, cluster = trio
    key, token = database_key_create(cluster=cluster, name="rolled", rules=READ, expires_at=None, by=owner)
    successor, new_token = key_roll(key=key, grace=timedelta(seconds=3), by=owner)
    key.refresh_from_db()
    deadline = key.retires_at.timestamp()
    with httpx.Client(timeout=10) as http:
        assert count_status(theirs, 1, token, http) == 200
        wait_for(lambda: count_status(theirs, 1, token, http) == 401, timeout=15, interval=0.05)
        died = time.time()
        assert count_status(theirs, 1, new_token, http) == 200
    assert deadline - 0.5 <= died <= deadline + 2, (died - deadline)


def test_options_direct_access_cannot_honour_are_refused(owner, trio):
    theirs, cluster = trio
    with pytest.raises(ValidationError) as refused:
        database_key_create(cluster=cluster, name="from the office", rules=READ, expires_at=None, by=owner,
                            allowed_networks=["10.0.0.0/8"])
    assert "allowed_networks" in refused.value.message_dict
    assert "directly" in refused.value.message_dict["allowed_networks"][0]


def test_a_cluster_that_does_not_take_the_delete_keeps_the_key(owner, trio):
    theirs, cluster = trio
    key, token = database_key_create(cluster=cluster, name="kept", rules=READ, expires_at=None, by=owner)
    theirs.stop()
    with pytest.raises(ValidationError, match="nothing changed"):
        database_key_delete(key=key, by=owner)
    key.refresh_from_db()
    assert key.revoked_at is None


def test_the_key_form_says_what_direct_access_cannot_do(owner, account, trio, client_of):
    theirs, cluster = trio
    form = client_of(owner).get(f"/accounts/{account.id}/clusters/{cluster.id}/api-keys/create/").content.decode()
    assert "an IP allowlist cannot be enforced" in form and "last use recorded" in form


def test_a_deleted_marker_collection_fails_closed_until_the_health_check(owner, trio):
    from clusters.runtime import runtime_for
    from runtimes.connected import MARKER_COLLECTION

    theirs, cluster = trio
    key, token = database_key_create(cluster=cluster, name="kept alive", rules=READ, expires_at=None, by=owner)
    with httpx.Client(timeout=10) as http:
        http.delete(f"{theirs.url(0)}/collections/{MARKER_COLLECTION}",
                    headers={"api-key": theirs.master_key}).raise_for_status()
        assert count_status(theirs, 0, token, http) == 403
        runtime_for(cluster).check(cluster)
        assert count_status(theirs, 0, token, http) == 200


def test_collection_keys_follow_qdrants_table_of_access_directly(owner, trio):
    theirs, cluster = trio
    with httpx.Client(headers={"api-key": theirs.master_key}) as http:
        http.put(f"{theirs.url(0)}/collections/other", json={"vectors": {"size": 2, "distance": "Dot"}}
                 ).raise_for_status()
    key, token = database_key_create(cluster=cluster, name="data writer", by=owner, expires_at=None,
                                     rules=[{"collection": "data", "access": "rw"}])
    bearer = {"Authorization": f"Bearer {token}"}
    point = {"points": [{"id": 1, "vector": [1.0, 0.0]}]}
    with httpx.Client(timeout=10) as http:
        assert http.put(f"{theirs.url(1)}/collections/data/points?wait=true", json=point, headers=bearer
                        ).status_code == 200
        other = http.put(f"{theirs.url(1)}/collections/other/points?wait=true", json=point, headers=bearer)
        assert other.status_code == 403 and "Access to collection other is required" in other.text
        listed = http.get(f"{theirs.url(2)}/collections", headers=bearer).json()["result"]["collections"]
        assert [c["name"] for c in listed] == ["data"]  # not the console's marker collection
        assert http.delete(f"{theirs.url(0)}/collections/data", headers=bearer).status_code == 403


def test_a_reconcile_between_a_keys_marker_and_its_commit_keeps_the_marker(owner, trio, monkeypatch):
    """The interleaving made on purpose: a key's create has written its marker
    and not yet committed its row when the health check reconciles. The
    reconcile waits for the commit, so the key's first request is answered."""
    import threading

    from django.db import connection

    from apikeys.services import cluster_keys_reconcile
    from runtimes import connected

    theirs, cluster = trio
    marker_written, release = threading.Event(), threading.Event()
    put = connected.marker_put

    def put_then_hold(target, key_id):
        put(target, key_id)
        if threading.current_thread().name == "create":
            marker_written.set()
            assert release.wait(20)

    monkeypatch.setattr(connected, "marker_put", put_then_hold)
    created = {}

    def create():
        try:
            created["key"] = database_key_create(cluster=cluster, name="created meanwhile", rules=READ,
                                                 expires_at=None, by=owner)
        finally:
            connection.close()

    def reconcile():
        try:
            cluster_keys_reconcile(cluster=cluster)
        finally:
            connection.close()

    creating = threading.Thread(target=create, name="create")
    creating.start()
    assert marker_written.wait(20)
    reconciling = threading.Thread(target=reconcile, name="reconcile")
    reconciling.start()
    reconciling.join(1.0)
    waited = reconciling.is_alive()
    release.set()
    creating.join(20)
    reconciling.join(20)
    key, token = created["key"]
    with httpx.Client(timeout=10) as http:
        assert count_status(theirs, 0, token, http) == 200
    assert waited, "the reconcile did not wait for the key's transaction"
