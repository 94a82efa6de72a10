from datetime import UTC, datetime, time, timedelta

from django.db.models import Q, QuerySet

from audit.models import AuditEntry


def audit_entries(
    account, *, actor: str = "", action: str = "", target: str = "", since=None, until=None
) -> QuerySet[AuditEntry]:
    """The account's entries, newest first, narrowed by the log's filters.

    `actor` matches a username or a management key's name or prefix
    ("system" the entries of scheduled work); `target` an object's name or id;
    `since` and `until` are dates, both included, in UTC.
    """
    entries = AuditEntry.objects.filter(account=account)
    if actor:
        if actor.strip().lower() == "system":
            entries = entries.filter(actor_name="")
        else:
            entries = entries.filter(Q(actor_name__icontains=actor) | Q(via_key_name__icontains=actor))
    if action:
        entries = entries.filter(action=action)
    if target:
        entries = entries.filter(Q(target_name__icontains=target) | Q(target_id__iexact=target))
    if since:
        entries = entries.filter(created_at__gte=datetime.combine(since, time.min, tzinfo=UTC))
    if until:
        entries = entries.filter(created_at__lt=datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC))
    return entries
