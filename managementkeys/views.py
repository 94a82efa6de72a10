"""Access Management → Management keys: list by prefix, create (shown once), delete.

The key is minted inside the POST that creates it and shown in that POST's
response (Cache-Control: no-store); only its prefix and a digest are stored,
so no later request can show it again. The create form carries a one-time
nonce that the new key records (unique), through the same service as
apikeys' create forms (createonce/): a repeated POST (a reload of
the reveal page, a double click) is sent to the list with a message that the
key was already created, instead of minting a second key unnoticed.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import account_for, require_recent_authentication
from apikeys.forms import add_service_error
from apikeys.policy import CREATE_PERMISSION, EDIT_PERMISSION, MANAGEMENT
from audit.services import client_ip
from createonce.forms import new_nonce
from createonce.secret_text import SecretText
from createonce.services import create_once, repeated
from managementkeys.forms import MANAGEMENT_SERVICE_FIELDS, ManagementKeyForm, ManagementKeyRenameForm
from managementkeys.models import ManagementKey
from managementkeys.access import management_key_for
from managementkeys.selectors import account_management_keys, listed_with_scope
from managementkeys.services import management_key_create, management_key_delete, management_key_rename

USED_ELSEWHERE = "This form was already used in another account. Submit it again."


@login_required
@require_GET
def key_list(request, account_id):
    account = account_for(request, account_id, "read:management_keys")
    keys = listed_with_scope(account, account_management_keys(account))
    return render(request, "managementkeys/list.html", {"account": account, "keys": keys})


@login_required
@require_http_methods(["GET", "POST"])
@sensitive_variables("plaintext", "outcome")
def key_create(request, account_id):
    """GET explains what the key will be able to do; POST creates it and shows it once."""
    account = account_for(request, account_id, CREATE_PERMISSION[MANAGEMENT])
    require_recent_authentication(request)
    context = {"account": account, "membership": request.membership}
    scope_of_form = {"held": request.membership.permissions, "account": account}
    if request.method == "GET":
        form = ManagementKeyForm(**scope_of_form)
        return _no_store(render(request, "managementkeys/create.html", context | {"form": form}))

    form = ManagementKeyForm(request.POST, **scope_of_form)
    scope = {"account_id": account.id}
    used = repeated(ManagementKey, request.POST.get("nonce"), scope)
    outcome = None
    if used is None and form.is_valid():
        data = form.cleaned_data
        try:
            outcome = create_once(
                ManagementKey,
                nonce=data["nonce"],
                scope=scope,
                create=lambda: management_key_create(
                    account=account,
                    by=request.user,
                    name=data["name"],
                    expires_at=data["expires_at"],
                    nonce=data["nonce"],
                    client_ip=client_ip(request),
                    permissions=data["permissions"],
                    cluster_ids=data["cluster_ids"],
                    allowed_networks=data["allowed_networks"],
                ),
            )
        except ValidationError as error:
            add_service_error(form, error, MANAGEMENT_SERVICE_FIELDS)  # next to its field; nothing was made
    if outcome is not None:
        if outcome.secret is not None:
            plaintext = outcome.secret
            return _no_store(
                render(
                    request,
                    "managementkeys/reveal.html",
                    context
                    | {"key": outcome.key, "plaintext": SecretText(plaintext),
                       "api_base": request.build_absolute_uri("/api")},
                )
            )
        if outcome.elsewhere:
            form.add_error("nonce", USED_ELSEWHERE)
        else:
            used = outcome.key

    if used is not None:
        messages.info(
            request,
            f"The management key {used.name} ({used.prefix}…) was already created with this form and can no longer be shown. "
            "If it was not stored, delete it and create a new one.",
        )
        response = redirect("managementkeys:list", account_id=account.id)
        response.status_code = 303  # the browser follows with a GET, and a reload repeats the GET
        return response
    # Forged, or used in another account: hand out a fresh nonce with the errors.
    form.data = form.data.copy()
    form.data["nonce"] = new_nonce()
    return _no_store(render(request, "managementkeys/create.html", context | {"form": form}, status=400))


def _no_store(response: HttpResponse) -> HttpResponse:
    # A create form restored from the back/forward cache would post a used
    # nonce; the reveal page must stay in no cache, not even the browser's.
    add_never_cache_headers(response)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def key_rename(request, account_id, management_key_id):
    """GET shows the name; POST saves a new one (the key itself stays)."""
    account, key = management_key_for(request, account_id, management_key_id, EDIT_PERMISSION[MANAGEMENT])
    form, status = ManagementKeyRenameForm(initial={"name": key.name}), 200
    if request.method == "POST":
        form, status = ManagementKeyRenameForm(request.POST), 400
        if form.is_valid():
            try:
                management_key_rename(key=key, name=form.cleaned_data["name"], by=request.user,
                                      client_ip=client_ip(request))
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Renamed the management key {key.prefix}… to {key.name}.")
                return redirect("managementkeys:list", account_id=account.id)
    return render(request, "managementkeys/rename.html", {"account": account, "key": key, "form": form},
                  status=status)


@login_required
@require_http_methods(["GET", "POST"])
def key_delete(request, account_id, management_key_id):
    """GET asks for confirmation; POST deletes the key."""
    account, key = management_key_for(request, account_id, management_key_id, "delete:management_keys")
    if request.method == "POST":
        management_key_delete(key=key, by=request.user, client_ip=client_ip(request))
        messages.success(
            request, f"Deleted the management key {key.name} ({key.prefix}…). Requests with it are refused from now on."
        )
        return redirect("managementkeys:list", account_id=account.id)
    return render(request, "managementkeys/delete.html", {"account": account, "key": key})
