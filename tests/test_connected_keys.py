"""Keys of a cluster reached directly are revoked by the cluster itself
(issue 21.4): each carries a `value_exists` condition on a marker point the
console keeps on that cluster, so a deleted, disabled or retired key is
refused by Qdrant on its next request, on every node, with no front between."""

import os
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from django.core.exceptions import ValidationError
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import UnexpectedResponse
from qdrant_client.models import PointStruct

from apikeys.services import database_key_create, database_key_delete, key_disable, key_enable, key_roll
from clusters.models import Cluster
from tests.fixtures.elsewhere import FRONT_SETUP, HOST, Elsewhere
from tests.fixtures.qdrant import requires_qdrant
from tests.fixtures.worker import wait_for
from tests.test_api_support import api_as, post_json

pytestmark = [requires_qdrant, pytest.mark.django_db(transaction=True)]

READ = [{"collection": None, "access": "r"}]
DIRECT = ["one node", "three nodes", "tls"]
SETUPS = [*DIRECT, "through the front"]
# Rounds of the delete trial (a key on each node per round): 100 in `BENCH_ONLY=connected make bench`.
DELETE_ROUNDS = int(os.environ.get("CONNECTED_DELETE_ROUNDS", "5"))


def connect(owner, account, theirs, access: str = "ACCESS_DIRECT") -> Cluster:
    body = {"name": "theirs", "url": theirs.url(0), "apiKey": theirs.master_key, "access": access,
            "grpcPort": theirs.nodes[0].grpc}
    if theirs.tls:
        body["caCertificate"] = theirs.tls.ca_pem
    response = post_json(api_as(owner, account), f"/api/cluster/v1/accounts/{account.id}/clusters:connect", body)
    assert response.status_code == 200, response.content
    return Cluster.objects.get(id=response.json()["cluster"]["id"])


def prepare(theirs) -> None:
    """The collections the tests use, replicated to every node (once per cluster started)."""
    with httpx.Client(headers={"api-key": theirs.master_key}, verify=theirs.verify()) as http:
        for name in ("data", "other"):
            if http.get(f"{theirs.url(0)}/collections/{name}/exists").json()["result"]["exists"]:
                continue
            http.put(f"{theirs.url(0)}/collections/{name}", json={
                "vectors": {"size": 2, "distance": "Dot"}, "replication_factor": theirs.size}).raise_for_status()


@dataclass
class Setup:
    """A connected cluster as its clients see it: its own nodes, or the front."""

    name: str
    theirs: Elsewhere
    cluster: Cluster
    front: object | None = None  # the data plane process, through the front

    def url(self, turn: int = 0) -> str:
        return self.front.url if self.front else self.theirs.url(turn % self.theirs.size)

    def http(self) -> httpx.Client:
        # A connection per request: Qdrant closes an idle TLS connection while a
        # key change is written, and httpx does not retry a POST on a reused one.
        return httpx.Client(timeout=10, verify=True if self.front else self.theirs.verify(),
                            limits=httpx.Limits(max_keepalive_connections=0))

    def client(self, token: str, *, grpc: bool, turn: int = 0) -> QdrantClient:
        """The official client, over REST or gRPC, as a user of this set-up makes it."""
        if self.front:
            return QdrantClient(host="127.0.0.1", port=self.front.port, grpc_port=self.front.grpc_port,
                                prefer_grpc=grpc, https=False, api_key=token, check_compatibility=False, timeout=10)
        node = self.theirs.nodes[turn % self.theirs.size]
        tls = self.theirs.tls
        return QdrantClient(url=f"{self.theirs.scheme}://{HOST}", port=node.http, grpc_port=node.grpc,
                            prefer_grpc=grpc, https=bool(tls), api_key=token, check_compatibility=False, timeout=10,
                            verify=self.theirs.verify(), grpc_options={"root_certificates": tls.ca_pem.encode()}
                            if tls else None)

    def wait_accepted(self, token: str) -> None:
        if self.front:
            self.front.wait_until_accepted(token)


@pytest.fixture(params=SETUPS)
def setup(request, owner, account, elsewhere_shared) -> Setup:
    name = request.param
    theirs = elsewhere_shared(FRONT_SETUP if name == "through the front" else name)
    prepare(theirs)
    if name == "through the front":
        front = request.getfixturevalue("dataplane")
        request.getfixturevalue("front_credential").ensure()  # as tests naming `dataplane` get it
        return Setup(name, theirs, connect(owner, account, theirs, "ACCESS_THROUGH_FRONT"), front)
    return Setup(name, theirs, connect(owner, account, theirs))


@pytest.fixture
def trio(owner, account, elsewhere_shared):
    theirs = elsewhere_shared("three nodes")
    prepare(theirs)
    return theirs, connect(owner, account, theirs)


def count_status(theirs, node: int, token: str, http: httpx.Client) -> int:
    """POST …/points/count on one node with the key, as a client reaching it directly would."""
    return http.post(f"{theirs.url(node)}/collections/data/points/count", json={"exact": True},
                     headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_deleted_key_is_refused_by_every_node_on_its_next_request(owner, trio):
    theirs, cluster = trio
    wrong = []
    with httpx.Client(timeout=10) as http:
        for round_ in range(DELETE_ROUNDS):
            for node in range(3):
                key, token = database_key_create(cluster=cluster, name=f"round {round_} {node}", rules=READ,
                                                 expires_at=None, by=owner)
                before = count_status(theirs, node, token, http)
                database_key_delete(key=key, by=owner)
                after = count_status(theirs, node, token, http)
                if (before, after) != (200, 401):
                    wrong.append((round_, node, before, after))
    assert wrong == []


# Each key kind the console mints on a connected cluster, and what Qdrant's
# table of access lets it do (spec/qdrant-auth.md): (REST method, path, body) -> allowed.
KINDS = {
    "manage": [{"collection": None, "access": "m"}],
    "read-only": READ,
    "collection read": [{"collection": "data", "access": "r"}],
    "collection read/write": [{"collection": "data", "access": "rw"}],
}
POINT = {"points": [{"id": 1, "vector": [1.0, 0.0]}]}
ACTIONS = {
    "count data": ("POST", "/collections/data/points/count", {"exact": True}),
    "write data": ("PUT", "/collections/data/points?wait=true", POINT),
    "count other": ("POST", "/collections/other/points/count", {"exact": True}),
    "write other": ("PUT", "/collections/other/points?wait=true", POINT),
    "change data's settings": ("PATCH", "/collections/data", {"optimizers_config": {"indexing_threshold": 20000}}),
}
ALLOWED = {
    "manage": set(ACTIONS),
    "read-only": {"count data", "count other"},
    "collection read": {"count data"},
    "collection read/write": {"count data", "write data"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_key_kind_has_qdrants_rights_over_rest_and_grpc_then_dies_on_delete(owner, setup, kind):
    key, token = database_key_create(cluster=setup.cluster, name=f"{kind.replace('/', ' ')} key", rules=KINDS[kind],
                                     expires_at=None, by=owner)
    setup.wait_accepted(token)
    got = {}
    with setup.http() as http:
        for turn, (action, (method, path, body)) in enumerate(ACTIONS.items()):
            got[action] = http.request(method, setup.url(turn) + path, json=body,
                                       headers={"api-key": token}).status_code
    assert {a for a, status in got.items() if status == 200} == ALLOWED[kind], got
    assert {status for a, status in got.items() if a not in ALLOWED[kind]} <= {403}, got
    rest, grpc = setup.client(token, grpc=False, turn=1), setup.client(token, grpc=True, turn=2)
    assert rest.count("data").count >= 0 and grpc.count("data").count >= 0
    listed = sorted(c.name for c in grpc.get_collections().collections)
    if kind.startswith("collection"):
        assert listed == ["data"]  # not the others, nor the console's marker collection
    else:
        assert {"data", "other"} <= set(listed)
    if "write data" not in ALLOWED[kind]:
        with pytest.raises(Exception, match="PERMISSION_DENIED"):
            grpc.upsert("data", points=[PointStruct(id=2, vector=[0.0, 1.0])])
    database_key_delete(key=key, by=owner)
    with pytest.raises(UnexpectedResponse) as refused:
        rest.count("data")
    assert refused.value.status_code == 401
    with pytest.raises(Exception, match="UNAUTHENTICATED"):
        grpc.count("data")


def test_disable_enable_and_a_roll_now(owner, setup):
    key, token = database_key_create(cluster=setup.cluster, name="lifecycle", rules=READ, expires_at=None, by=owner)
    setup.wait_accepted(token)
    with setup.http() as http:
        def status(secret: str, turn: int) -> int:
            return http.post(f"{setup.url(turn)}/collections/data/points/count", json={"exact": True},
                             headers={"Authorization": f"Bearer {secret}"}).status_code

        key_disable(key=key, by=owner)
        assert status(token, 0) in (401, 403)
        key_enable(key=key, by=owner)
        assert status(token, 1) == 200
        successor, new_token = key_roll(key=key, grace=timedelta(0), by=owner)
        assert status(token, 2) == 401
        assert status(new_token, 0) == 200


def test_no_key_is_minted_where_jwt_rbac_is_off(owner, account, elsewhere_shared):
    """Without jwt_rbac the cluster accepts no JWT: neither kind of key can be
    made for it (admin keys belong to clusters made before granular keys)."""
    from apikeys.policy import admin_key_refusal, database_key_refusal

    theirs = elsewhere_shared("jwt_rbac off")
    cluster = connect(owner, account, theirs)
    assert not cluster.jwt_rbac
    assert "granular" in database_key_refusal(cluster).lower()
    assert "27 January 2025" in admin_key_refusal(cluster)
    with pytest.raises(ValidationError):
        database_key_create(cluster=cluster, name="refused", rules=READ, expires_at=None, by=owner)


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


def test_a_cluster_that_does_not_take_the_delete_keeps_the_key(owner, account, elsewhere):
    theirs = elsewhere()  # its own: it is stopped
    cluster = connect(owner, account, theirs)
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
