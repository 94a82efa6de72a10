"""The `embedded` runtime: the data plane's own engine (qdrant-edge) serves
every node of the cluster from inside the data plane process, so there is
nothing to start or stop, and the address of every node is the data plane's."""

from __future__ import annotations

from runtimes.base import Node, NodeAddress, NodeHealth, NodePorts, Runtime


class EmbeddedRuntime(Runtime):
    name = "embedded"

    def __init__(self, *, host: str, http_port: int, grpc_port: int, version: str) -> None:
        self._address = NodeAddress(host=host, ports=NodePorts(http=http_port, grpc=grpc_port))
        self._version = version

    def start(self, node: Node) -> NodeAddress:
        return self._address

    def stop(self, node: Node) -> None:
        pass

    def health(self, node: Node) -> NodeHealth:
        # The engine is a library inside the data plane: if the data plane
        # answers, every node of the cluster does.
        return NodeHealth(running=True, ready=True, peers=node.cluster.size, expected_peers=node.cluster.size)

    def address(self, node: Node) -> NodeAddress | None:
        return self._address

    def version(self, node: Node) -> str:
        return self._version
