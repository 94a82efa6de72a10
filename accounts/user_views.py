"""The signed-in user's own pages: the profile (with links to allauth's
password, email and second-factor pages), their sessions, and creating an account."""

from allauth.account.models import EmailAddress
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.forms import AccountCreateForm
from accounts.signin import account_create, device, has_second_factor, session_end, session_ref, sessions_of
from audit.services import client_ip


@login_required
@require_GET
def profile(request):
    user = request.user
    context = {
        "emails": EmailAddress.objects.filter(user=user).order_by("-primary", "email"),
        "second_factor": has_second_factor(user),
        "sessions": len(sessions_of(user)),
        "memberships": user.memberships.select_related("account", "custom_role").order_by("account__name"),
    }
    return render(request, "accounts/profile.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def account_create_view(request):
    """A new account (organisation) of which the user is the owner."""
    form = AccountCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = account_create(name=form.cleaned_data["name"], by=request.user, client_ip=client_ip(request))
        except ValidationError as error:
            form.add_error("name", error.message_dict.get("name", error.messages))
        else:
            messages.success(request, f"Created the account {account.name}. You are its owner.")
            return redirect("clusters:list", account_id=account.id)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/account_create.html", {"form": form}, status=status)


@login_required
@require_GET
def session_list(request):
    """Where the user is signed in: device, address, last seen; each can be ended."""
    sessions = [
        {"ref": session_ref(s), "device": device(s.user_agent), "session": s,
         "current": s.session_key == request.session.session_key}
        for s in sessions_of(request.user)
    ]
    return render(request, "accounts/sessions.html", {"sessions": sessions})


@login_required
@require_http_methods(["GET", "POST"])
def session_end_view(request, ref):
    if request.method == "GET":
        return redirect("sessions")
    ended = session_end(user=request.user, ref=ref, request=request)
    if ended is None:
        raise Http404("No such session.")
    if ended.session_key == request.session.session_key:
        logout(request)  # they ended the session they were using
        return redirect("login")
    messages.success(request, "The session has ended: that browser is logged out.")
    return redirect("sessions")
