from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.access import account_for
from accounts.models import Membership
from accounts.roles import PERMISSIONS, ROLE_PERMISSIONS, Role


@login_required
@require_GET
def dashboard(request):
    """The console's front door: the clusters of the user's first account."""
    membership = Membership.objects.filter(user=request.user).select_related("account").order_by("account__name").first()
    if membership is None:
        return render(request, "accounts/no_account.html")
    return redirect("clusters:list", account_id=membership.account_id)


@login_required
@require_GET
def access_management(request, account_id):
    account = account_for(request, account_id, "read:users")
    members = account.memberships.select_related("user").order_by("user__username")
    roles = [
        {"name": role.label, "permissions": sorted(ROLE_PERMISSIONS[role], key=list(PERMISSIONS).index)} for role in Role
    ]
    return render(request, "accounts/access.html", {"account": account, "members": members, "roles": roles})
