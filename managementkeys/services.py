import math
import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Membership
from apikeys.key_policy import check_new_key
from apikeys.policy import MANAGEMENT
from audit.models import Action
from audit.services import audit_record
from createonce.digests import current_pepper_id, token_digest, token_matches
from managementkeys.models import PREFIX_LENGTH, PREFIX_PATTERN, SECRET_BYTES, ManagementKey, ManagementKeyFailure
from managementkeys.scope import clean_scope
from managementkeys.selectors import management_key_by_prefix

# Bookkeeping on the hot path: `last_used_at` is written at most this often per key.
LAST_USED_EVERY = timedelta(minutes=1)
# Longer than any key this module mints; longer input is not looked up at all.
MAX_KEY_LENGTH = 200


@transaction.atomic
@sensitive_variables("secret", "plaintext")
def management_key_create(
    *,
    account,
    by,
    name: str,
    expires_at: datetime | None = None,
    nonce: str | None = None,
    client_ip: str | None = None,
    permissions: list[str] | None = None,
    cluster_ids: list | None = None,
    allowed_networks: list[str] | None = None,
    via: ManagementKey | None = None,
) -> tuple[ManagementKey, str]:
    """Records a management key that acts as `by` in `account`; returns it with the key.

    The key exists only in the return value: the caller shows it once and
    forgets it. Only its prefix and a peppered digest are stored. Without
    `expires_at` it never expires (the console's form proposes 90 days). `nonce` is
    the console's create form's one-time value (unique): a second call with
    the same nonce fails with IntegrityError instead of minting again.

    Its scope (scope.clean_scope): `permissions` a subset of what `by` holds
    (None: whatever `by`'s role holds at each request), `cluster_ids` some of the account's clusters (none:
    every cluster), `allowed_networks` normalised CIDRs (none: anywhere).
    Made through the management API with a key (`via`), it gets no more than
    that key: its permissions and clusters, and no later expiry.
    """
    creator = Membership.objects.filter(account=account, user=by).select_related("custom_role").first()
    if creator is None:
        raise ValidationError({"created_by": "Only a member of the account can create a management key for it."})
    permissions, cluster_ids = clean_scope(
        account=account, creator=creator, via=via, permissions=permissions, cluster_ids=cluster_ids
    )
    check_new_key(account, MANAGEMENT, expires_at=expires_at, allowed_networks=allowed_networks)
    if via is not None and via.expires_at is not None and (expires_at is None or expires_at > via.expires_at):
        raise ValidationError(
            {"expires_at": f"The management key making this one expires at {via.expires_at:%Y-%m-%d %H:%M} UTC: "
                           "a key it makes expires no later."}
        )
    key = ManagementKey(
        account=account,
        created_by=by,
        name=name,
        expires_at=expires_at,
        created_at=timezone.now(),
        prefix=secrets.token_hex(PREFIX_LENGTH // 2),
        pepper_id=current_pepper_id(),
        nonce=nonce,
        permissions=permissions,
        cluster_ids=cluster_ids,
        allowed_networks=allowed_networks or [],
    )
    secret = secrets.token_urlsafe(SECRET_BYTES)
    plaintext = f"{key.prefix}.{secret}"
    key.digest = token_digest(plaintext, key.pepper_id)
    # Also checks that the prefix is unique and that `by` is a member of the
    # account. The nonce is left to the unique constraint, as for apikeys'
    # keys: of two concurrent requests with one nonce, the second fails with
    # IntegrityError, which the view turns into "already created".
    key.full_clean(exclude=["nonce"])
    key.save(force_insert=True)
    audit_record(
        account=account, action=Action.MANAGEMENT_KEY_CREATED, target=key, actor=by, client_ip=client_ip,
        detail=scope_summary(key),
    )
    return key, plaintext


def scope_summary(key: ManagementKey) -> str:
    """The scope in one line, for the audit log: what the key was given."""
    clusters = ", ".join(key.cluster_ids) if key.cluster_ids else "every cluster"
    networks = ", ".join(key.allowed_networks) if key.allowed_networks else "anywhere"
    permissions = "whatever its creator's role holds" if key.permissions is None else " ".join(key.permissions)
    return f"clusters: {clusters}; from: {networks}; permissions: {permissions}"


@transaction.atomic
def management_key_rename(*, key: ManagementKey, name: str, by, client_ip: str | None = None) -> ManagementKey:
    """Renames the key; the key itself stays. Refused (ValidationError, nothing written) for a bad name."""
    if name == key.name:
        return key
    old = key.name
    key.name = name
    try:
        key.clean_fields(exclude=[field.name for field in ManagementKey._meta.fields if field.name != "name"])
    except ValidationError:
        key.name = old
        raise
    ManagementKey.objects.filter(pk=key.pk).update(name=name)
    audit_record(
        account=key.account, action=Action.MANAGEMENT_KEY_EDITED, target=key, actor=by, client_ip=client_ip,
        detail=f"name “{old}” → “{name}”",
    )
    return key


@transaction.atomic
def management_key_delete(*, key: ManagementKey, by, client_ip: str | None = None) -> None:
    """Deletes the key: the next request that presents it is refused."""
    deleted, _ = ManagementKey.objects.filter(pk=key.pk).delete()
    if deleted:  # not already deleted by a concurrent request
        audit_record(
            account=key.account, action=Action.MANAGEMENT_KEY_DELETED, target=key, actor=by, client_ip=client_ip
        )


@sensitive_variables("plaintext")
def management_key_authenticate(plaintext: str) -> ManagementKey | None:
    """The key `plaintext` stands for, or None: unknown prefix and wrong secret look the same.

    Looked up by its non-secret prefix, then compared in constant time. The
    caller decides what a key whose creator left the account may do
    (`creator_is_member`, annotated).
    """
    prefix, dot, secret = plaintext.partition(".")
    if not dot or not secret or len(plaintext) > MAX_KEY_LENGTH or not PREFIX_PATTERN.match(prefix):
        return None
    key = management_key_by_prefix(prefix)
    if key is None or not token_matches(key, plaintext):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        ManagementKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def _failure_window(now) -> tuple:
    length = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    start = datetime.fromtimestamp(now.timestamp() // length.total_seconds() * length.total_seconds(), tz=UTC)
    return start, start + length


def management_key_lockout_seconds(client_ip: str | None) -> int | None:
    """Seconds until `client_ip` may try management keys again, or None if it may now."""
    if client_ip is None:
        return None
    now = timezone.now()
    start, end = _failure_window(now)
    failures = (
        ManagementKeyFailure.objects.filter(client_ip=client_ip, window_start=start)
        .values_list("failures", flat=True)
        .first()
    )
    if failures is None or failures < settings.MANAGEMENT_KEY_FAILURE_LIMIT:
        return None
    return max(1, math.ceil((end - now).total_seconds()))


def management_key_failure_note(client_ip: str | None) -> None:
    """Counts one wrong management key from `client_ip` in the current window."""
    if client_ip is None:
        return
    start, _ = _failure_window(timezone.now())
    with transaction.atomic():
        updated = ManagementKeyFailure.objects.filter(client_ip=client_ip, window_start=start).update(
            failures=F("failures") + 1
        )
        if not updated:
            _, created = ManagementKeyFailure.objects.get_or_create(
                client_ip=client_ip, window_start=start, defaults={"failures": 1}
            )
            if not created:
                ManagementKeyFailure.objects.filter(client_ip=client_ip, window_start=start).update(
                    failures=F("failures") + 1
                )
            # A new window: the counts of past ones are of no more use.
            ManagementKeyFailure.objects.filter(window_start__lt=start).delete()
