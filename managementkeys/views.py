"""Access Management → Management keys: list by prefix, create (shown once), delete.

The key is minted inside the POST that creates it and shown in that POST's
response (Cache-Control: no-store); only its prefix and a digest are stored,
so no later request can show it again.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import account_for
from managementkeys.selectors import account_management_key, account_management_keys
from managementkeys.services import management_key_create, management_key_delete


class SecretText(str):
    """The key in a template context: renders as itself, reprs as stars, since
    Django puts reprs of a context in some log records and error reports."""

    def __repr__(self) -> str:
        return "'********'"


@login_required
@require_GET
def key_list(request, account_id):
    account = account_for(request, account_id, "read:management_keys")
    keys = account_management_keys(account)
    return render(request, "managementkeys/list.html", {"account": account, "keys": keys})


@login_required
@require_http_methods(["GET", "POST"])
@sensitive_variables("plaintext")
def key_create(request, account_id):
    """GET explains what the key will be able to do; POST creates it and shows it once."""
    account = account_for(request, account_id, "write:management_keys")
    context = {"account": account, "membership": request.membership}
    if request.method == "GET":
        return render(request, "managementkeys/create.html", context)
    key, plaintext = management_key_create(account=account, by=request.user)
    response = render(
        request,
        "managementkeys/reveal.html",
        context | {"key": key, "plaintext": SecretText(plaintext), "api_base": request.build_absolute_uri("/api")},
    )
    add_never_cache_headers(response)  # no-store: the key stays in no cache, not even the browser's
    return response


@login_required
@require_http_methods(["GET", "POST"])
def key_delete(request, account_id, management_key_id):
    """GET asks for confirmation; POST deletes the key."""
    account = account_for(request, account_id, "delete:management_keys")
    key = account_management_key(account, management_key_id)
    if request.method == "POST":
        management_key_delete(key=key, by=request.user)
        messages.success(
            request, f"Deleted the management key {key.prefix}…. Requests with it are refused from now on."
        )
        return redirect("managementkeys:list", account_id=account.id)
    return render(request, "managementkeys/delete.html", {"account": account, "key": key})
