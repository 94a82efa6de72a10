import socket
from html import unescape

import pytest
from django.urls import reverse

from clusters.models import Cluster, Operation, Phase
from tests.fixtures.worker import wait_for


def create_url(account):
    return reverse("clusters:create", kwargs={"account_id": account.id})


def valid_form(**overrides):
    return {
        "name": "vectors-eu",
        "version": "v1.19.0",
        "number_of_nodes": "2",
    } | overrides


def test_it_lists_the_accounts_clusters_only(client_of, owner, cluster, other_cluster):
    page = client_of(owner).get(reverse("clusters:list", kwargs={"account_id": cluster.account_id}))
    assert page.status_code == 200
    assert cluster.name in page.content.decode()
    assert other_cluster.name not in page.content.decode()


def test_detail_shows_status_version_nodes_endpoint_region(client_of, owner, cluster):
    page = client_of(owner).get(
        reverse("clusters:detail", kwargs={"account_id": cluster.account_id, "cluster_id": cluster.id})
    )
    html = page.content.decode()
    assert "Healthy" in html and "v1.19.0" in html and "3</span> / 3" in html
    assert f"{cluster.endpoint_url}:6333" in html
    html = unescape(html)
    # Where it really runs: this host, not a cloud region it was never in.
    host = socket.gethostname()[:32]
    assert f"Hybrid · {host}" in html and f"on this console's host, {host}" in html
    assert "AWS" not in html and "Frankfurt" not in html
    assert "API Keys" in html


def test_the_master_key_never_reaches_the_page(client_of, owner, cluster):
    client = client_of(owner)
    kwargs = {"account_id": cluster.account_id, "cluster_id": cluster.id}
    for url in (reverse("clusters:detail", kwargs=kwargs), reverse("clusters:status", kwargs=kwargs)):
        assert cluster.master_key not in client.get(url).content.decode()


def test_master_key_is_encrypted_at_rest_and_long(cluster):
    stored = Cluster.objects.values_list("master_key_encrypted", flat=True).get(id=cluster.id)
    assert cluster.master_key not in stored
    assert len(cluster.master_key.encode()) >= 43  # 32 random bytes, URL-safe base64


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("name", "", "This field is required."),
        ("name", "x" * 65, "at most 64 characters"),
        ("name", "has space", "digits, underscores (_) and dashes (-); no spaces"),
        ("version", "v0.0.1", "Select a valid choice"),
        ("number_of_nodes", "0", "greater than or equal to 1"),
        ("number_of_nodes", "21", "less than or equal to 20"),
        ("number_of_nodes", "many", "Enter a whole number"),
    ],
)
def test_bad_input_is_explained_next_to_the_field_and_stores_nothing(client_of, owner, account, field, value, message):
    response = client_of(owner).post(create_url(account), valid_form(**{field: value}))
    assert response.status_code == 200
    assert message in response.context["form"].errors[field][0]
    assert f'id="id_{field}-error"' in response.content.decode()
    assert not Cluster.objects.exists()


def test_a_duplicate_name_is_refused(client_of, owner, cluster):
    response = client_of(owner).post(create_url(cluster.account), valid_form(name=cluster.name))
    assert "already exists" in response.context["form"].errors["name"][0]
    assert Cluster.objects.count() == 1


def test_the_same_name_is_fine_in_another_account(client_of, outsider, cluster, other_account):
    client_of(outsider).post(create_url(other_account), valid_form(name=cluster.name))
    assert Cluster.objects.filter(account=other_account, name=cluster.name).exists()


def test_new_clusters_have_granular_keys_and_a_master_key(client_of, owner, account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_of(owner).post(create_url(account), valid_form())
    cluster = Cluster.objects.get(name="vectors-eu")
    assert response.url == reverse("clusters:detail", kwargs={"account_id": account.id, "cluster_id": cluster.id})
    assert cluster.phase == Phase.CREATING and cluster.jwt_rbac and cluster.nodes.count() == 2
    # Provisioning is an operation, dispatched only once the rows are committed.
    operation = Operation.objects.get(cluster=cluster)
    assert operation.kind == Operation.Kind.PROVISION and operation.state == Operation.State.PENDING
    assert [c for c in callbacks if c.__qualname__.startswith("operation_start")]


@pytest.mark.worker
def test_a_worker_process_provisions_the_cluster_to_healthy(client_of, owner, account, worker):
    client_of(owner).post(create_url(account), valid_form(number_of_nodes="3"))
    cluster = Cluster.objects.get(name="vectors-eu")
    wait_for(lambda: Cluster.objects.get(id=cluster.id).phase == Phase.HEALTHY)
    assert set(cluster.nodes.values_list("state", flat=True)) == {"HEALTHY"}
