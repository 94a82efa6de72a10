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
        logger.error("Database unavailable on %s %s: %s", request.method, request.path, exception)
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "5"
        return response
