"""Logging filters of settings.LOGGING."""

import logging


class ForbiddenWithoutTraceback(logging.Filter):
    """A 403 (PermissionDenied, a refused CSRF check) and django.security's
    SuspiciousOperation are expected refusals: one line each, no traceback.
    Django logs them with the exception attached (django.request's
    log_response), which would write a traceback per refusal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in (400, 403) or record.name.startswith("django.security"):
            record.exc_info = None
            record.exc_text = None
        return True
