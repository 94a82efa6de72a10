"""The keys that open a cluster's endpoint: database API keys and admin keys.

A database API key is a JWT a cluster's Qdrant accepts once JWT RBAC is on,
with granular access rules. An admin key is a legacy cluster's random secret
with full (manage) access to that cluster, the role of Qdrant's own `api_key`.

Only what identifies and describes a key is stored, never the key itself: its
id, name, expiry, creator, a postfix of the key and an HMAC digest of it under
a pepper with an id (see apikeys/tokens.py), for both kinds alike.
"""

import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

MAX_RULES = 20
MAX_EXPIRY_DAYS = 3650
POSTFIX_LENGTH = 6
DESCRIPTION_MAX_LENGTH = 500

# Qdrant Cloud's rules for key names and collection names (qdrant-auth.md).
KEY_NAME_PATTERN = r"\A[A-Za-z0-9 _-]+\Z"
COLLECTION_NAME_PATTERN = re.compile(r"\A[A-Za-z0-9_.-]{1,255}\Z")
KEY_NAME_MESSAGE = "Use only letters, digits, spaces, underscores (_) and dashes (-)."
COLLECTION_NAME_MESSAGE = "A collection name is 1–255 letters, digits, dots (.), underscores (_) or dashes (-)."


class ClusterAccess(models.TextChoices):
    """A cluster-wide rule: the `access` claim is this value itself."""

    MANAGE = "m", "Manage/Write"
    READ_ONLY = "r", "Read-only"


class CollectionAccess(models.TextChoices):
    """A collection rule: `{"collection": c, "access": <this value>}` in the claim."""

    READ_ONLY = "r", "Read-only"
    READ_WRITE = "rw", "Read-write"


def validate_rules(rules) -> None:
    """Access rules as stored: one cluster-wide rule, or 1–20 rules for distinct collections.

    A rule is `{"collection": None, "access": "m"|"r"}` (cluster-wide) or
    `{"collection": NAME, "access": "r"|"rw"}`: Qdrant Cloud's
    database_api_key.v2 rules, which map one to one onto the `access` claim.
    """
    if not isinstance(rules, list) or not rules:
        raise ValidationError("A key needs at least one access rule.")
    if len(rules) > MAX_RULES:
        raise ValidationError(f"A key has at most {MAX_RULES} access rules.")
    if any(not isinstance(rule, dict) or set(rule) != {"collection", "access"} for rule in rules):
        raise ValidationError('Each access rule is {"collection": ..., "access": ...}.')
    cluster_wide = [rule for rule in rules if rule["collection"] is None]
    if cluster_wide:
        if len(rules) != 1:
            raise ValidationError("A cluster-wide rule is the only rule of its key.")
        if cluster_wide[0]["access"] not in ClusterAccess.values:
            raise ValidationError("Cluster-wide access is Manage/Write or Read-only.")
        return
    names = [rule["collection"] for rule in rules]
    for rule in rules:
        if not isinstance(rule["collection"], str) or not COLLECTION_NAME_PATTERN.match(rule["collection"]):
            raise ValidationError(COLLECTION_NAME_MESSAGE)
        if rule["access"] not in CollectionAccess.values:
            raise ValidationError("Collection access is Read-only or Read-write.")
    if len(set(names)) != len(names):
        raise ValidationError("Each collection appears in at most one rule.")


class KeyQuerySet(models.QuerySet):
    def live(self) -> "KeyQuerySet":
        """Keys not deleted: the ones lists show and the data plane accepts."""
        return self.filter(revoked_at__isnull=True)


EXPIRY_MESSAGE = (
    f"A key expires at most {MAX_EXPIRY_DAYS} days (10 years) after it is created; "
    "give no expiry for a key that never expires."
)


def validate_expiry(expires_at, *, created_at) -> None:
    """The one expiry rule of every key, whichever way it is created (the console's
    form, the management API): none, or at most MAX_EXPIRY_DAYS after creation."""
    if expires_at is not None and expires_at > created_at + timedelta(days=MAX_EXPIRY_DAYS):
        raise ValidationError({"expires_at": EXPIRY_MESSAGE})


class IssuedKey(models.Model):
    """What both kinds of key record: everything but the key itself.

    The data plane reads these columns by name (dataplane/keystore.py,
    dataplane/lastused.py): `digest`, `pepper_id`, `expires_at`, `revoked_at`,
    `last_used_at`, `last_used_ip`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(
        max_length=128, validators=[MinLengthValidator(4), RegexValidator(KEY_NAME_PATTERN, KEY_NAME_MESSAGE)]
    )
    # What the key is for, in the user's words; editable, like the name, without a new secret.
    description = models.CharField(max_length=DESCRIPTION_MAX_LENGTH, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    postfix = models.CharField(max_length=POSTFIX_LENGTH)
    # HMAC-SHA256 (hex) of the key under settings.API_KEY_PEPPERS[pepper_id].
    digest = models.CharField(max_length=64)
    pepper_id = models.PositiveIntegerField()
    # The create form's one-time value: a repeated POST of the same form (a
    # reload, a double click) finds this key instead of minting a second one.
    nonce = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    # Deleting a key keeps its row as the record that its id is revoked.
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = KeyQuerySet.as_manager()

    # What pages call the kind, and the URL names and anchor of its pages.
    kind: str
    kind_label: str
    kind_with_article: str
    url_prefix: str
    url_kwarg: str
    list_anchor: str

    class Meta:
        abstract = True
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} (…{self.postfix})"

    def clean(self) -> None:
        super().clean()
        validate_expiry(self.expires_at, created_at=self.created_at or timezone.now())

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def expires_in_days(self) -> int | None:
        """Whole days (rounded up) until a key expires within the first reminder's
        window, for the "Expires in 6 days" badge; None otherwise."""
        if self.expires_at is None:
            return None
        left = self.expires_at - timezone.now()
        if left <= timedelta(0) or left > timedelta(days=REMINDER_DAYS[0]):
            return None
        return -(-left // timedelta(days=1))

    def _url(self, name: str) -> str:
        kwargs = {"account_id": self.cluster.account_id, "cluster_id": self.cluster_id, self.url_kwarg: self.id}
        return reverse(f"apikeys:{self.url_prefix}{name}", kwargs=kwargs)

    def get_absolute_url(self) -> str:
        return self._url("detail")

    def get_delete_url(self) -> str:
        return self._url("delete")

    def get_edit_url(self) -> str:
        return self._url("edit")


class DatabaseApiKey(IssuedKey):
    # `id` is the JWT's `jti`: how the data plane finds the key a token stands for.
    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="database_keys")
    rules = models.JSONField(validators=[validate_rules])

    kind = "database"
    kind_label = "database API key"
    kind_with_article = "a database API key"
    url_prefix = ""
    url_kwarg = "key_id"
    list_anchor = "api-keys"

    class Meta(IssuedKey.Meta):
        indexes = [models.Index(fields=["cluster", "revoked_at", "-created_at"], name="apikey_cluster_live_idx")]

    @property
    def is_cluster_wide(self) -> bool:
        return len(self.rules) == 1 and self.rules[0]["collection"] is None

    @property
    def access_summary(self) -> str:
        """What a list shows: "Manage · cluster-wide", "Read-only · 3 collections", "Mixed · 2 collections"."""
        if self.is_cluster_wide:
            level = "Manage" if self.rules[0]["access"] == ClusterAccess.MANAGE else ClusterAccess.READ_ONLY.label
            return f"{level} · cluster-wide"
        levels = {rule["access"] for rule in self.rules}
        count = len(self.rules)
        level = CollectionAccess(levels.pop()).label if len(levels) == 1 else "Mixed"
        return f"{level} · {count} collection{'' if count == 1 else 's'}"

    @property
    def access_details(self) -> str:
        """Each rule spelled out, e.g. for a tooltip: "books: Read-only, films: Read-write"."""
        if self.is_cluster_wide:
            return f"{ClusterAccess(self.rules[0]['access']).label} on every collection of the cluster"
        return ", ".join(f"{rule['collection']}: {CollectionAccess(rule['access']).label}" for rule in self.rules)


class AdminKey(IssuedKey):
    """A legacy cluster's admin key: a random secret (not a JWT) with full
    manage access to its own cluster, checked by the data plane by digest.

    Created only on clusters made before 2025-01-27 while granular access is
    off (apikeys.services.admin_key_create); once it is on, the existing ones
    keep working until deleted.
    """

    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="admin_keys")

    kind = "admin"
    kind_label = "admin key"
    kind_with_article = "an admin key"
    url_prefix = "admin-"
    url_kwarg = "admin_key_id"
    list_anchor = "admin-keys"

    # An admin key is what Qdrant's own `api_key` is: global manage, every collection.
    access_summary = "Manage · cluster-wide"
    access_details = "Full access: every collection of the cluster, and the cluster itself"

    class Meta(IssuedKey.Meta):
        indexes = [models.Index(fields=["cluster", "revoked_at", "-created_at"], name="adminkey_cluster_live_idx")]


# Days before its expiry that a key's creator and the account's owners are reminded.
REMINDER_DAYS = (7, 1)


class ExpiryReminder(models.Model):
    """That the reminder `days` before a key's expiry was sent: one row per key
    and threshold (unique), written in the transaction that sends the email,
    so two runs of the reminder task at once send it once."""

    key_kind = models.CharField(max_length=16)  # IssuedKey.kind: "database" or "admin"
    key_id = models.UUIDField()
    days = models.PositiveSmallIntegerField()
    # The expiry the reminder was about: a key whose expiry changes is reminded afresh.
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key_kind", "key_id", "days", "expires_at"], name="one_reminder_per_threshold")
        ]
