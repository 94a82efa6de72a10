"""The one place that decides who may see and do what in an account.

Outsiders get 404 (they must not learn that an account or its objects
exist); members whose role lacks the permission get 403.
"""

from allauth.account.internal.flows.reauthentication import (
    is_reauthentication_required,
    raise_if_reauthentication_required,
)
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from accounts.models import Account, Membership


def membership_for(request: HttpRequest, account_id) -> Membership:
    """The caller's membership of the account, cached on the request."""
    cache = request.__dict__.setdefault("_memberships", {})
    key = str(account_id)
    if key not in cache:
        try:
            cache[key] = Membership.objects.select_related("account", "custom_role").get(
                account_id=account_id, user_id=request.user.pk
            )
        except (Membership.DoesNotExist, ValueError):
            raise Http404("No such account.") from None
    return cache[key]


def account_for(request: HttpRequest, account_id, perm: str | None) -> Account:
    """The account, if the caller is a member whose role holds `perm` (None: any member)."""
    membership = membership_for(request, account_id)
    if perm is not None and perm not in membership.permissions:
        # The 403 page shows this message: which permission, and which role lacks it.
        request.membership = membership  # the page keeps the account's navigation
        raise PermissionDenied(
            f"This needs the permission {perm}, which your role ({membership.get_role_display()}) "
            f"in {membership.account.name} does not have."
        )
    request.membership = membership
    return membership.account


def can(request: HttpRequest, perm: str) -> bool:
    """For templates: may the caller do this in the account the page is about?"""
    membership = getattr(request, "membership", None)
    return bool(membership and perm in membership.permissions)


def require_recent_authentication(request: HttpRequest, *, form_holds_secret: bool = False) -> None:
    """For what is dangerous (GitHub's sudo mode): unless the caller entered
    their password or a second factor in the last REAUTHENTICATION_MINUTES
    (a login counts, accounts/signin.on_logged_in), raises allauth's
    ReauthenticationRequired. Its middleware shows the re-authentication
    page and then carries on with this very request, a POST included.
    Called after the access check, so an outsider still gets 404 first.
    The management API never comes here: its caller is a management key.

    allauth carries a POST on by keeping it in the session until the password
    is given; a form that holds a secret (a cluster's master key) must not be
    kept there, so with `form_holds_secret` such a POST comes back as its
    page, empty, once the caller has confirmed it is them."""
    if form_holds_secret and request.method == "POST" and is_reauthentication_required(request, app="accounts"):
        request.method = "GET"  # allauth's suspend_request keeps only a POST
    raise_if_reauthentication_required(request, app="accounts")


def require_operator(request: HttpRequest) -> None:
    """For what belongs to no account but to whoever runs the console (the
    fronts): Django staff users only. Everyone else gets 404, as an outsider
    does for an account's objects: a member of an account learns nothing of
    the infrastructure serving every account."""
    if not request.user.is_staff:
        raise Http404("No such page.")
