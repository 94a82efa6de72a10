import math

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone
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


def login_locked_out(request, original_response=None, credentials=None):
    """settings.AXES_LOCKOUT_CALLABLE: the login page again, 429, saying when to retry."""
    from accounts.login_throttle import lockout_ends_at
    from audit.services import client_ip

    username = (credentials or {}).get("username") or request.POST.get("username")
    ends_at = lockout_ends_at(username=username, client_ip=client_ip(request)) or timezone.now()
    seconds = max(1, math.ceil((ends_at - timezone.now()).total_seconds()))
    form = AuthenticationForm(request, initial={"username": username})
    message = (
        "Too many failed logins for this username or from your address. "
        f"Try again after {ends_at:%H:%M:%S} UTC (in {math.ceil(seconds / 60)} min)."
    )
    response = render(
        request,
        "registration/login.html",
        {"form": form, "lockout_message": message, "next": request.POST.get("next", "")},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


class LogoutView(auth_views.LogoutView):
    """Logging out is a POST with CSRF; `/logout/` typed in the address bar
    (a GET) shows a page with the button instead of a blank 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        return render(request, "registration/logout.html")
