"""What clusters tell the apps above them, which they may not import.

`cluster_deleting(cluster, by, client_ip)`: sent inside cluster_delete's
transaction, before its nodes are stopped. The keys of the cluster live in
apikeys (a layer above), which revokes them through its own service
(apikeys/apps.py connects it), so each revoked key is audited as a delete.

`cluster_checked(cluster)`: sent after the health check of a connected
cluster that checks keys itself (reached directly); apikeys makes the keys
it accepts the usable ones (ClusterRuntime.keys_reconcile).
"""

from django.dispatch import Signal

cluster_deleting = Signal()
cluster_checked = Signal()
