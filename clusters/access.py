"""Who may reach a cluster from a view: accounts/access.py's rule, one object down."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from accounts.access import account_for
from clusters.models import Cluster


def cluster_for(request: HttpRequest, account_id, cluster_id, perm: str) -> Cluster:
    """The cluster, if the caller is a member of its account with `perm`: 404 for outsiders, 403 for the role."""
    account = account_for(request, account_id, perm)
    return get_object_or_404(Cluster.objects.filter(account=account), id=cluster_id)
