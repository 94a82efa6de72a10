"""The `embedded` runtime: the data plane's own engine, nothing to start."""

from runtimes.base import ClusterSpec, Node, start_cluster
from runtimes.embedded import EmbeddedRuntime


def test_every_node_is_the_data_plane_and_always_healthy():
    runtime = EmbeddedRuntime(host="127.0.0.1", http_port=6333, grpc_port=6334, version="1.19.0")
    cluster = ClusterSpec(id="c", size=3, master_key="k")

    addresses = start_cluster(runtime, cluster)

    assert {a.http_url for a in addresses} == {"http://127.0.0.1:6333"}
    assert all(runtime.health(Node(cluster, i)).healthy for i in range(3))
    assert runtime.settled(cluster)
    assert runtime.version(Node(cluster, 0)) == "1.19.0"
