"""Database API keys and admin keys: create (and reveal once), look at, delete, list.

Reveal once: the key is minted inside the POST that creates it and shown in
that POST's response (Cache-Control: no-store); it is never stored, so no later
request can show it again. The create form carries a one-time nonce that the
new key records (unique): a repeated POST (a reload of the reveal page, a
double click) finds that key and is sent to its page, which says the key can
no longer be shown, instead of minting a second key unnoticed
(createonce/, which management keys and invitations use too). Who may create
which key, where, is apikeys/policy.py.

Both kinds share that flow, the reveal page (warning, Copy, connection
snippets), the key page and the delete confirmation; they differ in their
form, in when they may be created and in the service that creates them.
"""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import account_for, require_recent_authentication
from apikeys.access import key_for
from apikeys.explain import explain
from apikeys.forms import (
    AccountKeyFilterForm,
    AdminKeyForm,
    ClusterPickerForm,
    DatabaseApiKeyForm,
    ExplainKeyForm,
    KeyEditForm,
    KeyForm,
    KeyPolicyForm,
    RollForm,
    add_service_error,
)
from apikeys.key_policy import key_policy_set, keys_breaking, policy_of
from apikeys.models import AdminKey, DatabaseApiKey, IssuedKey
from apikeys.policy import ADMIN, CREATE_PERMISSION, DATABASE, EDIT_PERMISSION, create_refusal, kind_to_create
from apikeys.selectors import account_key_lists, key_access, keys_page
from apikeys.services import (
    ROLL_GRACE,
    admin_key_create,
    database_key_create,
    key_delete,
    key_disable,
    key_edit,
    key_enable,
    key_roll,
    roll_refusal,
)
from apikeys.snippets import snippets_for
from apikeys.states import WORKING_STATES
from audit.services import client_ip
from clusters.access import cluster_for
from clusters.runtime import CollectionsUnreadable, runtime_for
from createonce.forms import new_nonce
from createonce.secret_text import SecretList, SecretText
from createonce.services import create_once, repeated
from fronts.changelog import propagation
from keyset.rights import OPERATION_GROUPS, rights_matrix
from keyset.tenant import bound_matrix


def cluster_keys_url(cluster, anchor: str = "api-keys") -> str:
    url = reverse("clusters:detail", kwargs={"account_id": cluster.account_id, "cluster_id": cluster.id})
    return f"{url}#{anchor}"


USED_ELSEWHERE = "This form was already used for another cluster. Check the values and submit again."


def _see_other(url: str) -> HttpResponseRedirect:
    """303: the browser follows a POST's redirect with a GET, and a reload repeats the GET."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _no_store(response: HttpResponse) -> HttpResponse:
    # A create form restored from the back/forward cache would post a used
    # nonce; a reveal page must stay in no cache, not even the browser's.
    add_never_cache_headers(response)
    return response


@sensitive_variables("token", "outcome")
def _create_and_reveal(
    request,
    cluster,
    form: KeyForm,
    *,
    template: str,
    model: type[IssuedKey],
    create: Callable[[dict], tuple[IssuedKey, str]],
    context: dict | None = None,
) -> HttpResponse:
    """The POST of a create (or roll) form, for either kind of key: mint once, reveal once (createonce.services)."""
    context = context or {"account": cluster.account, "cluster": cluster}
    scope = {"cluster_id": cluster.id}
    used = repeated(model, request.POST.get("nonce"), scope)
    if used is not None:
        return _see_other(used.get_absolute_url() + "?repeated=1")

    if form.is_valid():
        try:
            with propagation() as reached:
                outcome = create_once(
                    model, nonce=form.cleaned_data["nonce"], scope=scope, create=lambda: create(form.cleaned_data)
                )
        except ValidationError as error:
            add_service_error(form, error)  # the key policy's rule next to its field
        else:
            if outcome.elsewhere:
                form.add_error("nonce", USED_ELSEWHERE)
            elif outcome.secret is None:
                return _see_other(outcome.key.get_absolute_url() + "?repeated=1")
            else:
                token = outcome.secret
                # "Test connection" fetches the cluster's endpoint, another origin.
                request.csp_connect_src = [f"{cluster.endpoint_url}:{cluster.rest_port}"]
                return _no_store(
                    render(
                        request,
                        "apikeys/reveal.html",
                        context
                        | {"key": outcome.key, "token": SecretText(token),
                           "snippets": SecretList(snippets_for(cluster, token)),
                           "propagation_warning": reached.message},
                    )
                )

    if "nonce" in form.errors:
        # Forged, or used on another cluster: hand out a fresh one with the errors.
        form.data = form.data.copy()
        form.data["nonce"] = new_nonce()
    return _no_store(render(request, template, context | {"form": form}, status=400))


def _next_url(request) -> str:
    """Where a delete returns to, if it is a page of this site."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    return next_url


# Either kind of key: its page, edit, delete, roll, disable and enable. The
# URLs name the kind (apikeys/urls.py: database API keys under api-keys/,
# admin keys under admin-keys/); apikeys/access.py finds the key.


@login_required
@require_GET
@never_cache
def key_detail(request, account_id, cluster_id, key_id, kind):
    """A key's page: everything about it but the key, which can no longer be shown."""
    cluster, key = key_for(request, account_id, cluster_id, key_id, kind=kind, perm="read:api_keys", live=False)
    return render(
        request,
        "apikeys/detail.html",
        {"account": cluster.account, "cluster": cluster, "key": key, "repeated": "repeated" in request.GET,
         "operation_groups": OPERATION_GROUPS, **_rights(key)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def key_edit_view(request, account_id, cluster_id, key_id, kind):
    """GET shows the name and description; POST saves them."""
    cluster, key = key_for(request, account_id, cluster_id, key_id, kind=kind, perm=EDIT_PERMISSION[kind])
    if request.method == "POST":
        form = KeyEditForm(request.POST)
        if form.is_valid():
            try:
                key_edit(key=key, by=request.user, client_ip=client_ip(request), **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)  # a field's complaint goes next to that field
            else:
                messages.success(request, f"Saved the {key.kind_label} {key.name} (…{key.postfix}).")
                return redirect(key.get_absolute_url())
        status = 400
    else:
        form, status = KeyEditForm(initial={"name": key.name, "description": key.description}), 200
    context = {"account": cluster.account, "cluster": cluster, "key": key, "form": form}
    return render(request, "apikeys/edit.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def key_delete_view(request, account_id, cluster_id, key_id, kind):
    """GET asks for confirmation; POST revokes the key."""
    cluster, key = key_for(request, account_id, cluster_id, key_id, kind=kind, perm="delete:api_keys")
    next_url = _next_url(request)
    back = next_url or cluster_keys_url(cluster, key.list_anchor)
    if request.method == "POST":
        try:
            with propagation() as reached:
                key_delete(key=key, by=request.user, client_ip=client_ip(request))
        except ValidationError as error:  # a cluster reached directly did not take it: nothing changed
            messages.error(request, " ".join(error.messages))
            return redirect(back)
        if reached.message:
            messages.warning(request, f"Deleted the {key.kind_label} {key.name} (…{key.postfix}). {reached.message}")
        else:
            messages.success(
                request, f"Deleted the {key.kind_label} {key.name} (…{key.postfix}). It no longer opens {cluster.name}."
            )
        return redirect(back)
    return render(
        request,
        "apikeys/delete.html",
        {"account": cluster.account, "cluster": cluster, "key": key, "next": next_url, "cancel_url": back},
    )


@login_required
@require_http_methods(["GET", "POST"])
def key_roll_view(request, account_id, cluster_id, key_id, kind):
    """GET asks when the old secret should stop; POST makes the new one and
    reveals it once, through the create forms' flow (the nonce is the new key's)."""
    cluster, key = key_for(request, account_id, cluster_id, key_id, kind=kind, perm="write:api_keys")
    context = {"account": cluster.account, "cluster": cluster, "key": key, "rolled_from": key}
    if request.method == "GET":
        # Said before the user tries (an unbound form holds no errors: the page shows `refusal`).
        form = RollForm(held=request.membership.permissions)
        return _no_store(render(request, "apikeys/roll.html", context | {"form": form, "refusal": roll_refusal(key)}))

    def roll(data: dict) -> tuple[IssuedKey, str]:
        new_key, token = key_roll(key=key, grace=ROLL_GRACE[data["grace"]], by=request.user, nonce=data["nonce"],
                                  client_ip=client_ip(request))
        key.refresh_from_db(fields=["retires_at", "revoked_at"])
        if key.revoked_at:
            messages.info(request, f"The old secret …{key.postfix} no longer works.")
        else:
            messages.info(request, f"The old secret …{key.postfix} keeps working until "
                                   f"{key.retires_at:%Y-%m-%d %H:%M} UTC.")
        return new_key, token

    form = RollForm(request.POST, held=request.membership.permissions)
    return _create_and_reveal(request, cluster, form, template="apikeys/roll.html", model=type(key), create=roll,
                              context=context)


@login_required
def key_disable_view(request, account_id, cluster_id, key_id, kind):
    return _set_disabled(request, *key_for(request, account_id, cluster_id, key_id, kind=kind,
                                           perm="write:api_keys"), disabled=True)


@login_required
def key_enable_view(request, account_id, cluster_id, key_id, kind):
    return _set_disabled(request, *key_for(request, account_id, cluster_id, key_id, kind=kind,
                                           perm="write:api_keys"), disabled=False)


def _set_disabled(request, cluster, key: IssuedKey, *, disabled: bool) -> HttpResponse:
    """POST only (checked after access, so an outsider learns nothing): disable or enable the key."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        with propagation() as reached:
            changed = (key_disable if disabled else key_enable)(key=key, by=request.user, client_ip=client_ip(request))
    except ValidationError as error:  # a cluster reached directly did not take it: nothing changed
        messages.error(request, " ".join(error.messages))
        return _see_other(key.get_absolute_url())
    verb = "Disabled" if disabled else "Enabled"
    if not changed:
        messages.info(request, f"The {key.kind_label} {key.name} was {verb.lower()} already.")
    elif reached.message:
        messages.warning(request, f"{verb} the {key.kind_label} {key.name} (…{key.postfix}). {reached.message}")
    elif disabled:
        messages.success(request, f"Disabled the {key.kind_label} {key.name} (…{key.postfix}): it is refused at "
                                  f"{cluster.name}'s endpoint until you enable it.")
    else:
        messages.success(request, f"Enabled the {key.kind_label} {key.name} (…{key.postfix}): it opens "
                                  f"{cluster.name} again.")
    return _see_other(key.get_absolute_url())


def _rights(key: IssuedKey) -> dict:
    """The matrix's context: what the key may do on each live collection of its
    cluster, decided by the checks the front applies (keyset.rights). `rights`
    None for a key the front refuses before any rule is checked (deleted,
    expired, disabled, a rolled secret past its deadline), and
    `rights_unreadable` when the cluster's collections could not be read just
    now (no ready node of a `qdrant` cluster answered)."""
    if key.state not in WORKING_STATES:
        return {"rights": None}
    try:
        matrix = rights_matrix(key_access(key), runtime_for(key.cluster).collections(key.cluster))
    except CollectionsUnreadable as exc:
        return {"rights": [], "rights_unreadable": str(exc)}
    # A tenant-bound key: what the front refuses on a bound collection whatever its access (keyset/tenant.py).
    return {"rights": bound_matrix(key.tenant, matrix) if key.kind == "database" else matrix}


# Database API keys


@login_required
@require_http_methods(["GET", "POST"])
def key_create(request, account_id, cluster_id):
    cluster = cluster_for(request, account_id, cluster_id, CREATE_PERMISSION[DATABASE])
    context = {"account": cluster.account, "cluster": cluster}
    if create_refusal(DATABASE, cluster):
        return render(request, "apikeys/unavailable.html", context, status=409)
    if request.method == "GET":
        form = DatabaseApiKeyForm(cluster=cluster, policy=policy_of(cluster.account))
        return _no_store(render(request, "apikeys/create.html", context | {"form": form}))

    def create(data: dict) -> tuple[DatabaseApiKey, str]:
        return database_key_create(
            cluster=cluster,
            name=data["name"],
            rules=data["rules"],
            expires_at=data["expires_at"],
            by=request.user,
            nonce=data["nonce"],
            client_ip=client_ip(request),
            allowed_networks=data["allowed_networks"],
            tenant=data.get("tenant"),
        )

    form = DatabaseApiKeyForm(request.POST, cluster=cluster, policy=policy_of(cluster.account))
    return _create_and_reveal(
        request, cluster, form, template="apikeys/create.html", model=DatabaseApiKey, create=create
    )


@login_required
@require_GET
def account_keys_list(request, account_id):
    """The API Keys page of the navigation: the keys of every cluster of the
    account, database API keys and admin keys, filtered by cluster, kind and state."""
    account = account_for(request, account_id, "read:api_keys")
    form = AccountKeyFilterForm(request.GET or None, account=account)
    lists = account_key_lists(account, **form.filters())
    pages = {
        name: keys_page(keys, request.GET.get("page" if name == "database" else "admin_page"))
        for name, keys in lists.items()
    }
    return render(
        request,
        "apikeys/account_list.html",
        {"account": account, "form": form, "page": pages.get("database"), "admin_page": pages.get("admin")},
    )


@login_required
@require_GET
def account_key_create(request, account_id):
    """Create from the API Keys page: pick the cluster, then that cluster's
    create form (a database API key, or an admin key on a legacy cluster)."""
    account = account_for(request, account_id, CREATE_PERMISSION[DATABASE])
    form = ClusterPickerForm(request.GET or None, account=account)
    if form.is_bound and form.is_valid():
        cluster = form.cleaned_data["cluster"]
        name = "admin-create" if kind_to_create(cluster) == ADMIN else "create"
        return redirect(f"apikeys:{name}", account_id=account.id, cluster_id=cluster.id)
    return render(
        request, "apikeys/account_create.html", {"account": account, "form": form}, status=400 if form.is_bound else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
@sensitive_post_parameters("key")
@sensitive_variables("pasted")
def account_key_explain(request, account_id):
    """Paste a key, see which of the account's keys it is. POST only carries
    it (never a URL or the session), and the page never renders it back."""
    account = account_for(request, account_id, "read:api_keys")
    context = {"account": account, "operation_groups": OPERATION_GROUPS}
    if request.method == "GET":
        return render(request, "apikeys/explain.html", context | {"form": ExplainKeyForm()})
    form = ExplainKeyForm(request.POST)
    if not form.is_valid():
        return render(request, "apikeys/explain.html", context | {"form": form}, status=400)
    pasted = form.cleaned_data["key"]
    explanation = explain(account, pasted)
    key = explanation.key
    rights = _rights(key) if key is not None else {"rights": None}
    return render(
        request, "apikeys/explain.html", context | {"form": ExplainKeyForm(), "explanation": explanation, **rights}
    )


# Admin keys of legacy clusters


@login_required
@require_http_methods(["GET", "POST"])
def admin_create(request, account_id, cluster_id):
    """Create an admin key: only on a cluster from before 2025-01-27 without granular access."""
    cluster = cluster_for(request, account_id, cluster_id, CREATE_PERMISSION[ADMIN])
    context = {"account": cluster.account, "cluster": cluster}
    if request.method == "POST":
        # A reload of the reveal page finds its key even if creating is closed since.
        used = repeated(AdminKey, request.POST.get("nonce"), {"cluster_id": cluster.id})
        if used is not None:
            return _see_other(used.get_absolute_url() + "?repeated=1")
    refusal = create_refusal(ADMIN, cluster)
    if refusal:
        # The button is gone once granular access is on; a forged POST lands here.
        return render(request, "apikeys/admin_unavailable.html", context | {"refusal": refusal}, status=409)
    if request.method == "GET":
        return _no_store(render(request, "apikeys/admin_create.html", context | {"form": AdminKeyForm(policy=policy_of(cluster.account))}))

    def create(data: dict) -> tuple[AdminKey, str]:
        return admin_key_create(
            cluster=cluster,
            name=data["name"],
            expires_at=data["expires_at"],
            by=request.user,
            client_ip=client_ip(request),
            nonce=data["nonce"],
            allowed_networks=data["allowed_networks"],
        )

    return _create_and_reveal(
        request,
        cluster,
        AdminKeyForm(request.POST, policy=policy_of(cluster.account)),
        template="apikeys/admin_create.html",
        model=AdminKey,
        create=create,
    )


# The account's key policy


@login_required
@require_http_methods(["GET", "POST"])
def key_policy(request, account_id):
    """Access Management → Key policy: every member reads it (the create forms show
    it anyway); owners (`write:account`) change it. Keys made before a rule are
    listed as breaking it, not revoked."""
    account = account_for(request, account_id, "read:account")
    policy = policy_of(account)
    form, status = KeyPolicyForm(instance=policy), 200
    if request.method == "POST":
        account_for(request, account_id, "write:account")
        require_recent_authentication(request)  # reading it needs no question
        form, status = KeyPolicyForm(request.POST, instance=policy_of(account)), 400
        if form.is_valid():
            key_policy_set(account=account, by=request.user, client_ip=client_ip(request),
                           **{field: form.cleaned_data[field] for field in form.Meta.fields})
            messages.success(request, "Saved the key policy. It applies to keys created from now on; "
                                      "the keys that break it are listed below.")
            return _see_other(reverse("apikeys:key-policy", kwargs={"account_id": account.id}))
    return render(request, "apikeys/key_policy.html",
                  {"account": account, "form": form, "breaking": keys_breaking(account, policy)}, status=status)
