"""Who may reach a management key from a view: accounts/access.py's rule, one object down."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from accounts.access import account_for
from accounts.models import Account
from managementkeys.models import ManagementKey
from managementkeys.selectors import account_management_keys


def management_key_for(request: HttpRequest, account_id, key_id, perm: str) -> tuple[Account, ManagementKey]:
    """The account and its key, if the caller is a member with `perm`: 404 for
    outsiders and for any other id, 403 for the role."""
    account = account_for(request, account_id, perm)
    return account, get_object_or_404(account_management_keys(account), id=key_id)
