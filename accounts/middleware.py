"""Per-request upkeep of a signed-in session, written at most once a minute:
the sessions page's last-seen time and address (allauth's UserSession), and
whether an account of the user requires a second factor they lack.

Both ride in the session, which every request of a signed-in user loads
anyway, so a page costs no extra query between two upkeeps (the query budget
tests hold; NetBox writes a token's last_used the same way).
"""

import time

from allauth.usersessions.models import UserSession
from django.db import OperationalError
from django.shortcuts import redirect

from accounts.signin import UPKEEP_SEEN, second_factor_missing
from console.middleware import database_unavailable

UPKEEP_SECONDS = 60
MISSING = "console_second_factor_missing"
# Where a member sent to enrol may still go: enrolment itself, the sign-in
# pages it needs, logging out, static files.
_OPEN_PREFIXES = ("/auth/", "/logout/", "/static/")


class SignedInSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            refusal = self._check(request)
        except OperationalError as exception:
            return database_unavailable(request, exception)
        return refusal or self.get_response(request)

    def _check(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and request.session.session_key:
            self._upkeep(request, user)
            if request.session.get(MISSING) and not request.path.startswith(_OPEN_PREFIXES):
                # Asked again on each request while missing: the one that
                # follows enrolment goes through.
                request.session[MISSING] = second_factor_missing(user)
                if request.session[MISSING]:
                    return redirect("mfa_activate_totp")
        return None

    def _upkeep(self, request, user) -> None:
        now = time.time()
        if now - request.session.get(UPKEEP_SEEN, 0) < UPKEEP_SECONDS:
            return
        UserSession.objects.create_from_request(request)
        request.session[UPKEEP_SEEN] = now
        request.session[MISSING] = second_factor_missing(user)

