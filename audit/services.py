from django.conf import settings

from audit.context import acting_key
from audit.models import Action, AuditEntry
from keyset.client_address import client_address, wsgi_headers


def audit_record(
    *,
    account,
    action: Action,
    target,
    actor=None,
    client_ip: str | None = None,
    detail: str = "",
    actor_name: str | None = None,
    target_name: str | None = None,
) -> AuditEntry:
    """Writes one audit entry; `target` is any model with `id` and `name` (or `audit_name`).

    `actor` is the user who acted, None for the system (scheduled work). When
    the request came through the management API with a management key of that
    user, the entry names the key too (audit/context.py).
    """
    key = acting_key.get()
    via = key if key is not None and actor is not None and key.created_by_id == actor.pk else None
    return AuditEntry.objects.create(
        account=account,
        actor=actor,
        actor_name=actor_name if actor_name is not None else (actor.get_username() if actor else ""),
        via_key=via,
        via_key_name=via.audit_name if via else "",
        action=action,
        target_type=target._meta.model_name,
        # Members by their public id, users by username: integer keys never leave the database.
        target_id=str(
            getattr(target, "public_id", None)
            or (target.get_username() if hasattr(target, "get_username") else target.id)
        ),
        target_name=(
            target_name
            if target_name is not None
            else getattr(target, "audit_name", None) or getattr(target, "name", "") or str(target)
        )[:255],
        client_ip=client_ip,
        detail=detail,
    )


def client_ip(request) -> str | None:
    """The caller's address, by the front's rule (keyset/client_address.py): the
    peer, or what X-Forwarded-For says when the peer is one of TRUSTED_PROXIES."""
    meta = request.META
    return client_address(meta.get("REMOTE_ADDR") or None, wsgi_headers(meta), settings.TRUSTED_PROXIES)


def login_record(*, user, request) -> None:
    """A login, in the audit log of every account the user belongs to."""
    for membership in user.memberships.select_related("account"):
        audit_record(
            account=membership.account, action=Action.LOGIN, target=user, actor=user, client_ip=_ip(request)
        )


def _ip(request) -> str | None:
    return client_ip(request) if request is not None else None


def audit_prune(*, before) -> int:
    """Removes entries older than `before` (AUDIT_RETENTION_DAYS); returns how many."""
    return AuditEntry.objects.prune_before(before)
