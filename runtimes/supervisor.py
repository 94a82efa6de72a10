"""The node supervisor: makes what runs match what should run.

It is given a callable returning the clusters that should run (`ClusterSpec`s,
read from the database by the console, or from a JSON file) and, every
`interval` seconds:

- starts every node that is not running, with a back-off for a node that keeps
  exiting; a peer that never joined its cluster starts only once node 0 is
  ready and no other newcomer is still joining (peers bootstrapping at once
  race in the consensus);
- restarts a node whose generation is behind the one asked for, one node of a
  cluster at a time and only while the cluster is settled (every node healthy,
  every replica Active, one consensus state; `Runtime.settled`): bumping
  `node_generations[i]` node after node is a rolling restart;
- stops the nodes of clusters that are no longer asked for (their storage is
  kept: removing it is `Runtime.remove`, the delete-cluster job's decision);
- reports each node's health and ports when they change (callbacks).

On SIGTERM or SIGINT it stops every node and exits. The nodes die with it
even if it is killed outright (PR_SET_PDEATHSIG); the next start finds their
storage and ports and starts them again, data kept.

    python -m runtimes.supervisor --desired-file clusters.json
    python -m runtimes.supervisor --desired clusters.nodes:desired_clusters --report clusters.nodes:node_seen
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from runtimes.base import NODE_PORTS, ClusterSpec, Node, NodeAddress, NodeHealth, NodePorts, Runtime, port_range

log = logging.getLogger("runtimes.supervisor")

Desired = Callable[[], Iterable[ClusterSpec]]
Report = Callable[[Node, NodeHealth, NodeAddress | None], None]


@dataclass
class _Attempts:
    last_start: float = 0.0
    failures: int = 0


class Supervisor:
    def __init__(self, *, runtime: Runtime, desired: Desired, report: Report | None = None,
                 backoff: float = 0.5, backoff_max: float = 10.0, report_every: float = 30.0) -> None:
        self.runtime = runtime
        self.desired = desired
        self.report = report
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.report_every = report_every
        self._attempts: dict[tuple[str, int], _Attempts] = {}
        self._reported: dict[tuple[str, int], tuple] = {}

    def reconcile(self) -> None:
        try:
            clusters = {cluster.id: cluster for cluster in self.desired()}
        except Exception:
            # The database may be briefly away: keep what runs as it is.
            log.exception("could not read the desired state; nothing changed")
            return
        for cluster_id, index in self.runtime.running():
            cluster = clusters.get(cluster_id)
            if cluster is None or index >= cluster.size:
                log.info("stopping %s/node-%d: no longer asked for", cluster_id, index)
                self.runtime.stop(Node(cluster or ClusterSpec(id=cluster_id, size=index + 1, master_key=""), index))
                self._reported.pop((cluster_id, index), None)
        for cluster in clusters.values():
            self._reconcile_cluster(cluster)

    def _reconcile_cluster(self, cluster: ClusterSpec) -> None:
        nodes = [Node(cluster, index) for index in range(cluster.size)]
        health = {node.index: self.runtime.health(node) for node in nodes}
        for node in nodes:
            self._report(node, health[node.index])

        settled = None  # asked only when a node is behind its generation
        newcomer_joining = any(h.running and not self.runtime.joined(n) for n, h in zip(nodes, health.values(), strict=True))
        for node in nodes:
            current = health[node.index]
            key = (cluster.id, node.index)
            attempts = self._attempts.setdefault(key, _Attempts())
            if current.healthy:
                attempts.failures = 0
            if current.running:
                behind = self.runtime.applied_generation(node) not in (None, cluster.node_generation(node.index))
                if behind and settled is None:
                    settled = self.runtime.settled(cluster)
                if behind and settled:
                    log.info("restarting %s for generation %d", node, cluster.node_generation(node.index))
                    self.runtime.restart(node)
                    attempts.last_start = time.monotonic()
                    return  # one node of a cluster at a time
                continue
            wait = min(self.backoff * 2 ** attempts.failures, self.backoff_max) if attempts.failures else 0
            if time.monotonic() - attempts.last_start < wait:
                continue
            if cluster.size > 1 and not self.runtime.joined(node) and node.index > 0:
                first = health[0]
                if newcomer_joining or not (first.running and first.ready and first.peers):
                    continue
                newcomer_joining = True
            if attempts.last_start:
                log.warning("%s is not running; starting it again", node)
                attempts.failures += 1
            self.runtime.start(node)
            attempts.last_start = time.monotonic()
            log.info("started %s", node)

    def _report(self, node: Node, health: NodeHealth) -> None:
        key = (node.cluster.id, node.index)
        address = self.runtime.address(node)
        if health.running:
            health = replace(health, generation=self.runtime.applied_generation(node))
        state = (health.running, health.ready, health.joined, health.healthy, health.generation, address)
        reported = self._reported.get(key)
        # Unchanged: reported again only now and then, so that a report lost
        # (the database was away) or overwritten is made good.
        if reported is not None and reported[0] == state and time.monotonic() - reported[1] < self.report_every:
            return
        if reported is None or reported[0] != state:
            log.info("%s: %s", node, "healthy" if health.healthy else health.detail or "unhealthy")
        if self.report is not None:
            try:
                self.report(node, health, address)
            except Exception:
                log.exception("could not report the health of %s", node)
                return
        self._reported[key] = (state, time.monotonic())

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        try:
            while not stop.is_set():
                self.reconcile()
                stop.wait(interval)
        finally:
            log.info("stopping every node")
            stop_all = getattr(self.runtime, "stop_all", None)
            if stop_all is not None:
                stop_all()


def desired_from_file(path: str | os.PathLike) -> Desired:
    """A desired state read from a JSON list (re-read on every pass), e.g.
    `[{"id": "c1", "size": 3, "master_key": "...", "jwt_rbac": true}]`.
    It holds master keys: keep it 0600."""
    def read() -> list[ClusterSpec]:
        specs = []
        for item in json.loads(Path(path).read_text()):
            ports = item.get("ports")
            specs.append(ClusterSpec(
                id=item["id"], size=int(item["size"]), master_key=item["master_key"],
                jwt_rbac=bool(item.get("jwt_rbac", False)), generation=int(item.get("generation", 0)),
                node_generations={int(k): int(v) for k, v in item.get("node_generations", {}).items()},
                ports=tuple(NodePorts.from_dict(p) for p in ports) if ports else None,
            ))
        return specs
    return read


def _import(dotted: str):
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m runtimes.supervisor", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--desired", help="module:callable returning the ClusterSpecs that should run")
    source.add_argument("--desired-file", help="a JSON file listing the clusters that should run")
    parser.add_argument("--report", help="module:callable(node, health, address), called on every change")
    parser.add_argument("--binary", default=os.environ.get("QDRANT_BINARY") or shutil.which("qdrant"))
    parser.add_argument("--root", help="where nodes keep their files (default VAR_DIR/nodes)")
    parser.add_argument("--ports", type=port_range, help="LOW-HIGH: the ports new nodes are given "
                        "(default QDRANT_NODE_PORTS's under Django, else 20000-32767)")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # every health check otherwise
    if not args.binary:
        parser.error("no Qdrant binary: set QDRANT_BINARY or put qdrant on PATH (make qdrant)")

    if os.environ.get("DJANGO_SETTINGS_MODULE") and (args.desired or args.report or not args.root):
        import django

        django.setup()
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        from django.conf import settings

        root = args.root or Path(settings.VAR_DIR) / "nodes"
        node_ports = args.ports or settings.QDRANT_NODE_PORTS
    elif args.root is None:
        parser.error("--root is needed without Django settings (DJANGO_SETTINGS_MODULE)")
    else:
        root, node_ports = args.root, args.ports or NODE_PORTS

    from runtimes.qdrant import QdrantRuntime

    runtime = QdrantRuntime(binary=args.binary, root=root, node_ports=node_ports)
    desired = desired_from_file(args.desired_file) if args.desired_file else _import(args.desired)
    report = _import(args.report) if args.report else None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Supervisor(runtime=runtime, desired=desired, report=report).run(stop, interval=args.interval)


if __name__ == "__main__":
    main()
