"""`Authorization: apikey <management key>`, as Qdrant Cloud's management API reads it.

The key acts as the user who created it, in the key's account only, with the
permissions that user's membership has at the time of the request: a creator
who left the account (or was deactivated) leaves a key that authenticates
nobody. Unknown keys and wrong secrets get the same answer. A key used from
outside its allowed networks is PERMISSION_DENIED, naming the address.
"""

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

KEYWORD = b"apikey"
INVALID = "The management key is not valid."


class ManagementKeyAuthentication(authentication.BaseAuthentication):
    @method_decorator(sensitive_variables("plaintext", "parts"))
    def authenticate(self, request):
        from audit.services import client_ip
        from managementkeys.scope import address_allowed
        from managementkeys.services import (
            management_key_authenticate,
            management_key_failure_note,
            management_key_lockout_seconds,
        )

        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None  # not ours: the session may still authenticate the caller
        # Too many wrong keys from this address: no key is looked at, the right
        # one included, until the window ends (else guessing goes on in the dark).
        ip = client_ip(request)
        wait = management_key_lockout_seconds(ip)
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait,
                # DRF appends "Expected available in N seconds."
                detail="Too many requests with a wrong management key from this address.",
            )
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the header as `Authorization: apikey <management key>`.")
        try:
            plaintext = parts[1].decode("ascii")
        except UnicodeDecodeError:
            management_key_failure_note(ip)
            raise exceptions.AuthenticationFailed(INVALID) from None
        key = management_key_authenticate(plaintext)
        if key is None:
            management_key_failure_note(ip)
            raise exceptions.AuthenticationFailed(INVALID)
        if key.is_expired:
            raise exceptions.AuthenticationFailed("The management key has expired.")
        if not key.creator_is_member or not key.created_by.is_active:
            raise exceptions.AuthenticationFailed(
                "The management key is no longer valid: its creator is not an active member of its account."
            )
        if not address_allowed(key, ip):
            # The right key from the wrong place: it is no guess, so no failure is counted.
            raise exceptions.PermissionDenied(
                f"Permission denied: the management key {key.audit_name} may not be used from {ip}."
            )
        return key.created_by, key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401, not 403, to a request without credentials.
        return "apikey"


class SessionAuthentication(authentication.SessionAuthentication):
    """The console's session, for the browsable docs; CSRF still applies to changes."""


class ManagementKeyScheme(OpenApiAuthenticationExtension):
    target_class = ManagementKeyAuthentication
    name = "managementKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Paste the management key only: these docs send it as `Authorization: apikey <key>` "
            "(other clients send that header in full). Create one under Access Management → Management keys, "
            "or with `manage.py create_management_key`.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = SessionAuthentication
    name = "consoleSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
