"""Where a cluster's nodes run.

A runtime starts, stops and restarts the nodes of a cluster, tells whether a
node is healthy (ready, joined to its peers) and where it listens. One exists,
`qdrant` (one real Qdrant process per node on this machine); an `embedded`
cluster has none, the data plane's own engine serves it with nothing to start.
A runtime that drives Qdrant's Helm chart or Kubernetes operator would
implement the same `Runtime` in `base.py`, and the supervisor would drive it
unchanged; the console would still need a choice of `clusters.models.Runtime`,
and to build it where it builds `QdrantRuntime` (`clusters.nodes.node_runtime`,
the supervisor's `main`), and the data plane to find its nodes' addresses.

Nothing here imports the data plane or renders a page.
"""
