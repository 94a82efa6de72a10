from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import account_for, require_recent_authentication
from apikeys.selectors import usable_keys
from audit.services import client_ip
from clusters.connected import cluster_connect, granular_access_check, master_key_change
from clusters.forms import ClusterConnectForm, ClusterCreateForm, ClusterDeleteForm, MasterKeyForm
from clusters.restarts import cluster_restart_start, granular_access_enable
from clusters.access import cluster_for
from clusters.selectors import cluster_status, clusters_of
from clusters.services import cluster_create, cluster_delete


@login_required
@require_GET
def cluster_list(request, account_id):
    account = account_for(request, account_id, "read:clusters")
    return render(request, "clusters/list.html", {"account": account, "clusters": clusters_of(account).prefetch_related("nodes")})


@login_required
@require_http_methods(["GET", "POST"])
def cluster_new(request, account_id):
    account = account_for(request, account_id, "write:clusters")
    form = ClusterCreateForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        cluster = cluster_create(account=account, **form.cleaned_data, by=request.user, client_ip=client_ip(request))
        return redirect("clusters:detail", account_id=account.id, cluster_id=cluster.id)
    return render(request, "clusters/create.html", {"account": account, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def cluster_connect_view(request, account_id):
    """Connect an existing Qdrant: checked before anything is saved, each failure next to its field."""
    account = account_for(request, account_id, "write:clusters")
    require_recent_authentication(request, form_holds_secret=True)
    form = ClusterConnectForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        try:
            cluster = cluster_connect(account=account, **form.cleaned_data, by=request.user,
                                      client_ip=client_ip(request))
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field, errors)
        else:
            return redirect("clusters:detail", account_id=account.id, cluster_id=cluster.id)
    return render(request, "clusters/connect.html", {"account": account, "form": form})


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
    if request.method == "POST" and not cluster.restartable:
        return _granular_check(request, cluster)
    if request.method == "POST":
        try:
            operation = granular_access_enable(cluster=cluster, by=request.user, client_ip=client_ip(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            _scheduled_message(request, operation, "Enabling granular access: the cluster restarts node by node.")
        return redirect("clusters:detail", account_id=account_id, cluster_id=cluster.id)
    return render(request, "clusters/enable_granular.html", {"account": cluster.account, "cluster": cluster})


def _granular_check(request, cluster):
    """A cluster the console does not run: the Check button probes it."""
    try:
        accepted = granular_access_check(cluster=cluster, by=request.user, client_ip=client_ip(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("clusters:enable-granular", account_id=cluster.account_id, cluster_id=cluster.id)
    if not accepted:
        messages.error(request, f"{cluster.name} still refuses a JWT signed with its master key: jwt_rbac is not on "
                                "yet (or the nodes have not restarted since).")
        return redirect("clusters:enable-granular", account_id=cluster.account_id, cluster_id=cluster.id)
    messages.success(request, f"{cluster.name} accepts granular keys: create database API keys now.")
    return redirect("clusters:detail", account_id=cluster.account_id, cluster_id=cluster.id)


@login_required
@require_http_methods(["GET", "POST"])
def cluster_master_key(request, account_id, cluster_id):
    """A connected cluster's master key changed where it runs: record the new one, once the cluster accepts it."""
    cluster = cluster_for(request, account_id, cluster_id, "write:clusters")
    if cluster.restartable:
        raise Http404  # the console made this cluster's master key, and keeps it
    require_recent_authentication(request, form_holds_secret=True)
    form = MasterKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            master_key_change(cluster=cluster, api_key=form.cleaned_data["api_key"], by=request.user,
                              client_ip=client_ip(request))
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            stopped = usable_keys(cluster)  # signed with the old master key
            names = ", ".join(f"{key.name} (…{key.postfix})" for key in stopped)
            messages.warning(request, "Saved the new master key. " + (
                f"These keys were signed with the old one and no longer work: {names}. Roll or recreate them."
                if stopped else "No database API key was signed with the old one."))
            return redirect("clusters:detail", account_id=account_id, cluster_id=cluster.id)
    return render(request, "clusters/master_key.html", {"account": cluster.account, "cluster": cluster, "form": form})


def _scheduled_message(request, operation, started: str) -> None:
    """What a restart's POST says: `started`, or that it waits for the task queue (clusters/dispatch.py)."""
    operation.refresh_from_db()
    if operation.dispatched_at or operation.state != operation.State.PENDING:
        messages.success(request, started)
    else:
        messages.warning(request, "The restart is scheduled and starts as soon as the task queue is reachable "
                                  "again. Nothing is lost; this page follows it.")


@login_required
@require_http_methods(["GET", "POST"])
def cluster_restart(request, account_id, cluster_id):
    """Confirm (GET), then restart the cluster node by node (POST)."""
    cluster = cluster_for(request, account_id, cluster_id, "write:clusters")
    if request.method == "POST":
        try:
            operation = cluster_restart_start(cluster=cluster, by=request.user, client_ip=client_ip(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("clusters:detail", account_id=account_id, cluster_id=cluster.id)
        if operation.kind in (operation.Kind.PROVISION, operation.Kind.DELETE):
            doing = "being created" if operation.kind == operation.Kind.PROVISION else "being deleted"
            messages.error(request, f"The cluster is {doing}; it cannot restart now.")
        else:
            _scheduled_message(request, operation, "Restarting: the nodes restart one at a time.")
        return redirect("clusters:detail", account_id=account_id, cluster_id=cluster.id)
    return render(request, "clusters/restart.html", {"account": cluster.account, "cluster": cluster})


@login_required
@require_http_methods(["GET", "POST"])
def cluster_delete_view(request, account_id, cluster_id):
    """Confirm by typing the cluster's name (GET), then delete it (POST)."""
    cluster = cluster_for(request, account_id, cluster_id, "delete:clusters")
    require_recent_authentication(request)
    form = ClusterDeleteForm(request.POST or None, cluster=cluster)
    if request.method == "POST" and form.is_valid():
        cluster_delete(cluster=cluster, by=request.user, client_ip=client_ip(request))
        messages.success(request, f"Deleting {cluster.name}: its keys no longer work; its nodes and data are being removed.")
        return redirect("clusters:list", account_id=account_id)
    return render(request, "clusters/delete.html", {"account": cluster.account, "cluster": cluster, "form": form})
