"""What clusters tell the apps above them, which they may not import.

`cluster_deleting(cluster, by, client_ip)`: sent inside cluster_delete's
transaction, before its nodes are stopped. The keys of the cluster live in
apikeys (a layer above), which revokes them through its own service
(apikeys/apps.py connects it), so each revoked key is audited as a delete.
"""

from django.dispatch import Signal

cluster_deleting = Signal()
