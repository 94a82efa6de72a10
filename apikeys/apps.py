from django.apps import AppConfig


class ApikeysConfig(AppConfig):
    name = "apikeys"

    def ready(self):
        from django.db.models.signals import pre_delete

        from clusters.signals import cluster_checked, cluster_deleting

        # clusters sits below apikeys and may not import it: it says a cluster goes (apikeys revokes its
        # keys) or was checked (apikeys makes the keys the cluster accepts its usable ones).
        cluster_deleting.connect(_cluster_keys_revoke, dispatch_uid="apikeys.cluster_keys_revoke")
        cluster_checked.connect(_cluster_keys_reconcile, dispatch_uid="apikeys.cluster_keys_reconcile")
        # Usage rows name their key and cluster by id, not by foreign key (fronts report keys the
        # console may have deleted since): they go with the cluster's rows, in the same transaction.
        pre_delete.connect(_cluster_usage_forget, sender="clusters.Cluster", dispatch_uid="apikeys.cluster_usage_forget")


def _cluster_keys_revoke(sender, *, cluster, by, client_ip, **signal) -> None:
    from apikeys.services import cluster_keys_revoke

    cluster_keys_revoke(cluster=cluster, by=by, client_ip=client_ip)


def _cluster_keys_reconcile(sender, *, cluster, **signal) -> None:
    from apikeys.services import cluster_keys_reconcile

    cluster_keys_reconcile(cluster=cluster)


def _cluster_usage_forget(sender, *, instance, **signal) -> None:
    from apikeys.usage import cluster_usage_forget

    cluster_usage_forget(cluster_id=instance.id)
