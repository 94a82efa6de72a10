"""Access Management → Members and Roles: the members of an account,
invitations, their roles and removal; the account's custom roles; the public
page where an invitation is accepted; and the login pages' own views
(lockout, log-out by GET)."""

import logging
import math

from allauth.account import views as allauth_views
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import account_for, require_recent_authentication
from accounts.forms import CustomRoleForm, InvitationSecretForm, InviteForm, LoginForm, RoleForm, SignUpForm, role_value
from accounts.models import Invitation, Membership, role_permissions
from accounts.roles import Role, permission_groups
from accounts.selectors import account_roles, role_member_counts
from accounts.services import (
    INVITATION_VALID_FOR,
    LAST_OWNER,
    custom_role_create,
    custom_role_delete,
    custom_role_holders,
    custom_role_update,
    invitation_accept,
    invitation_create,
    invitation_for_link,
    invitation_revoke,
    invitation_sign_up,
    may_grant,
    member_change_role,
    member_remove,
    wrong_invitee,
)
from accounts.signin import member_sessions_end, second_factor_requirement_set, upkeep_now, users_with_second_factor
from audit.services import client_ip
from createonce.forms import new_nonce
from createonce.secret_text import SecretText
from createonce.services import create_once, repeated

logger = logging.getLogger(__name__)


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
    """Members, with their role and last login, and the pending invitations."""
    account = account_for(request, account_id, "read:users")
    members = account.memberships.select_related("user", "custom_role").order_by("user__username")
    invitations = [i for i in account.invitations.select_related("invited_by", "custom_role") if i.is_pending()]
    owners = sum(1 for m in members if m.role == Role.OWNER)
    context = {
        "account": account,
        "members": members,
        "invitations": invitations,
        "owners": owners,
        "with_second_factor": users_with_second_factor([m.user_id for m in members]),
        "is_owner": request.membership.role == Role.OWNER,
    }
    return render(request, "accounts/access.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def second_factor_requirement(request, account_id):
    """POST (owners): require a second factor of every member, or stop
    requiring it, which is dangerous and asks for re-authentication."""
    account = account_for(request, account_id, "write:users")
    if request.method == "GET":
        return redirect("accounts:access", account_id=account.id)
    if request.membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can require a second factor of every member.")
    required = request.POST.get("required") == "on"
    if not required:
        require_recent_authentication(request)
    second_factor_requirement_set(account=account, required=required, by=request.user, client_ip=client_ip(request))
    upkeep_now(request)  # an owner without a second factor is sent to add one at once
    if required:
        messages.success(request, "Every member now needs a second factor: those without one are sent to add one first.")
    else:
        messages.success(request, "Members no longer need a second factor.")
    return redirect("accounts:access", account_id=account.id)


@login_required
@require_http_methods(["GET", "POST"])
def member_sessions_end_view(request, account_id, member_id):
    """POST (owners): log a member out everywhere."""
    account = account_for(request, account_id, "delete:users")
    member = _member(account, member_id)
    if request.method == "GET":
        return redirect("accounts:member-edit", account_id=account.id, member_id=member.public_id)
    if request.membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can end a member's sessions.")
    try:
        ended = member_sessions_end(membership=member, by=request.user, client_ip=client_ip(request))
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, f"Ended {ended} session{'s' if ended != 1 else ''} of {member.name}.")
    return redirect("accounts:access", account_id=account.id)


def _member(account, member_id) -> Membership:
    return get_object_or_404(account.memberships.select_related("user", "account", "custom_role"), public_id=member_id)


@login_required
@require_http_methods(["GET", "POST"])
@sensitive_variables("outcome")
def member_invite(request, account_id):
    """GET asks for an address and a role; POST invites, emails the link and shows it once.

    Once: the form's nonce (createonce/) makes a reload of "Invitation sent"
    find the invitation it made, instead of sending a new link that would
    silently revoke the first.
    """
    account = account_for(request, account_id, "write:users")
    scope = {"account_id": account.id}
    if request.method == "POST" and (used := repeated(Invitation, request.POST.get("nonce"), scope)) is not None:
        return _already_sent(request, account, used)
    # "Send again" on a pending invitation opens the form filled in with its address and role.
    again = {name: request.GET[name] for name in ("email", "role") if name in request.GET}
    form = InviteForm(request.POST or None, granter=request.membership, initial=again)
    if request.method == "POST" and form.is_valid():
        try:
            outcome = create_once(
                Invitation,
                nonce=form.cleaned_data["nonce"],
                scope=scope,
                create=lambda: invitation_create(
                    account=account,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    by=request.user,
                    client_ip=client_ip(request),
                    nonce=form.cleaned_data["nonce"],
                ),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if outcome.elsewhere:
                form.add_error("nonce", "This form was already used in another account. Check the values and send again.")
            elif outcome.secret is None:
                return _already_sent(request, account, outcome.key)
            else:
                return _reveal_invitation(request, account, outcome.key, outcome.secret)
    if "nonce" in form.errors:
        form.data = form.data.copy()
        form.data["nonce"] = new_nonce()
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/invite.html", {"account": account, "form": form}, status=status)


def _already_sent(request, account, invitation: Invitation):
    """A repeated POST of the invite form: nothing new is sent, and the link is not shown again."""
    messages.info(
        request,
        f"The invitation to {invitation.email} was sent already: no new link was sent, and its link is shown only once.",
    )
    return redirect("accounts:access", account_id=account.id)


@sensitive_variables("secret", "link")
def _reveal_invitation(request, account, invitation: Invitation, secret: str):
    """Emails the new link and shows it, this once."""
    # The secret rides in the fragment: browsers never send it, so no
    # access log sees it when the invitee opens the link.
    link = request.build_absolute_uri(reverse("invitation", args=[invitation.id])) + "#" + secret
    sent = _send_invitation(invitation, link)
    response = render(
        request,
        "accounts/invite_sent.html",
        {"account": account, "invitation": invitation, "link": SecretText(link), "sent": sent},
    )
    add_never_cache_headers(response)
    return response


@sensitive_variables("link")
def _send_invitation(invitation: Invitation, link: str) -> bool:
    context = {"invitation": invitation, "link": link, "days": INVITATION_VALID_FOR.days}
    try:
        send_mail(
            subject=f"You are invited to {invitation.account.name} on Vector Console",
            message=render_to_string("accounts/invitation_email.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except Exception:  # the inviter still has the link to pass on
        # Names the invitation, never the link: the link is the secret.
        logger.exception("Could not email invitation %s", invitation.id)
        return False
    return True


@login_required
@require_http_methods(["GET", "POST"])
def member_edit(request, account_id, member_id):
    """GET shows the member's role; POST changes it."""
    account = account_for(request, account_id, "write:users")
    member = _member(account, member_id)
    require_recent_authentication(request)
    form = RoleForm(request.POST or None, granter=request.membership, initial={"role": role_value(member.held_role)})
    if request.method == "POST" and form.is_valid():
        try:
            member_change_role(
                membership=member, role=form.cleaned_data["role"], by=request.membership, client_ip=client_ip(request)
            )
        except ValidationError as error:
            form.add_error(None, error.messages[0] if not hasattr(error, "error_dict") else error.message_dict["role"])
        else:
            messages.success(request, f"{member.name} is now {member.get_role_display()} of {account.name}.")
            return redirect("accounts:access", account_id=account.id)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/member_edit.html", {"account": account, "member": member, "form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def member_remove_view(request, account_id, member_id):
    """GET asks for confirmation; POST removes the member."""
    account = account_for(request, account_id, "delete:users")
    member = _member(account, member_id)
    require_recent_authentication(request)
    # The last owner cannot go: say so before asking to confirm (the service refuses it either way).
    error = LAST_OWNER if member.role == Role.OWNER and not account.memberships.filter(
        role=Role.OWNER).exclude(pk=member.pk).exists() else None
    if request.method == "POST" and error is None:
        try:
            member_remove(membership=member, by=request.membership, client_ip=client_ip(request))
        except ValidationError as exc:
            error = exc.messages[0]
        else:
            if member.user_id == request.user.pk:
                return redirect("login")  # they removed themselves, and their session went too
            messages.success(request, f"Removed {member.name} from {account.name}. Their sessions have ended.")
            return redirect("accounts:access", account_id=account.id)
    return render(
        request,
        "accounts/member_remove.html",
        {"account": account, "member": member, "error": error},
        status=400 if error and request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def invitation_revoke_view(request, account_id, invitation_id):
    account = account_for(request, account_id, "write:users")
    invitation = get_object_or_404(account.invitations, id=invitation_id)
    if request.method == "POST":
        invitation_revoke(invitation=invitation, by=request.user, client_ip=client_ip(request))
        messages.success(request, f"Revoked the invitation to {invitation.email}. Its link no longer works.")
        return redirect("accounts:access", account_id=account.id)
    return render(request, "accounts/invitation_revoke.html", {"account": account, "invitation": invitation})


@login_required
@require_GET
def role_list(request, account_id):
    """The system roles and the account's custom roles, each with what its permissions allow."""
    account = account_for(request, account_id, "read:roles")
    counts = role_member_counts(account)
    mine = request.membership.held_role
    roles = [
        _role_card(role, counts.get(role, 0), mine) | {"changeable": may_grant(request.membership, role)}
        for role in account_roles(account)
    ]
    return render(request, "accounts/roles.html", {"account": account, "roles": roles})


@login_required
@require_GET
def my_role(request, account_id):
    """The caller's own role and what it allows, for every member (as IAM's
    ListEffectivePermissions needs no permission): a custom role may lack read:roles."""
    account = account_for(request, account_id, None)
    mine = request.membership.held_role
    return render(request, "accounts/my_role.html", {"account": account, "r": _role_card(mine, None, mine)})


def _role_card(role, members: int | None, mine) -> dict:
    """What templates/accounts/_role_card.html shows of a role."""
    return {
        "role": role,
        "custom": not isinstance(role, Role),
        "name": role.label if isinstance(role, Role) else role.name,
        "description": role.description,
        "members": members,
        "yours": role == mine,
        "groups": [g for g in permission_groups(role_permissions(role)) if any(p["held"] for p in g["permissions"])],
    }


def _custom_role(account, role_id):
    return get_object_or_404(account.custom_roles, id=role_id)


def _role_form_page(request, account, form, role=None, status=200):
    held = form["permissions"].value() or []
    context = {"account": account, "form": form, "role": role, "groups": permission_groups(set(held))}
    return render(request, "accounts/role_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def role_create(request, account_id):
    account = account_for(request, account_id, "write:roles")
    require_recent_authentication(request)
    form = CustomRoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            role = custom_role_create(account=account, **form.cleaned_data, by=request.membership, client_ip=client_ip(request))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Created the role {role.name}. Give it to members under Members → Change role.")
            return redirect("accounts:roles", account_id=account.id)
    return _role_form_page(request, account, form, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def role_edit(request, account_id, role_id):
    account = account_for(request, account_id, "write:roles")
    role = _custom_role(account, role_id)
    require_recent_authentication(request)
    initial = {"name": role.name, "description": role.description, "permissions": role.permissions}
    form = CustomRoleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            role = custom_role_update(role=role, **form.cleaned_data, by=request.membership, client_ip=client_ip(request))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Saved the role {role.name}. Its members have the new permissions from their next request.")
            return redirect("accounts:roles", account_id=account.id)
    return _role_form_page(request, account, form, role, status=400 if request.method == "POST" else 200)


@login_required
@require_http_methods(["GET", "POST"])
def role_delete(request, account_id, role_id):
    """GET asks for confirmation (and says if the role is in use); POST deletes it."""
    account = account_for(request, account_id, "delete:roles")
    role = _custom_role(account, role_id)
    require_recent_authentication(request)
    error = None
    if request.method == "POST":
        try:
            custom_role_delete(role=role, by=request.membership, client_ip=client_ip(request))
        except ValidationError as exc:  # in use, or more than the caller holds
            error = exc.messages[0]
        else:
            messages.success(request, f"Deleted the role {role.name}.")
            return redirect("accounts:roles", account_id=account.id)
    members, invitations = custom_role_holders(role)
    return render(
        request,
        "accounts/role_delete.html",
        {"account": account, "role": role, "error": error, "members": members, "invitations": invitations},
        status=400 if error else 200,
    )


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("secret", "password1", "password2")
@sensitive_variables("secret")
def invitation(request, invitation_id):
    """Where an invitation link leads: what it is, then join as the logged-in user, or sign up.

    The link's secret is in the fragment, which the server never sees: GET
    answers a page whose script posts it (`step=open`, static/accounts/
    invitation.js). Only a right secret shows the invitation: its account,
    who invited, the role and the address, or why it no longer works (used,
    revoked, expired), with no form to fill in; an unknown id and a wrong
    secret get one message, so the page tells no one which ids exist.
    """
    signed_in = request.user.is_authenticated
    context = {"signed_in": signed_in, "invitation_id": invitation_id}
    if request.method == "GET":
        return _invitation_page(request, context | {"form": InvitationSecretForm(), "opening": True})

    secret = request.POST.get("secret", "")
    found, ended = invitation_for_link(invitation_id, secret)
    if ended:
        return _invitation_page(request, context | {"ended": ended}, status=400)
    context["invitation"] = found
    refusal = wrong_invitee(found, request.user) if signed_in else None
    if refusal:
        return _invitation_page(request, context | {"refusal": refusal}, status=400)
    form_class = InvitationSecretForm if signed_in else SignUpForm
    if request.POST.get("step") == "open":
        return _invitation_page(request, context | {"form": form_class(initial={"secret": ""})})

    form = form_class(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                if signed_in:
                    user = request.user
                    membership = invitation_accept(
                        invitation_id=invitation_id, secret=secret, user=user, client_ip=client_ip(request)
                    )
                else:
                    user = invitation_sign_up(
                        invitation_id=invitation_id,
                        secret=secret,
                        username=form.cleaned_data["username"],
                        password=form.cleaned_data["password1"],
                        client_ip=client_ip(request),
                    )
                    membership = user.memberships.get()
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if not signed_in:
                login(request, user, backend="allauth.account.auth_backends.AuthenticationBackend")
            messages.success(request, f"You joined {membership.account.name} as {membership.get_role_display()}.")
            return redirect("clusters:list", account_id=membership.account_id)
    return _invitation_page(request, context | {"form": form}, status=400)


def _invitation_page(request, context: dict, status: int = 200):
    response = render(request, "accounts/invitation.html", context, status=status)
    add_never_cache_headers(response)
    return response


def login_locked_out(request, original_response=None, credentials=None):
    """settings.AXES_LOCKOUT_CALLABLE: the login page again, 429, saying when to retry."""
    from accounts.login_throttle import lockout_ends_at, lockout_message

    username = (credentials or {}).get("username") or request.POST.get("username")
    ends_at = lockout_ends_at(username=username, client_ip=client_ip(request)) or timezone.now()
    seconds = max(1, math.ceil((ends_at - timezone.now()).total_seconds()))
    form = LoginForm(request=request, initial={"login": username})
    message = lockout_message(request, username)
    response = render(
        request,
        "account/login.html",
        {"form": form, "lockout_message": message, "next": request.POST.get("next", "")},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


class LoginView(allauth_views.LoginView):
    """allauth's login. Its single sign-on buttons post to the console, which
    redirects to the provider: the Content-Security-Policy's form-action
    must allow the provider's origin for the browser to follow."""

    def dispatch(self, request, *args, **kwargs):
        request.csp_form_action = sso_origins()
        return super().dispatch(request, *args, **kwargs)


def sso_origins() -> list[str]:
    """The origins of the configured OpenID Connect providers' issuers."""
    from urllib.parse import urlsplit

    apps = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])
    origins = (urlsplit(app["settings"]["server_url"]) for app in apps)
    return sorted({f"{url.scheme}://{url.netloc}" for url in origins})


class LogoutView(auth_views.LogoutView):
    """Logging out is a POST with CSRF; `/logout/` typed in the address bar
    (a GET) shows a page with the button instead of a blank 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        return render(request, "registration/logout.html")
