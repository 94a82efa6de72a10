from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import account_for


@login_required
@require_GET
def audit_log(request, account_id):
    account = account_for(request, account_id, "read:audit_logs")
    entries = account.audit_entries.all()
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "audit/log.html", {"account": account, "page": page})
