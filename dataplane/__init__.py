"""The data plane: every cluster answers at its endpoint as Qdrant would behind
Qdrant Cloud's authenticating front, and enforces the cluster's keys.

`python -m dataplane` serves it (see dataplane/server.py). It reads the
console only through keyset.contract, whose `keys_changed()` the console's
services call whenever a key, a cluster's master key or its jwt_rbac changes.
"""
