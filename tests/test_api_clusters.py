"""ClusterService v1: list, get, enable-jwt and restart, in cluster.v1's shape."""

import socket

from django.utils import timezone

from clusters.models import Cluster, ClusterNode, NodeState, Operation, Phase
from tests.conftest import make_cluster
from tests.test_api_support import api_as, assert_error, assert_matches_spec, url

SPEC = "cluster.v1.swagger.json"


def test_get_maps_the_cluster_to_v1_cluster(viewer, account, cluster):
    restarted = timezone.now().replace(microsecond=0)
    Cluster.objects.filter(id=cluster.id).update(restarted_at=restarted)
    ClusterNode.objects.filter(cluster=cluster, index=2).update(state=NodeState.STARTING)

    response = api_as(viewer, account).get(url("cluster", account, cluster_id=cluster.id))

    assert response.status_code == 200
    body = response.json()
    assert_matches_spec(body, SPEC, "v1GetClusterResponse")
    got = body["cluster"]
    assert got["id"] == str(cluster.id) and got["accountId"] == str(account.id) and got["name"] == "prod-search"
    # It runs on this host, in no cloud region: Cloud's model for clusters outside its cloud.
    assert (got["cloudProviderId"], got["cloudProviderRegionId"]) == ("hybrid", socket.gethostname()[:32])
    assert got["configuration"] == {"numberOfNodes": 3, "version": "v1.19.0", "runtime": "embedded"}
    state = got["state"]
    assert state["phase"] == "CLUSTER_PHASE_HEALTHY" and state["jwtRbac"] is True
    assert state["nodesUp"] == 2 and state["version"] == "v1.19.0"
    assert state["restartedAt"] == restarted.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert state["endpoint"] == {"url": cluster.endpoint_url, "restPort": 6333, "grpcPort": 6334}
    assert [node["name"] for node in state["nodes"]] == ["node-0", "node-1", "node-2"]
    assert [node["state"] for node in state["nodes"]][-1] == "CLUSTER_NODE_STATE_STARTING"


def test_list_filters_and_pages(viewer, account, cluster, other_cluster):
    make_cluster(account, name="berlin")
    connected = make_cluster(account, name="elsewhere")
    Cluster.objects.filter(id=connected.id).update(region="qdrant.example.com")  # as a connected one says it
    client = api_as(viewer, account)

    everything = client.get(url("clusters", account)).json()
    assert_matches_spec(everything, SPEC, "v1ListClustersResponse")
    assert everything["totalSize"] == 3 and "nextPageToken" not in everything
    assert str(other_cluster.id) not in {item["id"] for item in everything["items"]}

    hybrid = client.get(url("clusters", account), {"cloudProviderId": "hybrid"}).json()
    assert hybrid["totalSize"] == 3
    assert client.get(url("clusters", account), {"cloudProviderId": "aws"}).json()["totalSize"] == 0
    elsewhere = client.get(url("clusters", account), {"cloud_provider_region_id": "qdrant.example.com"}).json()
    assert [item["name"] for item in elsewhere["items"]] == ["elsewhere"]

    seen, token = [], None
    while True:
        page = client.get(url("clusters", account), {"pageSize": 2} | ({"pageToken": token} if token else {})).json()
        assert_matches_spec(page, SPEC, "v1ListClustersResponse")
        seen += [item["id"] for item in page["items"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert sorted(seen) == sorted(item["id"] for item in everything["items"])


def test_enable_jwt_starts_the_consoles_restart_once(developer, account, legacy_cluster):
    client = api_as(developer, account)
    path = url("cluster-enable-jwt", account, cluster_id=legacy_cluster.id)

    first, second = client.post(path), client.post(path)

    assert first.status_code == second.status_code == 200
    assert_matches_spec(first.json(), SPEC, "v1EnableClusterJwtRbacResponse")
    operation = Operation.objects.get(cluster=legacy_cluster)
    assert operation.kind == Operation.Kind.ENABLE_JWT and operation.created_by == developer
    legacy_cluster.refresh_from_db()
    assert legacy_cluster.phase == Phase.UPDATING
    got = client.get(url("cluster", account, cluster_id=legacy_cluster.id)).json()["cluster"]
    assert got["state"]["phase"] == "CLUSTER_PHASE_UPDATING"


def test_enable_jwt_on_a_cluster_that_has_it_changes_nothing(owner, account, cluster):
    response = api_as(owner, account).post(url("cluster-enable-jwt", account, cluster_id=cluster.id))
    assert response.status_code == 200 and response.json() == {}
    assert not Operation.objects.exists()


def test_enable_jwt_during_a_restart_is_a_failed_precondition(owner, account, legacy_cluster):
    client = api_as(owner, account)
    assert client.post(url("cluster-restart", account, cluster_id=legacy_cluster.id)).status_code == 200
    response = client.post(url("cluster-enable-jwt", account, cluster_id=legacy_cluster.id))
    assert_error(response, 400, 9, "restarting")
    legacy_cluster.refresh_from_db()
    assert not legacy_cluster.jwt_rbac


def test_restart_starts_a_rolling_restart(admin, account, cluster):
    response = api_as(admin, account).post(url("cluster-restart", account, cluster_id=cluster.id))
    assert response.status_code == 200
    assert_matches_spec(response.json(), SPEC, "v1RestartClusterResponse")
    operation = Operation.objects.get(cluster=cluster)
    assert operation.kind == Operation.Kind.RESTART and operation.state == Operation.State.PENDING


def test_other_accounts_and_unknown_clusters_are_not_found(owner, account, other_cluster):
    client = api_as(owner, account)
    for name in ("cluster", "cluster-restart", "cluster-enable-jwt"):
        call = client.get if name == "cluster" else client.post
        assert_error(call(url(name, account, cluster_id=other_cluster.id)), 404, 5, "clusterId")
    assert_error(client.get(url("cluster", account, cluster_id="not-a-uuid")), 400, 3, "clusterId")
    assert not Operation.objects.exists()
