"""Connecting a Qdrant the team already runs (issue 21), against real Qdrant
processes the test starts "elsewhere" on 127.0.0.2 (tests/fixtures/elsewhere.py)."""

import time

import httpx
import pytest

from clusters.connected import health_check
from clusters.models import Cluster, Phase
from tests.fixtures.qdrant import requires_qdrant
from tests.test_api_support import api_as, post_json, url

pytestmark = [requires_qdrant, pytest.mark.django_db(transaction=True)]


def connect_url(account) -> str:
    return f"/api/cluster/v1/accounts/{account.id}/clusters:connect"


def connect(owner, account, **body):
    body = {"name": "theirs", "access": "ACCESS_DIRECT"} | body
    return post_json(api_as(owner, account), connect_url(account), body)


def test_a_cluster_is_checked_and_connected_through_the_api(owner, account, elsewhere):
    theirs = elsewhere()
    response = connect(owner, account, url=theirs.url(), apiKey=theirs.master_key, access="ACCESS_THROUGH_FRONT")
    assert response.status_code == 200, response.content
    got = response.json()["cluster"]
    assert (got["cloudProviderId"], got["cloudProviderRegionId"]) == ("hybrid", "127.0.0.2")
    assert got["configuration"] == {"numberOfNodes": 1, "version": "v1.16.3", "runtime": "connected",
                                    "connectedUrl": theirs.url(), "access": "ACCESS_THROUGH_FRONT"}
    assert got["state"]["phase"] == "CLUSTER_PHASE_HEALTHY" and got["state"]["jwtRbac"] is True
    assert got["state"]["version"] == "v1.16.3"
    cluster = Cluster.objects.get(id=got["id"])
    assert theirs.master_key not in cluster.master_key_encrypted and cluster.master_key == theirs.master_key


@pytest.mark.parametrize("problem, field, says", [
    ("key", "apiKey", "refused this master key"),
    ("unreachable", "url", "Could not connect"),
    ("not a url", "url", "http(s)://host:port"),
])
def test_a_failed_check_names_the_field_and_saves_nothing(owner, account, elsewhere, problem, field, says):
    theirs = elsewhere()
    body = {"url": theirs.url(), "apiKey": theirs.master_key}
    if problem == "key":
        body["apiKey"] = "not-" + theirs.master_key
    elif problem == "unreachable":
        theirs.stop()
    else:
        body["url"] = "qdrant.example.com"
    response = connect(owner, account, **body)
    assert response.status_code == 400
    message = response.json()["message"]
    assert field in message and says in message, message
    assert theirs.master_key not in message
    assert not Cluster.objects.exists()


def test_tls_needs_the_right_ca(owner, account, elsewhere, tmp_path):
    from tests.fixtures.elsewhere import make_tls

    theirs = elsewhere(tls=True)
    other_ca = make_tls(tmp_path / "other").ca_pem
    for ca in ("", other_ca):
        response = connect(owner, account, url=theirs.url(), apiKey=theirs.master_key, caCertificate=ca)
        assert response.status_code == 400 and "caCertificate" in response.json()["message"]
        assert "not trusted" in response.json()["message"]
    assert not Cluster.objects.exists()
    response = connect(owner, account, url=theirs.url(), apiKey=theirs.master_key, caCertificate=theirs.tls.ca_pem)
    assert response.status_code == 200, response.content
    assert Cluster.objects.get().ca_certificate.startswith("-----BEGIN CERTIFICATE-----")


def test_jwt_rbac_off_is_found(owner, account, elsewhere):
    theirs = elsewhere(jwt_rbac=False)
    response = connect(owner, account, url=theirs.url(), apiKey=theirs.master_key)
    assert response.status_code == 200 and response.json()["cluster"]["state"]["jwtRbac"] is False


def test_the_console_form_shows_the_message_next_to_the_field(owner, account, elsewhere, client_of):
    theirs = elsewhere()
    page = client_of(owner).post(f"/accounts/{account.id}/clusters/connect/", {
        "name": "theirs", "url": theirs.url(), "api_key": "wrong-" + theirs.master_key,
        "access": "ACCESS_DIRECT"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="id_api_key-error">The cluster refused this master key' in html
    assert not Cluster.objects.exists()
    page = client_of(owner).post(f"/accounts/{account.id}/clusters/connect/", {
        "name": "theirs", "url": theirs.url(), "api_key": theirs.master_key, "access": "ACCESS_DIRECT"})
    cluster = Cluster.objects.get()
    assert page.status_code == 302 and page["Location"].endswith(f"/clusters/{cluster.id}/")
    detail = client_of(owner).get(page["Location"]).content.decode()
    assert f"at {theirs.url()}; clients reach it directly" in detail and theirs.master_key not in detail
    # Its snippets name the cluster's own URL and ports, not the front's.
    from apikeys.snippets import snippets_for

    python = next(s.code for s in snippets_for(cluster, "KEY") if s.id == "python")
    assert f'url="http://127.0.0.2",\n    port={theirs.nodes[0].http},' in python, python


def test_health_names_the_node_down_then_unreachable(owner, account, elsewhere):
    theirs = elsewhere(size=3)
    response = connect(owner, account, url=theirs.url(0), apiKey=theirs.master_key)
    assert response.status_code == 200, response.content
    cluster = Cluster.objects.get()
    assert cluster.number_of_nodes == 3
    theirs.kill(2)
    health_check(cluster)
    cluster.refresh_from_db()
    # The console numbers peers in its own order; the node is named with its p2p address.
    assert cluster.phase == Phase.NOT_READY and f"127.0.0.2:{theirs.nodes[2].p2p}/" in cluster.reason
    assert all(f":{theirs.nodes[i].p2p}/" not in cluster.reason for i in (0, 1))
    assert cluster.checked_at is not None
    theirs.stop()
    health_check(cluster)
    cluster.refresh_from_db()
    assert cluster.phase == Phase.UNREACHABLE and "Could not connect" in cluster.reason


def test_disconnecting_touches_nothing_on_the_cluster(owner, account, elsewhere):
    theirs = elsewhere()
    cluster_id = connect(owner, account, url=theirs.url(), apiKey=theirs.master_key).json()["cluster"]["id"]
    with httpx.Client(base_url=theirs.url(), headers={"api-key": theirs.master_key}) as http:
        http.put("/collections/data", json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
        response = api_as(owner, account).delete(f"/api/cluster/v1/accounts/{account.id}/clusters/{cluster_id}")
        assert response.status_code == 200
        assert http.get("/collections/data").status_code == 200


def test_through_the_front_a_key_reaches_the_cluster_and_dies_at_the_front(owner, account, elsewhere, dataplane):
    from apikeys.services import database_key_create, database_key_delete
    from tests.fixtures.dataplane import http_get

    theirs = elsewhere()
    with httpx.Client(headers={"api-key": theirs.master_key}) as http:
        http.put(f"{theirs.url()}/collections/theirs-data", json={"vectors": {"size": 2, "distance": "Dot"}})
    response = connect(owner, account, url=theirs.url(), apiKey=theirs.master_key, access="ACCESS_THROUGH_FRONT")
    cluster = Cluster.objects.get(id=response.json()["cluster"]["id"])
    key, token = database_key_create(cluster=cluster, name="via front", rules=[{"collection": None, "access": "r"}],
                                     expires_at=None, by=owner)
    status, body = http_get(dataplane.url + "/collections", {"api-key": token})
    assert status == 200 and b"theirs-data" in body
    database_key_delete(key=key, by=owner)
    assert dataplane.wait_until_refused(token)[1] == 401


def test_through_the_front_over_tls_on_a_private_ca_rest_and_grpc(owner, account, elsewhere, dataplane):
    """The front forwards REST and gRPC to a cluster on TLS whose CA the console
    was given (it reaches the front in the key set), and verifies it."""
    from qdrant_client import QdrantClient
    from qdrant_client.http.exceptions import UnexpectedResponse
    from qdrant_client.models import PointStruct

    theirs = elsewhere(tls=True)
    with httpx.Client(headers={"api-key": theirs.master_key}, verify=theirs.verify()) as http:
        http.put(f"{theirs.url()}/collections/theirs-data", json={"vectors": {"size": 2, "distance": "Dot"}}
                 ).raise_for_status()
    response = connect(owner, account, url=theirs.url(), apiKey=theirs.master_key, caCertificate=theirs.tls.ca_pem,
                       grpcPort=theirs.nodes[0].grpc, access="ACCESS_THROUGH_FRONT")
    assert response.status_code == 200, response.content
    api = api_as(owner, account)
    created = post_json(api, url("database-api-keys", account), {"databaseApiKey": {
        "clusterId": response.json()["cluster"]["id"], "name": "via front over tls"}})
    assert created.status_code == 200, created.content
    key_id, token = created.json()["databaseApiKey"]["id"], created.json()["databaseApiKey"]["key"]
    dataplane.wait_until_accepted(token)

    rest = QdrantClient(url=dataplane.url, api_key=token, check_compatibility=False, timeout=10)
    grpc = QdrantClient(host="127.0.0.1", port=dataplane.port, grpc_port=dataplane.grpc_port, prefer_grpc=True,
                        api_key=token, https=False, check_compatibility=False, timeout=10)
    # A manage key: its writes reach the cluster on TLS, over either protocol.
    rest.upsert("theirs-data", points=[PointStruct(id=1, vector=[1.0, 0.0])], wait=True)
    grpc.upsert("theirs-data", points=[PointStruct(id=2, vector=[0.0, 1.0])], wait=True)
    assert rest.count("theirs-data").count == 2 and grpc.count("theirs-data").count == 2
    assert "theirs-data" in [c.name for c in grpc.get_collections().collections]
    with httpx.Client(verify=theirs.verify()) as http:  # the cluster itself holds what the front sent
        count = http.post(f"{theirs.url()}/collections/theirs-data/points/count", json={"exact": True},
                          headers={"api-key": theirs.master_key})
        assert count.json()["result"]["count"] == 2

    deleted = api.delete(url("database-api-key", account, database_api_key_id=key_id))
    assert deleted.status_code == 200, deleted.content
    with pytest.raises(UnexpectedResponse) as refused:
        rest.count("theirs-data")
    assert refused.value.status_code == 401
    with pytest.raises(Exception, match="UNAUTHENTICATED"):
        grpc.count("theirs-data")


def test_through_the_front_a_cluster_whose_certificate_the_ca_does_not_sign_is_not_reached(
        owner, account, elsewhere, dataplane, tmp_path):
    """The CA is what the front verifies against: the same cluster with another
    CA recorded (as if its certificate changed) is refused by the front's TLS."""
    from clusters.models import Cluster
    from fronts.changelog import keys_changed
    from tests.fixtures.dataplane import http_get, mint
    from tests.fixtures.elsewhere import make_tls

    theirs = elsewhere(tls=True)
    response = connect(owner, account, url=theirs.url(), apiKey=theirs.master_key, caCertificate=theirs.tls.ca_pem,
                       grpcPort=theirs.nodes[0].grpc, access="ACCESS_THROUGH_FRONT")
    cluster = Cluster.objects.get(id=response.json()["cluster"]["id"])
    key, token = mint(cluster, [{"collection": None, "access": "r"}], by=owner)
    dataplane.wait_until_accepted(token)
    assert http_get(dataplane.url + "/collections", {"api-key": token})[0] == 200
    Cluster.objects.filter(id=cluster.id).update(ca_certificate=make_tls(tmp_path / "other").ca_pem)
    keys_changed(cluster=cluster)
    deadline = time.monotonic() + 10
    while http_get(dataplane.url + "/collections", {"api-key": token})[0] != 503:
        assert time.monotonic() < deadline, "the front still reached a cluster its CA does not sign"
        time.sleep(0.1)


def test_granular_access_is_turned_on_where_it_runs_then_checked(owner, account, elsewhere, client_of):
    theirs = elsewhere(jwt_rbac=False)
    cluster_id = connect(owner, account, url=theirs.url(), apiKey=theirs.master_key).json()["cluster"]["id"]
    browser = client_of(owner)
    page = browser.get(f"/accounts/{account.id}/clusters/{cluster_id}/enable-granular-access/").content.decode()
    assert "QDRANT__SERVICE__JWT_RBAC=true" in page and "service.jwt_rbac: true" in page
    check = browser.post(f"/accounts/{account.id}/clusters/{cluster_id}/enable-granular-access/", follow=True)
    assert "still refuses a JWT" in check.content.decode()
    assert not Cluster.objects.get(id=cluster_id).jwt_rbac
    theirs.restart(jwt_rbac=True)
    check = browser.post(f"/accounts/{account.id}/clusters/{cluster_id}/enable-granular-access/", follow=True)
    assert "accepts granular keys" in check.content.decode()
    assert Cluster.objects.get(id=cluster_id).jwt_rbac
    # The console cannot restart it, and says so.
    restart = browser.post(f"/accounts/{account.id}/clusters/{cluster_id}/restart/", follow=True).content.decode()
    assert "restart them where they run" in restart


def test_a_changed_master_key_is_checked_and_the_old_keys_are_named(owner, account, elsewhere, client_of):
    import secrets

    from apikeys.services import database_key_create

    theirs = elsewhere()
    cluster = Cluster.objects.get(id=connect(owner, account, url=theirs.url(),
                                             apiKey=theirs.master_key).json()["cluster"]["id"])
    key, token = database_key_create(cluster=cluster, name="signed before", rules=[{"collection": None, "access": "r"}],
                                     expires_at=None, by=owner)
    old = theirs.master_key
    theirs.restart(master_key=secrets.token_urlsafe(32))
    browser = client_of(owner)
    page = browser.post(f"/accounts/{account.id}/clusters/{cluster.id}/master-key/", {"api_key": old})
    assert 'id="id_api_key-error">The cluster refused this master key' in page.content.decode()
    assert Cluster.objects.get(id=cluster.id).master_key == old
    page = browser.post(f"/accounts/{account.id}/clusters/{cluster.id}/master-key/", {"api_key": theirs.master_key},
                        follow=True)
    assert f"signed with the old one and no longer work: signed before (…{key.postfix})" in page.content.decode()
    assert Cluster.objects.get(id=cluster.id).master_key == theirs.master_key
    with httpx.Client() as http:
        assert http.get(f"{theirs.url()}/collections", headers={"Authorization": f"Bearer {token}"}).status_code == 403
