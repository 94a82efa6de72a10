from django.conf import settings

from accounts.models import Membership

# Which item of the left navigation each app's pages belong to.
_NAV_SECTIONS = {
    "clusters": "clusters",
    "apikeys": "apikeys",
    "accounts": "access",
    "audit": "access",
    "managementkeys": "access",
}


def accounts(request) -> dict:
    """The header's account switcher and the permissions the page may show buttons for."""
    if not request.user.is_authenticated:
        return {"signup_open": settings.SIGNUP == "open"}
    membership = getattr(request, "membership", None)
    match = request.resolver_match
    memberships = Membership.objects.filter(user=request.user).select_related("account", "custom_role").order_by("account__name")
    account = membership.account if membership else None
    if account is None and match and "account_id" in match.kwargs:
        # A 404 inside an account the user belongs to (e.g. a deleted key)
        # keeps that account's navigation; it grants nothing (no perms_here).
        account = next((m.account for m in memberships if str(m.account_id) == str(match.kwargs["account_id"])), None)
    return {
        "nav_section": _nav_section(match),
        "memberships": memberships,
        "current_account": account,
        "perms_here": membership.permissions if membership else frozenset(),
    }


def _nav_section(match) -> str:
    if match is None:
        return ""
    # A cluster's key pages (create, reveal, a key, delete) are under Clusters,
    # as their breadcrumb says; only the account-wide list is "API Keys".
    if match.app_name == "apikeys" and "cluster_id" in match.kwargs:
        return "clusters"
    return _NAV_SECTIONS.get(match.app_name, "")
