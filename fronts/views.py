"""Two doors: the contract's HTTP end (keyset/wire.py), where the fronts ask
and are answered in JSON, and the operators' page listing the fronts.

The contract is authenticated by the front's credential alone (no session,
no CSRF: nothing there acts on a browser's cookies). A wrong, unknown or
revoked credential gets 401, the same for all three.

The page is for Django staff users (accounts.access.require_operator): the
fronts serve every account, so they belong to none; anyone else gets 404.
Revoking asks for a recent sign-in, like every dangerous action.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import wraps

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import require_operator, require_recent_authentication
from apikeys.usage import addresses_seen, usage_record
from audit.services import client_ip
from fronts import rows, selectors
from fronts.changelog import CONTACT_STALE_SECONDS
from fronts.credentials import front_contact, front_credential_revoke, front_for
from fronts.models import FrontCredential
from keyset import wire
from keyset.usage import valid_row

logger = logging.getLogger(__name__)


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
        address = client_ip(request)
        front_contact(front=front, instance=instance, address=address,
                      applied=int(applied) if applied.isdigit() else None)
        request.front, request.front_instance, request.front_address = front, instance, address
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@contract_view
def snapshot(request):
    return JsonResponse(selectors.snapshot(request.front))


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
    wait = _seconds(request.GET.get("wait", "0"))
    if after is None or len(after) != 1 or also is None or wait is None:
        return _refused("`after` is one change id, `also` a comma-separated list of ids, `wait` seconds.", 400)
    if wait:
        front = request.front

        def still_in_contact() -> bool:
            if not FrontCredential.objects.filter(id=front.id, revoked_at__isnull=True).exists():
                return False
            front_contact(front=front, instance=request.front_instance, address=request.front_address, applied=None)
            return True

        selectors.changes_wait(after=after[0], also=also, nodes=request.GET.get("nodes") or None, seconds=wait,
                               still_in_contact=still_in_contact)
        if not FrontCredential.objects.filter(id=front.id, revoked_at__isnull=True).exists():
            return _refused("A valid front credential is required (KEYSET_CREDENTIAL).")
    return JsonResponse(selectors.changes(after[0], also))


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value <= wire.MAX_WAIT_SECONDS else None


def _body(request) -> dict | None:
    try:
        body = json.loads(request.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _cluster_id(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@require_POST
@contract_view
def claim(request):
    body = _body(request)
    cluster_id = _cluster_id(body.get("cluster")) if body else None
    address = body.get("address") if body else None
    if cluster_id is None or not isinstance(address, str) or len(address) > 300:
        return _refused('The body is {"cluster": id, "address": "tcp://host:port" or ""}.', 400)
    owner = rows.embedded_claim(front=request.front.name, cluster_id=cluster_id, address=address)
    if owner is None:
        return _refused("No embedded cluster has this id.", 404)
    return JsonResponse({"front": owner.front, "address": owner.address})


@require_POST
@contract_view
def collections(request):
    body = _body(request)
    cluster_id = _cluster_id(body.get("cluster")) if body else None
    names = body.get("names") if body else None
    if cluster_id is None or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return _refused('The body is {"cluster": id, "names": [collection name, ...]}.', 400)
    if not rows.embedded_collections_report(front=request.front.name, cluster_id=cluster_id, names=names):
        return _refused("This front does not own the cluster's storage.", 409)
    return JsonResponse({"ok": True})


@require_POST
@contract_view
def ack(request):
    return JsonResponse({"ok": True})  # contract_view noted the X-Front-Applied it carries


@require_POST
@contract_view
def last_used(request):
    try:
        body = json.loads(request.body)
        # A bare list of uses: a front from before usage counts.
        uses, usage = (body, []) if isinstance(body, list) else (body["uses"], body["usage"])
        if not isinstance(usage, list) or not all(valid_row(row) for row in usage):
            raise ValueError
        parsed = [(kind, key_id, datetime.fromtimestamp(float(when), UTC), ip, protocol)
                  for kind, key_id, when, ip, protocol in uses]
        if any(kind not in ("database", "admin") or protocol not in ("rest", "grpc") for kind, _, _, _, protocol in parsed):
            raise ValueError
    except (ValueError, TypeError, KeyError):
        return _refused('The body is {"uses": [[kind, key id, when, ip, protocol], ...], '
                        '"usage": [[kind, key id, minute, protocol, outcome, reason, count, latency], ...]}.', 400)
    with transaction.atomic():
        for kind, key_id, when, ip, protocol in parsed:
            rows.record_last_used(kind, key_id, when, ip, protocol, interval_seconds=wire.LAST_USED_INTERVAL_SECONDS)
        addresses_seen([(kind, key_id, when, ip) for kind, key_id, when, ip, _ in parsed])
    if usage:
        usage_record(usage)
    return JsonResponse({"ok": True})


@login_required
@require_GET
def front_list(request):
    require_operator(request)
    fronts, latest = selectors.fronts_listed()
    return render(request, "fronts/list.html", {"fronts": fronts, "latest": latest,
                                                "stale_seconds": CONTACT_STALE_SECONDS})


@login_required
@require_http_methods(["GET", "POST"])
def front_revoke(request, front_id):
    """GET asks for confirmation; POST (after a recent sign-in) revokes the credential."""
    require_operator(request)
    front = get_object_or_404(FrontCredential, id=front_id, revoked_at__isnull=True)
    require_recent_authentication(request)
    if request.method == "POST":
        front_credential_revoke(name=front.name)
        logger.info("front credential %r revoked by %s", front.name, request.user.get_username())
        messages.success(request, f"Revoked the front credential {front.name}: the console refuses it from "
                                  "now on, and its fronts admit no key.")
        return redirect("fronts:list")
    return render(request, "fronts/revoke.html", {"front": front, "processes": front.instances.count()})
