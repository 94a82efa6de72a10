from audit.models import Action, AuditEntry


def audit_record(
    *, account, action: Action, target, actor=None, client_ip: str | None = None, detail: str = ""
) -> AuditEntry:
    """Writes one audit entry; `target` is any model with `id` and `name` (or `audit_name`)."""
    return AuditEntry.objects.create(
        account=account,
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        action=action,
        target_type=target._meta.model_name,
        # Members are named by their public id; integer keys never leave the database.
        target_id=str(getattr(target, "public_id", None) or target.id),
        target_name=(getattr(target, "audit_name", None) or getattr(target, "name", ""))[:255],
        client_ip=client_ip,
        detail=detail[:255],
    )


def client_ip(request) -> str | None:
    """The caller's address. REMOTE_ADDR only: X-Forwarded-For is client-controlled
    unless a trusted proxy sets it, and this console does not assume one."""
    return request.META.get("REMOTE_ADDR") or None
