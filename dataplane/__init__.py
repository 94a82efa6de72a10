"""The data plane: every cluster answers at its endpoint as Qdrant would behind
Qdrant Cloud's authenticating front, and enforces the cluster's keys.

`python -m dataplane` serves it (see dataplane/server.py). It decides with the
contract (keyset/) and reads the console's key set through fronts/rows.py;
the console's services call `fronts.changelog.keys_changed()` whenever a key,
a cluster's master key or its jwt_rbac changes.
"""
