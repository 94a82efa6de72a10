"""The one way the console reaches a cluster's nodes: the cluster's runtime.

`runtime_for(cluster)` gives the object for the cluster's `runtime` field
(fixed when the cluster is created); the job machine, the key form, the
pages and the health task ask it to provision, restart, remove, check, report
the version and list collections, and never ask which one it holds. A new
runtime is a class implementing `ClusterRuntime` and one line in `REGISTRY`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from django.utils.module_loading import import_string

Renew = Callable[[], None]


class CollectionsUnreadable(Exception):
    """No node of the cluster listed its collections; the message says why, without a key."""


class ClusterRuntime(abc.ABC):
    """What the console asks of whatever runs a cluster's nodes.

    `restartable`: whether the console can restart the nodes (and so enable
    granular access by a rolling restart); `where` says where they run.

    The node steps (`provision_node`, `restart_node`) do one node's work and
    return when the node is up; they run outside any transaction and must be
    safe to repeat (a resumed operation repeats the step of the node it was
    on). `renew` renews the operation's lease and raises once another worker
    has taken over. `node_begin`/`node_done` run inside the operation's fenced
    transaction, before and after the step: a runtime whose nodes nobody else
    reports on records their state there.
    """

    restartable = True

    @abc.abstractmethod
    def where(self, cluster) -> str:
        """Where the cluster's nodes run, as the page and the API say it."""

    @abc.abstractmethod
    def provision_node(self, operation, node, renew: Renew) -> None: ...

    @abc.abstractmethod
    def restart_node(self, operation, node, renew: Renew) -> None: ...

    def node_begin(self, node) -> None:
        """Inside the fence, before the step."""
        return None

    def node_done(self, node) -> None:
        """Inside the fence, after the step."""
        return None

    def settle(self, cluster_id) -> None:
        """After an operation: bring the cluster's phase in line with its nodes."""
        return None

    @abc.abstractmethod
    def remove(self, cluster, renew: Renew) -> None:
        """Deleting: whatever the runtime runs or keeps for the cluster goes."""

    @abc.abstractmethod
    def collections(self, cluster) -> list[str]:
        """The cluster's collection names, sorted; raises CollectionsUnreadable."""

    @abc.abstractmethod
    def version(self, cluster, nodes=None) -> str:
        """The version the given nodes (all by default) run, as pages show it."""

    def key_claims(self, cluster, key_id: str) -> dict:
        """Claims a database API key of this cluster carries besides its rights."""
        return {}

    def keys_admit(self, cluster, *, admit=(), refuse=()) -> None:
        """Tells the cluster itself which keys (ids) it accepts from now on,
        where it checks that (connected clusters reached directly). Raises
        ValidationError when the cluster did not take it: the caller's
        transaction rolls back and nothing has changed."""
        return None

    def keys_reconcile(self, cluster, usable: Callable[[], set[str]]) -> None:
        """Makes the keys the cluster itself accepts the `usable` ones (ids),
        after a health check (apikeys.services.cluster_keys_reconcile)."""
        return None

    def key_options_refusal(self, cluster, *, allowed_networks: bool, tenant: bool = False) -> dict[str, str]:
        """Key options this cluster cannot honour (`allowed_networks`: the key
        would have an IP allowlist; `tenant`: a tenant binding): field -> why; empty when it can."""
        return {}

    def check(self, cluster) -> None:
        """The periodic health check (clusters.tasks); nothing for a runtime whose nodes report themselves."""
        return None


# The runtimes, by Cluster.runtime (clusters.models.Runtime): one line each.
REGISTRY = {
    "embedded": "clusters.embedded.EmbeddedNodes",
    "qdrant": "clusters.nodes.LocalQdrantNodes",
    "connected": "clusters.connected.ConnectedQdrant",
}

_instances: dict[str, ClusterRuntime] = {}


def runtime_for(cluster) -> ClusterRuntime:
    name = cluster.runtime
    if name not in _instances:
        _instances[name] = import_string(REGISTRY[name])()
    return _instances[name]
