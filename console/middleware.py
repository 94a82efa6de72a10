"""The UI shell's own middleware."""

import logging

from django.db import OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger("console.unavailable")


class DatabaseUnavailableMiddleware:
    """A database that is locked past its timeout or unreachable is a 503 page
    (retry later), not a 500 (a bug). Rendered without context processors,
    which would query the database again. The management API answers 503
    UNAVAILABLE itself (api/errors.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError):
            return None
        return database_unavailable(request, exception)


def database_unavailable(request, exception: OperationalError) -> HttpResponse:
    """The 503 page; also for a middleware that queries before any view runs
    (Django turns a middleware's exception into a 500 before an outer
    middleware could see it)."""
    logger.error("Database unavailable on %s %s: %s", request.method, request.path, exception)
    response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = "5"
    return response


# No inline script, no inline style, nothing from another origin; see
# docs/security.md, "Content-Security-Policy". `request.csp_connect_src` lets a view allow
# fetch() to more origins (the reveal page's "Test connection" calls the
# cluster's endpoint); `request.csp_form_action` lets a form lead to another
# origin (the login page's single sign-on button, redirected to the provider).
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def content_security_policy(**extra: list[str]) -> str:
    """The policy, with more sources for some directives (`connect_src=[...]`)."""
    policy = {name: list(sources) for name, sources in CONTENT_SECURITY_POLICY.items()}
    for name, sources in extra.items():
        policy.setdefault(name.replace("_", "-"), []).extend(sources)
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    """Sends the Content-Security-Policy on every response that has none of its own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(
                connect_src=list(getattr(request, "csp_connect_src", ())),
                form_action=list(getattr(request, "csp_form_action", ())),
            )
        return response
