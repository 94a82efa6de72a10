"""The contract's HTTP end on the console (keyset/wire.py): what the fronts ask, answered as JSON.

Authenticated by the front's credential alone (no session, no CSRF: nothing
here acts on a browser's cookies). A wrong, unknown or revoked credential
gets 401, the same for all three.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import wraps

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from audit.services import client_ip
from fronts import rows, selectors
from fronts.credentials import front_contact, front_for
from keyset import wire


def _refused(message: str, status: int = 401) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def contract_view(view):
    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        front = front_for(credential) if scheme.lower() == "bearer" else None
        if front is None:
            return _refused("A valid front credential is required (KEYSET_CREDENTIAL).")
        applied = request.headers.get(wire.APPLIED_HEADER, "")
        instance = request.headers.get(wire.INSTANCE_HEADER, "")[:300] or "unnamed"
        front_contact(front=front, instance=instance, address=client_ip(request),
                      applied=int(applied) if applied.isdigit() else None)
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@contract_view
def snapshot(request):
    return JsonResponse(selectors.snapshot())


def _ids(text: str) -> list[int] | None:
    try:
        return [int(part) for part in text.split(",") if part]
    except ValueError:
        return None


@require_GET
@contract_view
def changes(request):
    after = _ids(request.GET.get("after", "0"))
    also = _ids(request.GET.get("also", ""))
    if after is None or len(after) != 1 or also is None:
        return _refused("`after` is one change id, `also` a comma-separated list of ids.", 400)
    return JsonResponse(selectors.changes(after[0], also))


@require_POST
@contract_view
def ack(request):
    return JsonResponse({"ok": True})  # contract_view noted the X-Front-Applied it carries


@require_POST
@contract_view
def last_used(request):
    try:
        uses = json.loads(request.body)
        parsed = [(kind, key_id, datetime.fromtimestamp(float(when), UTC), ip, protocol)
                  for kind, key_id, when, ip, protocol in uses]
        if any(kind not in ("database", "admin") or protocol not in ("rest", "grpc") for kind, _, _, _, protocol in parsed):
            raise ValueError
    except (ValueError, TypeError):
        return _refused("The body is a list of [kind, key id, when, ip, protocol].", 400)
    with transaction.atomic():
        for kind, key_id, when, ip, protocol in parsed:
            rows.record_last_used(kind, key_id, when, ip, protocol, interval_seconds=wire.LAST_USED_INTERVAL_SECONDS)
    return JsonResponse({"ok": True})
