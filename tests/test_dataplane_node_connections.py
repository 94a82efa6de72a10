"""The front closes what it holds open to a node (idle pooled REST
connections, its gRPC channel) once the node leaves its cluster's ready list
or the cluster is deleted: seen by the node, as TCP connections to its ports
that close, and in the front's stats over the control socket."""

import grpc
import httpx
import pytest

from clusters.models import Cluster, ClusterNode, NodeState
from fronts.changelog import keys_changed
from runtimes.base import wait_until
from tests.fixtures.dataplane import MANAGE, mint
from tests.fixtures.qdrant import requires_qdrant
from tests.test_dataplane_front import front_cluster

pytestmark = requires_qdrant

ESTABLISHED = "01"


def connections_to(port: int) -> int:
    """Established TCP connections whose far end is `port` (the front's
    sockets to the node; the node's own ends have it as local port). gRPC
    opens IPv4-mapped IPv6 sockets: both tables are read."""
    count = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[3] == ESTABLISHED and int(fields[2].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


@pytest.fixture
def through_front(cluster, qdrant, qdrant_node, dataplane, owner):
    """A cluster on one real node, used once through the front on REST and on gRPC."""
    cluster = front_cluster(cluster, [qdrant_node], qdrant)
    wait_until(lambda: holds_nothing(dataplane), timeout=5, what="the nodes of earlier tests to be let go")
    _, token = mint(cluster, MANAGE, by=owner)
    assert httpx.get(dataplane.url + "/collections", headers={"api-key": token}).status_code == 200
    with grpc.insecure_channel(dataplane.grpc_target) as channel:
        channel.unary_unary("/qdrant.Collections/List")(b"", metadata=(("api-key", token),), timeout=10)
    ports = qdrant.address(qdrant_node).ports
    node_url, target = f"http://127.0.0.1:{ports.http}", f"127.0.0.1:{ports.grpc}"
    (stats,) = dataplane.stats()
    assert stats["nodes"] == {"http_idle": {node_url: 1}, "grpc_channels": [target]}
    assert connections_to(ports.http) == 1 and connections_to(ports.grpc) >= 1
    return cluster, ports


def holds_nothing(dataplane) -> bool:
    (stats,) = dataplane.stats()
    return stats["nodes"] == {"http_idle": {}, "grpc_channels": []}


def test_a_node_that_leaves_the_ready_list_is_let_go(through_front, dataplane):
    cluster, ports = through_front

    ClusterNode.objects.filter(cluster=cluster).update(state=NodeState.UNHEALTHY)  # as the supervisor reports it

    wait_until(lambda: holds_nothing(dataplane), timeout=5, what="the front to drop the node")
    wait_until(lambda: connections_to(ports.http) == 0 and connections_to(ports.grpc) == 0, timeout=5,
               what="the node to see the front's connections close")


def test_the_nodes_of_a_deleted_cluster_are_let_go(through_front, dataplane):
    cluster, ports = through_front

    Cluster.objects.filter(id=cluster.id).delete()
    keys_changed()

    wait_until(lambda: holds_nothing(dataplane), timeout=5, what="the front to drop the cluster's node")
    wait_until(lambda: connections_to(ports.http) == 0 and connections_to(ports.grpc) == 0, timeout=5,
               what="the node to see the front's connections close")
