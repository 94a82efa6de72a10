from django.contrib.auth.decorators import login_required
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import account_for
from clusters.forms import ClusterCreateForm
from clusters.selectors import cluster_for, cluster_status, clusters_of
from audit.services import client_ip
from clusters.restarts import granular_access_enable
from clusters.services import cluster_create


@login_required
@require_GET
def cluster_list(request, account_id):
    account = account_for(request, account_id, "read:clusters")
    return render(request, "clusters/list.html", {"account": account, "clusters": clusters_of(account)})


@login_required
@require_http_methods(["GET", "POST"])
def cluster_new(request, account_id):
    account = account_for(request, account_id, "write:clusters")
    form = ClusterCreateForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        cluster = cluster_create(account=account, by=request.user, client_ip=client_ip(request), **form.cleaned_data)
        return redirect("clusters:detail", account_id=account.id, cluster_id=cluster.id)
    return render(request, "clusters/create.html", {"account": account, "form": form})


@login_required
@require_GET
def cluster_detail(request, account_id, cluster_id):
    cluster = cluster_for(request, account_id, cluster_id, "read:clusters")
    return render(
        request,
        "clusters/detail.html",
        {"account": cluster.account, "cluster": cluster, "status": cluster_status(cluster)},
    )


@login_required
@require_GET
def cluster_status_json(request, account_id, cluster_id):
    cluster = cluster_for(request, account_id, cluster_id, "read:clusters")
    return JsonResponse(cluster_status(cluster))


@login_required
@require_http_methods(["GET", "POST"])
def cluster_enable_granular(request, account_id, cluster_id):
    """Confirm (GET), then enable granular access with a rolling restart (POST)."""
    cluster = cluster_for(request, account_id, cluster_id, "write:clusters")
    if request.method == "POST":
        try:
            operation = granular_access_enable(cluster=cluster, by=request.user, client_ip=client_ip(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            operation.refresh_from_db()
            if operation.dispatched_at or operation.state != operation.State.PENDING:
                messages.success(request, "Enabling granular access: the cluster restarts node by node.")
            else:
                messages.warning(
                    request,
                    "The restart is scheduled and starts as soon as the task queue is reachable again. "
                    "Nothing is lost; this page follows it.",
                )
        return redirect("clusters:detail", account_id=account_id, cluster_id=cluster.id)
    return render(request, "clusters/enable_granular.html", {"account": cluster.account, "cluster": cluster})
