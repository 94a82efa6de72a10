"""The narrow interface every runtime implements, and the values it speaks in."""

from __future__ import annotations

import abc
import re
import time
from dataclasses import dataclass, field

# Node ports are picked below Linux's ephemeral range (32768-60999 by
# default): a port in it can be taken as the local end of any outgoing
# connection while its node is down, and the node would not start again on it.
NODE_PORTS = range(20000, 32768)


def port_range(text: str) -> range:
    """"LOW-HIGH" (inclusive) as a range of ports; ValueError if it is not one."""
    match = re.fullmatch(r"\s*([0-9]{1,5})\s*-\s*([0-9]{1,5})\s*", text)
    if not match or not 1024 <= int(match[1]) <= int(match[2]) <= 65535:
        raise ValueError(f"must be LOW-HIGH with 1024 <= LOW <= HIGH <= 65535; got {text!r}")
    return range(int(match[1]), int(match[2]) + 1)


@dataclass(frozen=True)
class NodePorts:
    """The loopback ports of one node; allocated once, then recorded and reused
    so that peers and the front keep finding the node after a restart."""

    http: int
    grpc: int
    p2p: int | None = None

    def as_dict(self) -> dict:
        return {"http": self.http, "grpc": self.grpc, "p2p": self.p2p}

    @classmethod
    def from_dict(cls, data: dict) -> NodePorts:
        return cls(http=int(data["http"]), grpc=int(data["grpc"]), p2p=None if data.get("p2p") is None else int(data["p2p"]))


@dataclass(frozen=True)
class ClusterSpec:
    """What should run for one cluster.

    `generation` is bumped to ask for a restart of every node; `node_generations`
    (index -> generation) restarts single nodes, which is how a rolling restart
    goes node by node. `ports` are the ports recorded for it earlier, if any.
    """

    id: str
    size: int
    master_key: str = field(repr=False)
    jwt_rbac: bool = False
    generation: int = 0
    node_generations: dict[int, int] = field(default_factory=dict)
    ports: tuple[NodePorts, ...] | None = None

    def node_generation(self, index: int) -> int:
        return self.generation + self.node_generations.get(index, 0)


@dataclass(frozen=True)
class Node:
    """One node of a cluster: node `index` of `cluster` (0-based)."""

    cluster: ClusterSpec
    index: int

    @property
    def name(self) -> str:
        return f"node-{self.index}"

    def __str__(self) -> str:
        return f"{self.cluster.id}/{self.name}"


@dataclass(frozen=True)
class NodeAddress:
    host: str
    ports: NodePorts

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"http://{self.host}:{self.ports.grpc}"


@dataclass(frozen=True)
class NodeHealth:
    running: bool
    ready: bool = False
    peers: int | None = None  # peers this node sees in the cluster; None for a single node
    expected_peers: int = 1
    # Every shard replica this node holds is Active (none still recovering
    # from its peers after a restart): only then may the next node of a
    # rolling restart go down, or a shard could be left with no active copy.
    replicas_active: bool = True
    detail: str = ""
    # The generation the running node was started with (filled in by the
    # supervisor for its report; see ClusterSpec).
    generation: int | None = None

    @property
    def joined(self) -> bool:
        return self.expected_peers <= 1 or self.peers == self.expected_peers

    @property
    def healthy(self) -> bool:
        return self.running and self.ready and self.joined and self.replicas_active


class Runtime(abc.ABC):
    """Start, stop and restart a node; its health; its address."""

    name: str

    @abc.abstractmethod
    def start(self, node: Node) -> NodeAddress:
        """Start the node if it is not running; returns where it listens (the
        ports, for the caller to record). Does not wait for readiness."""

    @abc.abstractmethod
    def stop(self, node: Node) -> None:
        """Stop the node, keeping its storage."""

    def restart(self, node: Node) -> NodeAddress:
        self.stop(node)
        return self.start(node)

    @abc.abstractmethod
    def health(self, node: Node) -> NodeHealth: ...

    @abc.abstractmethod
    def address(self, node: Node) -> NodeAddress | None:
        """Where the node listens, or None if it has never been given ports."""

    @abc.abstractmethod
    def version(self, node: Node) -> str:
        """The version the node itself reports."""

    def collections(self, node: Node, timeout: float | None = None) -> list[str]:
        """The collection names the node lists, sorted; raises when it cannot."""
        raise NotImplementedError

    def settled(self, cluster: ClusterSpec) -> bool:
        """Whether the cluster as a whole is at rest: every node healthy, and
        nothing left to recover or hand over between them. A rolling restart
        takes the next node down only then."""
        return all(self.health(Node(cluster, index)).healthy for index in range(cluster.size))

    def joined(self, node: Node) -> bool:
        """Whether the node has been part of its cluster before (a node that
        never was must bootstrap, one peer at a time)."""
        return True

    def running(self) -> list[tuple[str, int]]:
        """(cluster id, node index) of every node this runtime has running."""
        return []

    def applied_generation(self, node: Node) -> int | None:
        """The generation the running node was started with (see ClusterSpec)."""
        return None

    def remove(self, cluster_id: str) -> None:
        """Forget a cluster: stop its nodes and delete their storage."""
        return None  # a runtime that keeps no storage of its own has nothing to delete


def wait_until(condition, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls `condition` until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def wait_healthy(runtime: Runtime, node: Node, *, timeout: float = 60, peers: int | None = None) -> NodeHealth:
    """Waits until the node is ready and sees `peers` peers (default: all)."""
    def check():
        health = runtime.health(node)
        if peers is None:
            return health if health.healthy else None
        return health if health.ready and (health.peers or 1) >= peers else None
    return wait_until(check, timeout=timeout, interval=0.1, what=f"{node} to be healthy")


def start_cluster(runtime: Runtime, cluster: ClusterSpec, *, timeout: float = 60) -> list[NodeAddress]:
    """Starts a cluster's nodes one at a time, each ready and joined before
    the next: peers that bootstrap at once race in the consensus."""
    addresses = []
    for index in range(cluster.size):
        node = Node(cluster, index)
        addresses.append(runtime.start(node))
        wait_healthy(runtime, node, timeout=timeout, peers=index + 1)
    for index in range(cluster.size):
        wait_healthy(runtime, Node(cluster, index), timeout=timeout)
    return addresses
