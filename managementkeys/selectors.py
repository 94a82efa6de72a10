import re

from django.db.models import Exists, OuterRef, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Membership
from apikeys.forms import NONCE_PATTERN
from managementkeys.models import ManagementKey


def _with_creator_membership(keys: QuerySet[ManagementKey]) -> QuerySet[ManagementKey]:
    """Annotates `creator_is_member`: whether the key still has anyone to act as."""
    return keys.annotate(
        creator_is_member=Exists(Membership.objects.filter(account=OuterRef("account"), user=OuterRef("created_by")))
    )


def account_management_keys(account) -> QuerySet[ManagementKey]:
    return _with_creator_membership(ManagementKey.objects.filter(account=account).select_related("created_by"))


def account_management_key(account, key_id) -> ManagementKey:
    """A key of this account; 404 for any other id."""
    return get_object_or_404(account_management_keys(account), id=key_id)


def management_key_by_prefix(prefix: str) -> ManagementKey | None:
    """The key with this prefix, its account and creator, in one query."""
    return (
        _with_creator_membership(ManagementKey.objects.filter(prefix=prefix))
        .select_related("account", "created_by")
        .first()
    )


def management_key_of_nonce(nonce) -> ManagementKey | None:
    """The key a console create form with this nonce already made, if any."""
    # Only a nonce of the form's own shape reaches the database: PostgreSQL
    # refuses text with a NUL byte, which would be a 500.
    if not isinstance(nonce, str) or not re.fullmatch(NONCE_PATTERN, nonce):
        return None
    return ManagementKey.objects.filter(nonce=nonce).first()
