from accounts.models import Membership


def accounts(request) -> dict:
    """The header's account switcher and the permissions the page may show buttons for."""
    if not request.user.is_authenticated:
        return {}
    membership = getattr(request, "membership", None)
    return {
        "memberships": Membership.objects.filter(user=request.user).select_related("account").order_by("account__name"),
        "current_account": membership.account if membership else None,
        "perms_here": membership.permissions if membership else frozenset(),
    }
