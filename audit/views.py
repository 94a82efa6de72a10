import csv

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import account_for
from audit.forms import AuditFilterForm
from audit.selectors import audit_entries

PER_PAGE = 50
CSV_COLUMNS = ["time_utc", "actor", "actor_kind", "management_key", "action", "target_type", "target", "target_id", "detail", "client_ip"]


@login_required
@require_GET
def audit_log(request, account_id):
    account = account_for(request, account_id, "read:audit_logs")
    form = AuditFilterForm(request.GET or None)
    entries = audit_entries(account, **form.filters())
    page = Paginator(entries, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "audit/log.html", {"account": account, "page": page, "form": form})


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@require_GET
def audit_export(request, account_id):
    """The entries the filters select, all of them, as CSV (streamed: a log can be long)."""
    account = account_for(request, account_id, "read:audit_logs")
    form = AuditFilterForm(request.GET or None)
    entries = audit_entries(account, **form.filters())
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for e in entries.iterator(chunk_size=500):
            yield writer.writerow(
                [
                    e.created_at.isoformat(),
                    _cell(e.actor_name or "system"),
                    e.actor_kind,
                    _cell(e.via_key_name),
                    e.action,
                    e.target_label,
                    _cell(e.target_name),
                    e.target_id,
                    _cell(e.detail),
                    e.client_ip or "",
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula (CSV
    # injection); names come from users, so such a cell is quoted as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
