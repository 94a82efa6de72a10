"""The data plane: every cluster answers at its endpoint as Qdrant would behind
Qdrant Cloud's authenticating front, and enforces the cluster's keys.

`python -m dataplane` serves it (see dataplane/server.py); the console's
services call `dataplane.notify.keys_changed()` whenever a key, a cluster's
master key or its jwt_rbac changes.
"""
