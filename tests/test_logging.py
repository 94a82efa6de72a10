"""A 403 is one line in the log, without a traceback."""

import logging

from django.urls import reverse

from console.log_filters import ForbiddenWithoutTraceback


def test_a_403_is_logged_in_one_line_without_a_traceback(client_of, viewer, account, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client_of(viewer).get(reverse("clusters:create", kwargs={"account_id": account.id}))
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage().startswith("Forbidden")
    assert record.exc_info is None
    assert "Traceback" not in caplog.text and "\n" not in caplog.text.strip()


def test_the_consoles_log_handler_writes_refusals_without_a_traceback():
    [handler] = [h for h in logging.getLogger().handlers if any(isinstance(f, ForbiddenWithoutTraceback) for f in h.filters)]
    try:
        raise PermissionError("no")
    except PermissionError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("django.security.DisallowedHost", logging.ERROR, __file__, 1, "Invalid host", None, exc_info)
    assert handler.filter(record)
    assert "Traceback" not in handler.format(record)
