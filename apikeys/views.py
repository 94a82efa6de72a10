from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import account_for
from clusters.selectors import clusters_of


@login_required
@require_GET
def account_keys(request, account_id):
    account = account_for(request, account_id, "read:api_keys")
    return render(request, "apikeys/account_list.html", {"account": account, "clusters": clusters_of(account)})
