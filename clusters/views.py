from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import account_for
from clusters.forms import ClusterCreateForm
from clusters.selectors import cluster_for, cluster_status, clusters_of
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
        cluster = cluster_create(account=account, **form.cleaned_data)
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
