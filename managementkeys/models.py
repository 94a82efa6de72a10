"""Management keys: the credentials of the management API (`Authorization: apikey <key>`).

A key is `<prefix>.<secret>`. Only the prefix (a non-secret lookup id, shown in
lists) and an HMAC-SHA256 digest of the whole key under a numbered pepper are
stored (createonce/digests.py digests it, as it does database API keys).

A key is scoped (managementkeys/scope.py): it holds a subset of the Qdrant
Cloud permission strings its creator held when it was made (or, unscoped,
whatever its creator's role holds at each request), optionally a list
of the account's clusters it may touch and the networks it may be used from.
At each request it acts with its permissions that its creator still holds, so
it loses them when the creator loses the membership or the role.
"""

import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import Membership
from accounts.roles import PERMISSIONS
from apikeys.models import (
    KEY_NAME_MESSAGE,
    KEY_NAME_PATTERN,
    MAX_EXPIRY_DAYS,
    validate_future_expiry,
    validate_networks,
)

PREFIX_LENGTH = 12  # hex characters: 48 random bits, enough for a unique lookup id
PREFIX_PATTERN = re.compile(rf"\A[0-9a-f]{{{PREFIX_LENGTH}}}\Z")
SECRET_BYTES = 32  # 256 bits from `secrets`


class ManagementKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="management_keys")
    # The key acts as this user; without the user it could do nothing, so it goes too.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="management_keys")
    created_at = models.DateTimeField(default=timezone.now)
    # Named and expiring as database API keys are (same rules, same limits).
    name = models.CharField(
        max_length=128, validators=[MinLengthValidator(4), RegexValidator(KEY_NAME_PATTERN, KEY_NAME_MESSAGE)]
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    # HMAC-SHA256 (hex) of the whole key under settings.API_KEY_PEPPERS[pepper_id].
    digest = models.CharField(max_length=64, editable=False)
    pepper_id = models.PositiveIntegerField(editable=False)
    # Written at most once a minute per key (see services.LAST_USED_EVERY).
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The console's create form's one-time value (as apikeys' keys have): a
    # repeated POST of the same form finds this key instead of minting a second.
    nonce = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    # The scope, fixed for the life of the key (scope.py checks it on every use).
    # JSON lists, not PostgreSQL arrays: the embedded default database is SQLite.
    # Permission strings of accounts.roles.PERMISSIONS, in that order; None:
    # whatever its creator's role holds at each request (keys made before
    # scopes, and through the API without `permissions`, as Qdrant Cloud's are).
    permissions = models.JSONField(null=True, blank=True)
    # Ids (strings) of the clusters the key may touch; empty: every cluster of
    # the account. Ids, not a many-to-many: deleting the only listed cluster
    # must leave a key that touches nothing, not one that touches everything.
    cluster_ids = models.JSONField(default=list, blank=True)
    # CIDRs the key may be used from; empty: anywhere.
    allowed_networks = models.JSONField(default=list, blank=True, validators=[validate_networks])

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.account}"

    @property
    def audit_name(self) -> str:
        """What the audit log calls the key: its name and prefix, e.g. "ci deploy (3f9a0c1b2d4e…)"."""
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def permission_set(self) -> frozenset[str]:
        """What the key holds, before its creator's role bounds it."""
        return frozenset(PERMISSIONS) if self.permissions is None else frozenset(self.permissions)

    def clean(self) -> None:
        if self.expires_at is not None and self._state.adding:
            created = self.created_at or timezone.now()
            validate_future_expiry(self.expires_at, now=created)
            if self.expires_at > created + timedelta(days=MAX_EXPIRY_DAYS):
                raise ValidationError({"expires_at": f"At most {MAX_EXPIRY_DAYS} days (10 years) from now."})

        if (
            self.account_id
            and self.created_by_id
            and not Membership.objects.filter(account_id=self.account_id, user_id=self.created_by_id).exists()
        ):
            raise ValidationError({"created_by": "Only a member of the account can create a management key for it."})


class ManagementKeyFailure(models.Model):
    """Wrong management keys from one client IP in one window of
    LOGIN_LOCKOUT_MINUTES (services.management_key_failure_note): in the
    database, so every web worker counts the same failures."""

    client_ip = models.GenericIPAddressField()
    window_start = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_ip", "window_start"], name="one_count_per_ip_and_window")]


class KeyMembership(Membership):
    """The creator's membership as a management key acts with it: its
    `permissions` are those of the creator's role at this moment that the
    key also holds. The management API puts it where a member's membership
    goes, so every check that reads `membership.permissions` (a method's
    permission, "no one gives a role more than they hold") is bounded by
    the key as well as by the role.
    """

    class Meta:
        proxy = True

    key: ManagementKey

    @property
    def permissions(self) -> frozenset[str]:
        return super().permissions & self.key.permission_set

    @property
    def role_permissions(self) -> frozenset[str]:
        """What the creator's role holds now, whatever the key holds."""
        return super().permissions
