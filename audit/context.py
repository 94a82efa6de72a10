"""Which management key, if any, the current request acts through.

The services that write audit entries take the acting user (`by=`) as the
console and the API both call them; the API alone knows that a management
key stands behind that user. Rather than thread the key through every
service signature, the API's base view sets it here for the length of the
request (api/base.py) and audit_record reads it. A ContextVar, so threads and
async tasks each see their own request's value.
"""

from contextlib import contextmanager
from contextvars import ContextVar

acting_key: ContextVar = ContextVar("acting_management_key", default=None)


@contextmanager
def no_acting_key():
    """Runs a request with no key set, and forgets any key set inside it."""
    token = acting_key.set(None)
    try:
        yield
    finally:
        acting_key.reset(token)
