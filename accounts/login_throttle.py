"""The login throttle's bookkeeping around django-axes (settings: LOGIN_FAILURE_LIMIT,
LOGIN_LOCKOUT_MINUTES): when a lockout ends, and what goes to the audit log.

Axes counts failures per username and per client IP in its AccessAttempt rows
(one per username, IP and user agent, stamped with the last failure) and
refuses a login while either count is at the limit within the cool-off after
its last failure. Audit entries go to every account of the user named: a
failed login, and the lockout once as it starts. Attempts refused during a
lockout are not recorded by axes and get no audit entry either (a flood must
not fill the log); an unknown username has no account, only a log line.
"""

import logging
import math
from datetime import datetime

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Max, Sum
from django.utils import timezone

from audit.models import Action

logger = logging.getLogger(__name__)


def lockout_ends_at(*, username: str | None, client_ip: str | None) -> datetime | None:
    """When the lockout of this username or this IP ends; None if neither is locked."""
    cool_off = get_cool_off()
    since = timezone.now() - cool_off
    ends = []
    for lookup in ({"username": username}, {"ip_address": client_ip}):
        if next(iter(lookup.values())) is None:
            continue
        recent = AccessAttempt.objects.filter(attempt_time__gte=since, **lookup).aggregate(
            failures=Sum("failures_since_start"), last=Max("attempt_time")
        )
        if (recent["failures"] or 0) >= settings.AXES_FAILURE_LIMIT:
            ends.append(recent["last"] + cool_off)
    return max(ends, default=None)


def lockout_message(request, username: str | None) -> str:
    """What the login page (and the second-factor page) says to a locked-out user."""
    from audit.services import client_ip

    ends_at = lockout_ends_at(username=username, client_ip=client_ip(request)) or timezone.now()
    minutes = max(1, math.ceil((ends_at - timezone.now()).total_seconds() / 60))
    return (
        "Too many failed logins for this username or from your address. "
        f"Try again after {ends_at:%H:%M:%S} UTC (in {minutes} min)."
    )


def _refused_while_locked(request) -> bool:
    # Axes sets axes_failures_since_start only when it recorded the failure;
    # a login it refused for a lockout already in force leaves it None.
    return bool(getattr(request, "axes_locked_out", False)) and getattr(request, "axes_failures_since_start", None) is None


def _audit(*, action: Action, username: str | None, request) -> None:
    from audit.services import audit_record, client_ip

    ip = client_ip(request) if request is not None else None
    user = get_user_model().objects.filter(username=username).first() if username else None
    logger.warning("%s: username %r from %s", action.label, username, ip)
    if user is None:
        return
    for membership in user.memberships.select_related("account"):
        # Whoever typed the wrong password is not known to be that user.
        audit_record(account=membership.account, action=action, target=user, target_name=username, client_ip=ip,
                     actor_name="unknown")


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """django.contrib.auth's user_login_failed."""
    if request is None or _refused_while_locked(request):
        return
    _audit(action=Action.LOGIN_FAILED, username=credentials.get("username"), request=request)


def on_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    """axes' user_locked_out: sent as the lockout starts and again for each refused attempt."""
    if _refused_while_locked(request):
        return
    _audit(action=Action.LOGIN_LOCKED_OUT, username=username, request=request)
