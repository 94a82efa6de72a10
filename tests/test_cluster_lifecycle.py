"""Restart and delete from the cluster page, create and delete through the API,
on embedded clusters (the same job machine runs them on real nodes:
tests/test_clusters_qdrant.py)."""

import socket

from django.urls import reverse

from apikeys.models import DatabaseApiKey
from apikeys.services import database_key_create
from audit.models import AuditEntry
from clusters.models import Cluster, Operation, Phase
from tests.fixtures.worker import wait_for
from tests.test_api_support import api_as, assert_error, assert_matches_spec, post_json, url

HOST = socket.gethostname()[:32]


def page(cluster, name: str = "detail") -> str:
    return reverse(f"clusters:{name}", kwargs={"account_id": cluster.account_id, "cluster_id": cluster.id})


def reader_key(cluster, owner) -> DatabaseApiKey:
    return database_key_create(
        cluster=cluster, name="reader", rules=[{"collection": None, "access": "r"}], expires_at=None, by=owner
    )[0]


def test_the_cluster_page_shows_its_runtime_and_version(client_of, owner, cluster):
    html = client_of(owner).get(page(cluster)).content.decode()
    assert "Embedded in the front (the data plane serves it)" in html
    assert 'data-version>v1.19.0<' in html


def test_the_restart_button_asks_first_then_restarts_node_by_node(client_of, owner, cluster,
                                                                 django_capture_on_commit_callbacks):
    client = client_of(owner)
    assert page(cluster, "restart") in client.get(page(cluster)).content.decode()
    confirm = client.get(page(cluster, "restart")).content.decode()
    assert "restart one at a time" in confirm and not Operation.objects.exists()

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(page(cluster, "restart"))

    assert response.status_code == 302
    operation = Operation.objects.get(cluster=cluster)
    assert operation.kind == Operation.Kind.RESTART
    assert Cluster.objects.get(id=cluster.id).phase == Phase.UPDATING


def test_a_viewer_sees_neither_restart_nor_delete_and_gets_403(client_of, viewer, cluster):
    client = client_of(viewer)
    html = client.get(page(cluster)).content.decode()
    assert page(cluster, "restart") not in html and page(cluster, "delete") not in html
    assert client.post(page(cluster, "restart")).status_code == 403
    assert client.post(page(cluster, "delete"), {"name": cluster.name}).status_code == 403


def test_a_developer_may_restart_but_not_delete(client_of, developer, cluster):
    client = client_of(developer)
    html = client.get(page(cluster)).content.decode()
    assert page(cluster, "restart") in html and page(cluster, "delete") not in html
    assert client.post(page(cluster, "delete"), {"name": cluster.name}).status_code == 403


def test_delete_asks_for_the_name_and_then_the_keys_stop_at_once(worker, client_of, owner, cluster):
    key = reader_key(cluster, owner)
    client = client_of(owner)

    refused = client.post(page(cluster, "delete"), {"name": cluster.name.upper()})
    assert refused.status_code == 200 and "not this cluster&#x27;s name" in refused.content.decode()
    assert DatabaseApiKey.objects.get(id=key.id).revoked_at is None

    response = client.post(page(cluster, "delete"), {"name": cluster.name})

    assert response.status_code == 302
    assert DatabaseApiKey.objects.get(id=key.id).revoked_at is not None
    wait_for(lambda: not Cluster.objects.filter(id=cluster.id).exists(), timeout=30)
    assert not DatabaseApiKey.objects.filter(id=key.id).exists()
    # The audit log names each key the delete revoked, and who deleted it.
    assert AuditEntry.objects.filter(action="database_key.deleted", target_id=str(key.id), actor=owner).exists()


def test_deleting_cancels_a_restart_that_runs(client_of, owner, cluster, django_capture_on_commit_callbacks):
    client = client_of(owner)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(page(cluster, "restart"))
        client.post(page(cluster, "delete"), {"name": cluster.name})
    kinds = dict(Operation.objects.filter(cluster=cluster).values_list("kind", "state"))
    assert kinds == {Operation.Kind.RESTART: Operation.State.FAILED, Operation.Kind.DELETE: Operation.State.PENDING}
    assert Cluster.objects.get(id=cluster.id).phase == Phase.DELETING


def create_body(**cluster) -> dict:
    return {"cluster": {"name": "from-api", "cloudProviderId": "hybrid", "cloudProviderRegionId": HOST,
                        "configuration": {"numberOfNodes": 1, "version": "v1.18.2"}} | cluster}


def test_create_cluster_through_the_api(worker, developer, account):
    response = post_json(api_as(developer, account), url("clusters", account), create_body())

    assert response.status_code == 200, response.content
    body = response.json()
    assert_matches_spec(body, "cluster.v1.swagger.json", "v1CreateClusterResponse")
    got = body["cluster"]
    assert (got["name"], got["configuration"]) == ("from-api", {"numberOfNodes": 1, "version": "v1.18.2",
                                                                "runtime": "embedded"})
    assert got["state"]["phase"] == "CLUSTER_PHASE_CREATING"
    assert (got["cloudProviderId"], got["cloudProviderRegionId"]) == ("hybrid", HOST)
    wait_for(lambda: Cluster.objects.get(id=got["id"]).phase == Phase.HEALTHY, timeout=30)


def test_create_refuses_a_taken_name_a_cloud_region_and_a_viewer(developer, viewer, account, cluster):
    client = api_as(developer, account)
    assert_error(post_json(client, url("clusters", account), create_body(name=cluster.name)), 409, 6, "cluster.name")
    # The nodes would run here, not in a cloud region: a client that asks for
    # one is told so rather than given a cluster that claims it.
    for wrong in ({"cloudProviderId": "aws", "cloudProviderRegionId": "eu-central-1"},
                  {"cloudProviderRegionId": "mars-1"}):
        field = next(iter(wrong))
        assert_error(post_json(client, url("clusters", account), create_body(**wrong)), 400, 3, field, "on its own host")
    assert not Cluster.objects.filter(name="from-api").exists()
    assert_error(post_json(client, url("clusters", account), create_body(configuration={"numberOfNodes": 0})),
                 400, 3, "numberOfNodes")
    assert_error(post_json(api_as(viewer, account), url("clusters", account), create_body()), 403, 7)
    assert Cluster.objects.count() == 1


def test_delete_cluster_through_the_api_needs_delete_clusters(worker, owner, developer, account, cluster):
    detail = url("cluster", account, cluster_id=cluster.id)
    assert_error(api_as(developer, account).delete(detail), 403, 7, "delete:clusters")

    response = api_as(owner, account).delete(detail)

    assert response.status_code == 200 and response.json() == {}
    wait_for(lambda: not Cluster.objects.filter(id=cluster.id).exists(), timeout=30)
    assert_error(api_as(owner, account).get(detail), 404, 5)


def test_restart_and_delete_refuse_a_post_without_the_csrf_token(owner, cluster):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    assert strict.post(page(cluster, "restart")).status_code == 403
    assert strict.post(page(cluster, "delete"), {"name": cluster.name}).status_code == 403
    assert not Operation.objects.filter(cluster=cluster).exists()
    form = strict.get(page(cluster, "restart")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in form and 'method="post"' in form
