"""The key form's collection list for a cluster on real Qdrant nodes: what a
ready node lists, read with the master key; a note, and typed names still
taken, when no node can list them."""

import os
import signal

import httpx

from apikeys.models import DatabaseApiKey
from clusters.models import ClusterNode, Runtime
from runtimes.base import ClusterSpec, Node, start_cluster
from tests.conftest import make_cluster
from tests.fixtures.apikeys import collections_data, create_url
from tests.fixtures.qdrant import requires_qdrant

pytestmark = requires_qdrant


def real_cluster(account, qdrant, settings):
    """A `qdrant` cluster of one node that really runs, its ports recorded as the supervisor records them."""
    settings.NODES_DIR = qdrant.root
    cluster = make_cluster(account, "real-books", runtime=Runtime.QDRANT, number_of_nodes=1)
    spec = ClusterSpec(id=str(cluster.id), size=1, master_key=cluster.master_key, jwt_rbac=True)
    (address,) = start_cluster(qdrant, spec)
    ClusterNode.objects.filter(cluster=cluster).update(http_port=address.ports.http, grpc_port=address.ports.grpc)
    for name in ("films", "books"):
        httpx.put(f"{address.http_url}/collections/{name}", json={"vectors": {"size": 2, "distance": "Dot"}},
                  headers={"api-key": cluster.master_key}).raise_for_status()
    return cluster, Node(spec, 0)


def test_the_form_offers_the_collections_a_ready_node_lists(qdrant, settings, account, owner, client_of):
    cluster, _ = real_cluster(account, qdrant, settings)

    html = client_of(owner).get(create_url(cluster)).content.decode()

    assert 'name="collections_name" value="books"' in html and 'name="collections_name" value="films"' in html
    assert html.index('value="books"') < html.index('value="films"')
    assert "could not be read" not in html and "No collections of this cluster" not in html


def test_a_node_that_cannot_answer_leaves_a_note_and_typed_names_still_work(qdrant, settings, account, owner,
                                                                               client_of):
    cluster, node = real_cluster(account, qdrant, settings)
    os.kill(qdrant.pid(node), signal.SIGKILL)  # its row still says HEALTHY: no supervisor here to notice
    client = client_of(owner)

    html = client.get(create_url(cluster)).content.decode()

    assert "The collections of this cluster could not be read just now (node-0 could not be reached)" in html
    assert 'value="books"' not in html
    assert 'placeholder="New collection name"' in html
    response = client.post(create_url(cluster), collections_data(("books", "r")))
    assert response.status_code == 200, response.content
    assert DatabaseApiKey.objects.get(cluster=cluster).rules == [{"collection": "books", "access": "r"}]


def test_a_cluster_with_no_ready_node_says_so(qdrant, settings, account, owner, client_of):
    cluster, _ = real_cluster(account, qdrant, settings)
    ClusterNode.objects.filter(cluster=cluster).update(state="UNHEALTHY")

    html = client_of(owner).get(create_url(cluster)).content.decode()

    assert "could not be read just now (no node of the cluster is ready)" in html
