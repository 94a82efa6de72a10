"""Where a cluster's nodes run.

A runtime starts, stops and restarts the nodes of a cluster, tells whether a
node is healthy (ready, joined to its peers) and where it listens. Two exist:
`embedded` (the data plane's own engine, nothing to start) and `qdrant` (one
real Qdrant process per node on this machine). A runtime that drives Qdrant's
Helm chart or Kubernetes operator would implement the same `Runtime` in
`base.py`; the supervisor and the console would not change.

Nothing here imports the data plane or renders a page.
"""
