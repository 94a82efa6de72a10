"""The keys that open a cluster's endpoint: database API keys and admin keys.

A database API key is a JWT a cluster's Qdrant accepts once JWT RBAC is on,
with granular access rules. An admin key is a legacy cluster's random secret
with full (manage) access to that cluster, the role of Qdrant's own `api_key`.

Only what identifies and describes a key is stored, never the key itself: its
id, name, expiry, creator, a postfix of the key and an HMAC digest of it under
a pepper with an id (see createonce/digests.py), for both kinds alike.
"""

import ipaddress
import re
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator, RegexValidator
from django.db import models
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from apikeys.states import WORKING_STATES, KeyState, state_expression, state_of
from keyset import tenant as tenants

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


class TenantType(models.TextChoices):
    """The type of a tenant-bound key's value (keyset/tenant.py)."""

    KEYWORD = "keyword", "Keyword"
    INTEGER = "integer", "Integer"
    UUID = "uuid", "UUID"


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return f"{text[:1].upper()}{text[1:]}."


TENANT_FIELDS = ("tenant_field", "tenant_value", "tenant_type", "tenant_access", "tenant_collections")


def validate_tenant(key) -> None:
    """A database key's tenant binding: none (no field), or a top-level payload
    field, one value of its type, read-only or read-write, on every collection
    of the key or some of the collections its rules name. A cluster-wide key is
    bound on every collection: bound on some, the others (an alias of a bound
    one too) would be open to it."""
    if not key.tenant_field:
        if key.tenant_value or key.tenant_collections:
            raise ValidationError({"tenant_field": "Name the payload field the tenant's value is in."})
        return
    errors = {}
    try:
        tenants.check_field(key.tenant_field)
    except ValueError as exc:
        errors["tenant_field"] = _sentence(exc)
    try:
        key.tenant_value = str(tenants.tenant_value(key.tenant_type, key.tenant_value))
    except ValueError as exc:
        errors["tenant_value"] = _sentence(exc)
    if key.tenant_access not in CollectionAccess.values:
        errors["tenant_access"] = "A tenant binding is Read-only or Read-write."
    collections = key.tenant_collections
    if not isinstance(collections, list) or not all(isinstance(name, str) for name in collections):
        errors["tenant_collections"] = "The bound collections are a list of names."
    elif collections:
        rules = key.rules if isinstance(key.rules, list) else []
        named = {rule.get("collection") for rule in rules if isinstance(rule, dict)}
        if None in named:
            errors["tenant_collections"] = ("A cluster-wide key is bound on every collection: bind it on all, "
                                            "or give it access to named collections.")
        else:
            stray = sorted(set(collections) - named)
            if stray:
                errors["tenant_collections"] = f"{', '.join(stray)}: not among the key's collections."
    if errors:
        raise ValidationError(errors)


MAX_NETWORKS = 100


def parse_networks(text: str) -> list[str]:
    """An allowlist as typed (CIDRs or addresses, one a line or comma-separated)
    in its stored form: each network normalised ("10.0.0.7" -> "10.0.0.7/32",
    "::ffff:10.0.0.7" -> "10.0.0.7/32"), each once; a zone id ("fe80::1%eth0") is
    refused. Raises ValidationError naming the first entry that is not one."""
    entries = [item.strip() for item in re.split(r"[,\s]+", text or "") if item.strip()]
    networks: list[str] = []
    for entry in entries:
        if "%" in entry:
            raise ValidationError(
                f"{entry[:60]}: a zone id (the part after %) names an interface of one machine; "
                "give the address without it."
            )
        try:
            network = str(_unmapped(ipaddress.ip_network(entry, strict=True)))
        except ValueError:
            try:
                hint = f" Did you mean {ipaddress.ip_network(entry, strict=False)}?"
            except ValueError:
                hint = ""
            raise ValidationError(
                f"{entry[:60]} is not an IPv4 or IPv6 address or network in CIDR notation (such as 203.0.113.0/24 "
                f"or 2001:db8::/32).{hint}"
            ) from None
        if network not in networks:
            networks.append(network)
    validate_networks(networks)
    return networks


def _unmapped(network):
    """An IPv4-mapped IPv6 network (::ffff:127.0.0.1) as the IPv4 network it means:
    the front compares a client's address as IPv4, so the mapped form would never match."""
    mapped = network.network_address.ipv4_mapped if network.version == 6 else None
    if mapped is None or network.prefixlen < 96:
        return network
    return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")


def validate_networks(networks) -> None:
    """What is stored: a list of normalised CIDR strings; empty means from anywhere."""
    if not isinstance(networks, list) or any(not isinstance(n, str) for n in networks):
        raise ValidationError("An allowlist is a list of CIDRs.")
    if len(networks) > MAX_NETWORKS:
        raise ValidationError(f"An allowlist has at most {MAX_NETWORKS} networks.")
    for network in networks:
        try:
            if str(ipaddress.ip_network(network, strict=True)) != network:
                raise ValueError
        except ValueError:
            raise ValidationError(f"{network[:60]} is not a network in CIDR notation.") from None


def unused_window() -> timedelta:
    return timedelta(days=settings.KEY_UNUSED_DAYS)


def unused_condition(now) -> models.Q:
    """Keys not used since KEY_UNUSED_DAYS ago: last used before then, or never and made before then."""
    since = now - unused_window()
    return models.Q(last_used_at__lt=since) | models.Q(last_used_at__isnull=True, created_at__lt=since)


class Protocol(models.TextChoices):
    """How a key was last used at the front."""

    REST = "rest", "REST"
    GRPC = "grpc", "gRPC"


class KeyQuerySet(models.QuerySet):
    def live(self) -> "KeyQuerySet":
        """Keys not deleted: the ones the data plane loads (it refuses the
        disabled ones, and a rolled one past its deadline, per request)."""
        return self.filter(revoked_at__isnull=True)

    def listed(self) -> "KeyQuerySet":
        """Keys lists show: live, and not the old secret of a roll whose deadline passed."""
        return self.live().exclude(retires_at__lte=timezone.now())

    def usable(self) -> "KeyQuerySet":
        """Keys that open their cluster now (apikeys/states.py's WORKING_STATES)."""
        return self.alias(key_state=state_expression()).filter(key_state__in=WORKING_STATES)

    def in_state(self, state: str) -> "KeyQuerySet":
        """Keys in that state (apikeys/states.py)."""
        return self.alias(key_state=state_expression()).filter(key_state=state)


EXPIRY_MESSAGE = (
    f"A key expires at most {MAX_EXPIRY_DAYS} days (10 years) after it is created; "
    "give no expiry for a key that never expires."
)


EXPIRY_PAST_MESSAGE = "Must be in the future."


def validate_future_expiry(expires_at, *, now) -> None:
    """The expiry a new key is asked for, of any kind, however it is asked (the
    management API's serializers, a management key's model): none, or later
    than `now`. Not a rule of stored keys: a database key minted by a service
    may already be expired (the front then refuses it), and every key expires
    in time. The console's forms ask for days from 1, so they cannot break it."""
    if expires_at is not None and expires_at <= now:
        raise ValidationError({"expires_at": EXPIRY_PAST_MESSAGE})


def validate_expiry(expires_at, *, created_at) -> None:
    """The one expiry rule of every key, whichever way it is created (the console's
    form, the management API): none, or at most MAX_EXPIRY_DAYS after creation."""
    if expires_at is not None and expires_at > created_at + timedelta(days=MAX_EXPIRY_DAYS):
        raise ValidationError({"expires_at": EXPIRY_MESSAGE})


class IssuedKey(models.Model):
    """What both kinds of key record: everything but the key itself.

    The data plane reads these columns by name (fronts/rows.py, for
    dataplane/keystore.py and dataplane/lastused.py): `digest`, `pepper_id`,
    `expires_at`, `revoked_at`, `disabled_at`, `retires_at`, `allowed_networks`,
    `last_used_at`, `last_used_ip`, `last_used_protocol`.
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
    last_used_protocol = models.CharField(max_length=4, choices=Protocol.choices, blank=True, default="")
    # Where the key may be used from (CIDRs); empty: anywhere. Checked at the
    # front against the client's address (TRUSTED_PROXIES, docs/concepts/keys.md).
    allowed_networks = models.JSONField(default=list, blank=True, validators=[validate_networks])
    # A disabled key is refused at the front until it is enabled again.
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Rolling a key makes a new one (`rolled_into`) with the same name, rules
    # and expiry; this, the old secret, keeps working until `retires_at`.
    retires_at = models.DateTimeField(null=True, blank=True)
    rolled_into = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
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
    list_anchor: str

    class Meta:
        abstract = True
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} (…{self.postfix})"

    @property
    def audit_name(self) -> str:
        """How the audit log names it: keys may share a name, never a postfix and cluster."""
        return f"{self} on {self.cluster.name}"

    def clean(self) -> None:
        super().clean()
        validate_expiry(self.expires_at, created_at=self.created_at or timezone.now())

    @property
    def state(self) -> KeyState:
        """The one rule for every page, list and the API: apikeys/states.py."""
        return state_of(self)

    @property
    def unused(self) -> bool:
        """Working but not used for KEY_UNUSED_DAYS (nor ever, and made that long ago): a key to question."""
        return self.state in WORKING_STATES and not self.used_since(timezone.now() - unused_window())

    @property
    def unused_days(self) -> int:
        return settings.KEY_UNUSED_DAYS

    def used_since(self, moment) -> bool:
        return (self.last_used_at or self.created_at) >= moment

    @property
    def expires_in(self) -> str | None:
        """The time left, as "3 days, 10 hours" (never rounded up), while a key
        expires within the first reminder's window; None otherwise."""
        if self.expires_at is None:
            return None
        left = self.expires_at - timezone.now()
        if left <= timedelta(0) or left > timedelta(days=REMINDER_DAYS[0]):
            return None
        return time_left(self.expires_at)

    def _url(self, name: str) -> str:
        kwargs = {"account_id": self.cluster.account_id, "cluster_id": self.cluster_id, "key_id": self.id}
        return reverse(f"apikeys:{self.url_prefix}{name}", kwargs=kwargs)

    def get_absolute_url(self) -> str:
        return self._url("detail")

    def get_delete_url(self) -> str:
        return self._url("delete")

    def get_roll_url(self) -> str:
        return self._url("roll")

    def get_disable_url(self) -> str:
        return self._url("disable")

    def get_enable_url(self) -> str:
        return self._url("enable")

    def get_edit_url(self) -> str:
        return self._url("edit")


class DatabaseApiKey(IssuedKey):
    # `id` is the JWT's `jti`: how the data plane finds the key a token stands for.
    cluster = models.ForeignKey("clusters.Cluster", on_delete=models.CASCADE, related_name="database_keys")
    rules = models.JSONField(validators=[validate_rules])
    # A tenant binding (issue 23, keyset/tenant.py): the key sees and changes only
    # points whose payload `tenant_field` is `tenant_value` (of `tenant_type`),
    # with `tenant_access`, on `tenant_collections` (empty: every collection of
    # the key). No field: unbound. Enforced at the front by key id, so the JWT
    # stays a plain Qdrant JWT.
    tenant_field = models.CharField(max_length=64, blank=True, default="")
    tenant_value = models.CharField(max_length=256, blank=True, default="")
    tenant_type = models.CharField(max_length=8, choices=TenantType.choices, blank=True, default="")
    tenant_access = models.CharField(max_length=2, choices=CollectionAccess.choices, blank=True, default="")
    tenant_collections = models.JSONField(default=list, blank=True)

    kind = "database"
    kind_label = "database API key"
    kind_with_article = "a database API key"
    url_prefix = ""
    list_anchor = "api-keys"

    class Meta(IssuedKey.Meta):
        indexes = [
            models.Index(fields=["cluster", "revoked_at", "-created_at"], name="apikey_cluster_live_idx"),
            # The account-wide API Keys page, newest first: with 100,000 keys the
            # first page reads 25 rows of this instead of sorting them all.
            models.Index(fields=["-created_at", "id"], condition=models.Q(revoked_at__isnull=True),
                         name="apikey_live_newest_idx"),
        ]

    def clean(self) -> None:
        super().clean()
        validate_tenant(self)

    @property
    def is_cluster_wide(self) -> bool:
        return len(self.rules) == 1 and self.rules[0]["collection"] is None

    @property
    def tenant_wire(self) -> list | None:
        """The binding as the front gets it (keyset.tenant.tenant_from_wire reads it)."""
        return tenants.tenant_to_wire(self.tenant_field, self.tenant_value, self.tenant_type, self.tenant_access,
                                      self.tenant_collections)

    @property
    def tenant(self) -> "tenants.Tenant | None":
        return tenants.tenant_from_wire(self.tenant_wire)

    @property
    def tenant_summary(self) -> str:
        """What pages show: 'group_id = "acme" (keyword, read-write) on every collection'; empty when unbound."""
        tenant = self.tenant
        return tenant.describe() if tenant else ""

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
    list_anchor = "admin-keys"

    # An admin key is what Qdrant's own `api_key` is: global manage, every collection.
    access_summary = "Manage · cluster-wide"
    access_details = "Full access: every collection of the cluster, and the cluster itself"

    class Meta(IssuedKey.Meta):
        indexes = [models.Index(fields=["cluster", "revoked_at", "-created_at"], name="adminkey_cluster_live_idx")]


# Days before its expiry that a key's creator and the account's owners are reminded.
REMINDER_DAYS = (7, 1)


def time_left(until, now=None) -> str:
    """What is left until `until`, as "3 days, 10 hours": the two largest whole units,
    never rounded up, so a key that expires in 3 days and 10 minutes never reads "4 days"."""
    minutes = max(0, int((until - (now or timezone.now())).total_seconds() // 60))
    units = [(minutes // 1440, "day"), (minutes // 60 % 24, "hour"), (minutes % 60, "minute")]
    while len(units) > 1 and not units[0][0]:
        units.pop(0)
    shown = [f"{n} {unit}{pluralize(n)}" for n, unit in units[:2] if n] or ["less than a minute"]
    return ", ".join(shown)


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


class KeyPolicy(models.Model):
    """An account's rules for new keys (apikeys/key_policy.py applies them), set by
    its owners. No row: no rule beyond the product's own (MAX_EXPIRY_DAYS).

    Like GitHub's and GitLab's token lifetime policies: a key made before a
    rule is not revoked; pages list it as breaking the policy.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.OneToOneField("accounts.Account", on_delete=models.CASCADE, related_name="key_policy")
    # The longest expiry, in days, a new key of each kind may have; None: no limit.
    # A kind with a limit needs an expiry, whatever `allow_no_expiry` says.
    database_key_max_days = models.PositiveIntegerField(null=True, blank=True)
    admin_key_max_days = models.PositiveIntegerField(null=True, blank=True)
    management_key_max_days = models.PositiveIntegerField(null=True, blank=True)
    allow_no_expiry = models.BooleanField(default=True)
    # Keys that can change a cluster (a database key with cluster-wide
    # Manage/Write, an admin key) need allowed addresses; management keys likewise.
    manage_keys_need_allowlist = models.BooleanField(default=False)
    management_keys_need_allowlist = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    def __str__(self) -> str:
        return f"Key policy of {self.account}"

    @property
    def name(self) -> str:
        """What the audit log calls it."""
        return "Key policy"


class UsagePeriod(models.TextChoices):
    MINUTE = "minute", "Minute"
    HOUR = "hour", "Hour"


class KeyUsage(models.Model):
    """How a key was used in one minute or one hour (apikeys/usage.py): the
    requests that ended with one outcome (and refusal reason) over one protocol,
    and their latency histogram (keyset/usage.py's buckets). Fronts report the
    minutes with last-used; beat rolls minutes up into hours and prunes both."""

    key_kind = models.CharField(max_length=16)  # IssuedKey.kind: "database" or "admin"
    key_id = models.UUIDField()
    # The key's cluster, so a cluster's traffic is one indexed read.
    cluster_id = models.UUIDField()
    period = models.CharField(max_length=6, choices=UsagePeriod.choices)
    start = models.DateTimeField()
    protocol = models.CharField(max_length=4, choices=Protocol.choices)
    outcome = models.CharField(max_length=8)  # keyset.usage.OUTCOMES
    # A refusal's message (Qdrant's), "" when allowed.
    reason = models.CharField(max_length=200, blank=True, default="")
    count = models.PositiveBigIntegerField()
    latency = models.JSONField()  # counts per keyset.usage.LATENCY_BOUNDS bucket

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key_id", "period", "start", "key_kind", "protocol", "outcome", "reason"],
                                    name="one_usage_row_per_place")
        ]
        indexes = [models.Index(fields=["cluster_id", "period", "start"], name="usage_by_cluster"),
                   models.Index(fields=["period", "start"], name="usage_by_time")]


class UsageDigest(models.Model):
    """That an account's weekly key digest (apikeys/digest.py) for the week
    starting `week` was sent: claimed in the sending transaction, so two runs at
    once send it once."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    week = models.DateField()  # the Monday (UTC) the week starts
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "week"], name="one_digest_per_week")]


class KeyAddress(models.Model):
    """An address a key was used from, and when first (fronts' last-used
    reports, apikeys/usage.py): the weekly digest names keys used from a new
    one. At most MAX_KEY_ADDRESSES a key."""

    key_kind = models.CharField(max_length=16)
    key_id = models.UUIDField()
    ip = models.GenericIPAddressField()
    first_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key_id", "ip"], name="one_row_per_key_address")]


MAX_KEY_ADDRESSES = 100
