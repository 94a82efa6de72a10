"""Errors as grpc-gateway writes them: {"code": <gRPC code>, "message": ..., "details": []}.

The HTTP status is the one grpc-gateway maps the code to (spec/README.md).
Every exception a view of the API raises ends here, so no client input can
produce another shape, and anything unforeseen is INTERNAL (logged), never an
HTML page.
"""

import logging
from enum import IntEnum

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)


class Code(IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# grpc-gateway's runtime.HTTPStatusFromCode.
HTTP_STATUS = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


class ApiError(exceptions.APIException):
    """An error with its gRPC code; `message` is what the client reads."""

    code = Code.UNKNOWN

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(ApiError):
    code = Code.INVALID_ARGUMENT


class FailedPrecondition(ApiError):
    code = Code.FAILED_PRECONDITION


class NotFound(ApiError):
    code = Code.NOT_FOUND


class AlreadyExists(ApiError):
    code = Code.ALREADY_EXISTS


def error_body(code: Code, message: str) -> dict:
    return {"code": int(code), "message": message, "details": []}


def _messages(detail, path: str = ""):
    """DRF's nested error detail as "field.path: message" strings."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in (api_settings.NON_FIELD_ERRORS_KEY, "__all__"):
                sub = path
            elif isinstance(key, int):
                sub = f"{path}[{key}]"
            else:
                sub = f"{path}.{key}" if path else str(key)
            yield from _messages(value, sub)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            for item in detail:
                yield f"{path}: {item}" if path else str(item)
        else:  # a list serializer: one entry per item, empty for the valid ones
            for index, item in enumerate(detail):
                if item:
                    yield from _messages(item, f"{path}[{index}]")
    else:
        yield f"{path}: {detail}" if path else str(detail)


def validation_message(detail, prefix: str = "") -> str:
    return " ".join(_messages(detail, prefix)) or "The request is not valid."


def _classify(exc) -> tuple[Code, str, int | None]:
    """(gRPC code, message, HTTP status if not the code's own)."""
    if isinstance(exc, ApiError):
        return exc.code, exc.message, None
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        message = "Authenticate with the header `Authorization: apikey <management key>`."
        if isinstance(exc, exceptions.AuthenticationFailed):
            message = str(exc.detail)
        return Code.UNAUTHENTICATED, message, None
    if isinstance(exc, (exceptions.PermissionDenied, DjangoPermissionDenied)):
        return Code.PERMISSION_DENIED, str(getattr(exc, "detail", exc)) or "Permission denied.", None
    if isinstance(exc, (exceptions.NotFound, Http404)):
        return Code.NOT_FOUND, str(getattr(exc, "detail", exc)) or "Not found.", None
    if isinstance(exc, exceptions.MethodNotAllowed):
        # grpc-gateway answers a known path with an unknown method so.
        return Code.UNIMPLEMENTED, "Method Not Allowed", 405
    if isinstance(exc, exceptions.ValidationError):
        return Code.INVALID_ARGUMENT, validation_message(exc.detail), None
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Code.INVALID_ARGUMENT, validation_message(detail), None
    if isinstance(exc, (exceptions.ParseError, exceptions.UnsupportedMediaType, exceptions.NotAcceptable)):
        return Code.INVALID_ARGUMENT, str(exc.detail), None
    if isinstance(exc, exceptions.Throttled):
        return Code.RESOURCE_EXHAUSTED, str(exc.detail), None
    if isinstance(exc, OperationalError):
        # Locked past its timeout, or unreachable: the client may retry, and it is no bug.
        return Code.UNAVAILABLE, "The console's database is unavailable; retry in a moment.", None
    if isinstance(exc, exceptions.APIException):
        return Code.UNKNOWN, str(exc.detail), exc.status_code
    return Code.INTERNAL, "Internal error.", None


def exception_handler(exc, context):
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error in the gRPC status shape."""
    code, message, status = _classify(exc)
    view = context.get("view")
    if code == Code.INTERNAL:
        logger.error("Unhandled error in %s", type(view).__name__ if view else "the API", exc_info=exc)
    elif code == Code.UNAVAILABLE:
        logger.error("Database unavailable in %s: %s", type(view).__name__ if view else "the API", exc)
    set_rollback()
    response = Response(error_body(code, message), status=status or HTTP_STATUS[code])
    if getattr(exc, "auth_header", None):
        response["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        response["Retry-After"] = str(int(exc.wait))
    elif code == Code.UNAVAILABLE:
        response["Retry-After"] = "5"
    return response


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Any other path under /api/: NOT_FOUND in the same shape, not an HTML page."""
    return JsonResponse(error_body(Code.NOT_FOUND, "Not Found"), status=404)
