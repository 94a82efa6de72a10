"""Who may reach a key from a view: clusters/access.py's rule, one object down."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from apikeys.models import AdminKey, DatabaseApiKey, IssuedKey
from apikeys.policy import ADMIN, DATABASE
from clusters.access import cluster_for
from clusters.models import Cluster

KEY_MODELS: dict[str, type[IssuedKey]] = {DATABASE: DatabaseApiKey, ADMIN: AdminKey}


def key_for(request: HttpRequest, account_id, cluster_id, key_id, *, kind: str, perm: str,
            live: bool = True) -> tuple[Cluster, IssuedKey]:
    """The cluster and its key of `kind` ("database" or "admin"), if the caller
    is a member of the account with `perm`: 404 for outsiders and for any other
    id, 403 for the role. `live`: a deleted key is 404 too (a deleted key has a
    page, which says so, but nothing more can be done to it)."""
    cluster = cluster_for(request, account_id, cluster_id, perm)
    keys = KEY_MODELS[kind].objects.filter(cluster=cluster)
    if live:
        keys = keys.live()
    return cluster, get_object_or_404(keys.select_related("cluster", "created_by", "revoked_by"), id=key_id)
