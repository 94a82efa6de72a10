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
        return {}
    membership = getattr(request, "membership", None)
    match = request.resolver_match
    return {
        "nav_section": _NAV_SECTIONS.get(match.app_name if match else "", ""),
        "memberships": Membership.objects.filter(user=request.user).select_related("account").order_by("account__name"),
        "current_account": membership.account if membership else None,
        "perms_here": membership.permissions if membership else frozenset(),
    }
