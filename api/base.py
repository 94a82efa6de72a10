"""What every method of the management API shares: JSON in and out, who the
caller is, and which account and permission a request is about.

Order of checks, the same for every method: authenticated (else 401
UNAUTHENTICATED), an account the caller is a member of — and, for a management
key, the key's own account (else 404 NOT_FOUND, as for an id that does not
exist) — then the permission the spec names for the method (else 403
PERMISSION_DENIED), then the input (400 INVALID_ARGUMENT) and the objects it
names (404 NOT_FOUND).
"""

import uuid

from django.conf import settings
from rest_framework import exceptions, parsers, renderers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from accounts.access import membership_for
from accounts.models import Membership
from api.authentication import ManagementKeyAuthentication, SessionAuthentication
from audit.context import acting_key, no_acting_key
from api.errors import InvalidArgument
from api.fields import snake_case
from managementkeys.models import ManagementKey
from managementkeys.scope import acting_membership, cluster_filter, cluster_refusal, missing_permission_message


class JSONRenderer(renderers.JSONRenderer):
    # Escaped: a lone surrogate read from client JSON (echoed in a message)
    # cannot make the response fail to encode.
    ensure_ascii = True


class JSONParser(parsers.JSONParser):
    """Reads the body as JSON whatever its Content-Type, as grpc-gateway does,
    within Django's body size limit; never raises anything but ParseError."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and length and length.isdigit() and int(length) > limit:
            raise exceptions.ParseError(f"The request body is larger than {limit} bytes.")
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None


class JSONOnly(DefaultContentNegotiation):
    """Always JSON, whatever Accept says (grpc-gateway ignores it too)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def parse_uuid(value, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidArgument(f"{field}: must be an identifier in GUID format.") from None


def query_param(request, name: str) -> str | None:
    """A query parameter by its lowerCamelCase or its snake_case name."""
    value = request.query_params.get(name)
    if value is None:
        value = request.query_params.get(snake_case(name))
    if value is not None and "\x00" in value:
        # PostgreSQL cannot compare text with NUL in it: refuse it here, not with a 500.
        raise InvalidArgument(f"{name}: must not contain NUL characters.")
    return value


class AccountView(APIView):
    """A method of the API on an account, `accounts/{accountId}/...` in its path.

    `permissions` maps each HTTP method to the permission the spec requires
    for it ("Required permissions:" in the swagger files); None means any
    member ("authenticated only"). A method the path does not serve answers
    405, but only to a caller who holds a permission of the path: to anyone
    else it is 403, so a viewer learns nothing more from a wrong method.
    """

    permissions: dict[str, str | None] = {}

    authentication_classes = [ManagementKeyAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    content_negotiation_class = JSONOnly
    # OPTIONS is not a method of the API: 405, and not in `Allow`.
    http_method_names = ["get", "post", "delete", "head"]

    account = None
    membership: Membership | None = None
    key: ManagementKey | None = None  # the management key of the request, if it came with one

    def check_cluster(self, cluster_id) -> None:
        """PERMISSION_DENIED, naming the cluster, when the request's key may not touch it."""
        refusal = cluster_refusal(self.key, cluster_id)
        if refusal:
            raise exceptions.PermissionDenied(refusal)

    def cluster_scope(self) -> dict:
        """Lookups narrowing the account's clusters to those the request may touch."""
        return cluster_filter(self.key)

    def dispatch(self, request, *args, **kwargs):
        with no_acting_key():  # whatever a key does in this request, the audit log names it
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        account_id = parse_uuid(kwargs["account_id"], "accountId")
        key = getattr(request, "auth", None)
        # A management key acts in its own account only: any other is as unknown as a made-up id.
        if getattr(key, "account_id", account_id) != account_id:
            raise exceptions.NotFound("No such account.")
        self.key = key
        # Through a key, the creator's membership bounded by the key's permissions.
        self.membership = acting_membership(membership_for(request, account_id), key)
        self.account = self.membership.account
        self._check_permission(request.method)
        # Read the body now, for every method the path serves: a malformed one
        # is INVALID_ARGUMENT even where the handler would not look at it (a
        # restart must not run on `{{{`). A method it does not serve stays 405.
        if hasattr(self, request.method.lower()):
            request.data  # noqa: B018 - parses, or raises ParseError
        if key is not None:
            acting_key.set(key)

    def _check_permission(self, method: str) -> None:
        held = self.membership.permissions
        method = "GET" if method == "HEAD" else method
        if method in self.permissions:
            needed = self.permissions[method]
            if needed is not None and needed not in held:
                raise exceptions.PermissionDenied(missing_permission_message(self.membership, needed))
        elif not any(needed is None or needed in held for needed in self.permissions.values()):
            raise exceptions.PermissionDenied(
                f"Permission denied: the {self.membership.get_role_display()} role has no permission on this path."
            )
