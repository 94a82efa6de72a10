"""Signing in, as an account sees it: a new account made by its first owner,
single sign-on users joining an account, the second factor an owner may
require, second-factor events in the audit log, and sessions ended.

django-allauth does the flows themselves (accounts/adapters.py); this module
holds the console's rules around them.
"""

import hashlib
import hmac

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Account, Membership
from accounts.roles import Role
from accounts.services import end_sessions
from audit.models import Action
from audit.services import audit_record, client_ip

# The kinds of authenticator that are a second factor; recovery codes only back one up.
SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


@transaction.atomic
def account_create(*, name: str, by, client_ip: str | None = None) -> Account:
    """A new account (organisation), owned by the user who made it."""
    account = Account(name=name.strip())
    account.full_clean()
    account.save()
    Membership.objects.create(account=account, user=by, role=Role.OWNER)
    audit_record(account=account, action=Action.ACCOUNT_CREATED, target=account, actor=by, client_ip=client_ip)
    return account


def sso_join(*, user, request) -> None:
    """A user new to the console, come by single sign-on, joins OIDC_JOIN_ACCOUNT."""
    account = Account.objects.filter(name=settings.OIDC_JOIN_ACCOUNT).first() if settings.OIDC_JOIN_ACCOUNT else None
    if account is None:
        return
    membership = Membership.objects.create(account=account, user=user, role=Role(settings.OIDC_JOIN_ROLE))
    audit_record(
        account=account, action=Action.MEMBER_JOINED, target=membership, actor=user, client_ip=client_ip(request),
        detail="by single sign-on",
    )


def has_second_factor(user) -> bool:
    return Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).exists()


def second_factor_missing(user) -> bool:
    """True when an account of the user requires a second factor and they have none."""
    required = Membership.objects.filter(user=user, account__require_second_factor=True).exists()
    return required and not has_second_factor(user)


# When accounts/middleware.py last did a session's upkeep (in the session).
UPKEEP_SEEN = "console_seen_at"


def upkeep_now(request) -> None:
    """The next request redoes the upkeep (a second factor removed, a requirement set)."""
    request.session.pop(UPKEEP_SEEN, None)


def users_with_second_factor(users) -> set[int]:
    """The ids of those of `users` who have a second factor (the members page)."""
    return set(
        Authenticator.objects.filter(user__in=users, type__in=SECOND_FACTORS).values_list("user_id", flat=True)
    )


@transaction.atomic
def second_factor_requirement_set(*, account: Account, required: bool, by, client_ip: str | None = None) -> None:
    updated = Account.objects.filter(pk=account.pk).exclude(require_second_factor=required).update(
        require_second_factor=required
    )
    account.require_second_factor = required
    if updated:
        action = Action.SECOND_FACTOR_REQUIRED if required else Action.SECOND_FACTOR_NOT_REQUIRED
        audit_record(account=account, action=action, target=account, actor=by, client_ip=client_ip)


def user_event(*, user, action: Action, request, detail: str = "", actor=None) -> None:
    """An event of a user's own sign-in (a second factor added, a wrong code...),
    in the audit log of every account they belong to."""
    ip = client_ip(request) if request is not None else None
    for membership in user.memberships.select_related("account"):
        audit_record(
            account=membership.account, action=action, target=user, actor=actor or user, client_ip=ip, detail=detail
        )


def sessions_of(user) -> list[UserSession]:
    """The user's sessions that are still open, newest activity first."""
    return sorted(UserSession.objects.purge_and_list(user), key=lambda s: s.last_seen_at, reverse=True)


def session_ref(session: UserSession) -> str:
    """A session's name in the page: a digest of its key, which is a secret
    (it is the cookie), and not its integer primary key."""
    return hashlib.sha256(session.session_key.encode()).hexdigest()[:24]


def device(user_agent: str) -> str:
    """"Chrome on Android" from a User-Agent header, as the sessions page shows it."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "A browser")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    return f"{browser} on {system}" if system else browser


# Order matters: Edge and Chrome both say Safari, Chrome says Safari too.
_BROWSERS = [("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl")]
_SYSTEMS = [("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("Linux", "Linux")]


def session_end(*, user, ref: str, request) -> UserSession | None:
    """Ends one of the user's own sessions; None if there is no such session."""
    for session in UserSession.objects.filter(user=user):
        if hmac.compare_digest(session_ref(session), ref):
            session.end()
            user_event(user=user, action=Action.SESSIONS_ENDED, request=request, detail=device(session.user_agent))
            return session
    return None


def member_sessions_end(*, membership: Membership, by, client_ip: str | None = None) -> int:
    """An owner ends every session of a member (as removing them would)."""
    if membership.user_id == by.pk:
        raise ValidationError("End your own sessions on your Sessions page.")
    ended = end_sessions(membership.user)
    UserSession.objects.filter(user=membership.user).delete()
    audit_record(
        account=membership.account, action=Action.SESSIONS_ENDED, target=membership, actor=by, client_ip=client_ip,
        detail=f"{ended} session{'s' if ended != 1 else ''}",
    )
    return ended


# django-allauth's signals (connected in accounts/apps.py).

_KIND = {Authenticator.Type.TOTP: "authenticator app", Authenticator.Type.WEBAUTHN: "security key",
         Authenticator.Type.RECOVERY_CODES: "recovery codes"}


def on_logged_in(sender, request, user, **kwargs) -> None:
    """A login is a fresh authentication: dangerous actions in the next
    REAUTHENTICATION_MINUTES do not ask again (allauth counts only explicit
    re-authentications; GitHub's sudo mode counts the login too)."""
    from allauth.account.internal.flows.login import (
        AUTHENTICATION_METHODS_SESSION_KEY,
        get_authentication_records,
        record_authentication,
    )

    records = get_authentication_records(request, user)
    if records:
        records[-1]["reauthenticated"] = True
        request.session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    else:  # a login outside allauth's flows (an invitee's sign-up)
        record_authentication(request, user, "login", reauthenticated=True)


def on_authenticator_added(sender, request, user, authenticator, **kwargs) -> None:
    user_event(user=user, action=Action.SECOND_FACTOR_ADDED, request=request, detail=_KIND[authenticator.type])


def on_authenticator_removed(sender, request, user, authenticator, **kwargs) -> None:
    upkeep_now(request)
    user_event(user=user, action=Action.SECOND_FACTOR_REMOVED, request=request, detail=_KIND[authenticator.type])


def on_authenticator_reset(sender, request, user, authenticator, **kwargs) -> None:
    user_event(user=user, action=Action.RECOVERY_CODES_RENEWED, request=request)


def on_authenticator_used(sender, request, user, authenticator, **kwargs) -> None:
    if authenticator.type == Authenticator.Type.RECOVERY_CODES:
        authenticator.refresh_from_db()  # allauth marked the code used on a copy
        left = len(authenticator.wrap().get_unused_codes())
        user_event(user=user, action=Action.RECOVERY_CODE_USED, request=request, detail=f"{left} left")


def on_authentication_failed(sender, request, user, authenticator, **kwargs) -> None:
    # Whoever typed the code is not known to be the user (as a wrong password).
    ip = client_ip(request) if request is not None else None
    for membership in user.memberships.select_related("account"):
        audit_record(
            account=membership.account, action=Action.SECOND_FACTOR_FAILED, target=user, client_ip=ip,
            actor_name="unknown",
        )


def on_password_changed(sender, request, user, **kwargs) -> None:
    user_event(user=user, action=Action.PASSWORD_CHANGED, request=request, detail="other sessions ended")
