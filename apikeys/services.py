from copy import copy
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from apikeys.key_policy import check_new_key
from apikeys.models import POSTFIX_LENGTH, TENANT_FIELDS, AdminKey, DatabaseApiKey, ExpiryReminder, IssuedKey
from apikeys.policy import ADMIN, DATABASE, admin_key_refusal, database_key_refusal
from apikeys.retire import key_retire_dispatch
from apikeys.states import KeyState
from apikeys.tokens import mint_jwt, new_admin_key
from audit.models import Action
from audit.services import audit_record
from clusters.runtime import runtime_for
from createonce.digests import current_pepper_id, token_digest
from fronts.changelog import keys_changed


@sensitive_variables("token")
def _seal(key: IssuedKey, token: str) -> None:
    """What is stored of a key instead of the key: its postfix and a peppered digest."""
    key.postfix = token[-POSTFIX_LENGTH:]
    key.pepper_id = current_pepper_id()
    key.digest = token_digest(token, key.pepper_id)


def _admit(key: IssuedKey, *, admit=(), refuse=()) -> None:
    """Tells the cluster itself which of its database keys it accepts now,
    where it checks that (a cluster reached directly). A failure raises
    ValidationError inside the caller's transaction: nothing is changed."""
    if isinstance(key, DatabaseApiKey):
        runtime_for(key.cluster).keys_admit(key.cluster, admit=[k.pk for k in admit], refuse=[k.pk for k in refuse])


def _revoke(key: IssuedKey, by) -> bool:
    """Marks the key deleted; False when it already was."""
    revoked = type(key).objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=by
    )
    key.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return bool(revoked)


@transaction.atomic
@sensitive_variables("token")
def database_key_create(
    *,
    cluster,
    name: str,
    rules: list[dict],
    expires_at: datetime | None,
    by,
    nonce: str | None = None,
    client_ip: str | None = None,
    allowed_networks: list[str] | None = None,
    tenant: dict | None = None,
) -> tuple[DatabaseApiKey, str]:
    """Records a database API key for the cluster and returns it with its token.

    `tenant` binds it to one tenant (keyset/tenant.py): `{"field", "value",
    "type", "access", "collections"}` (collections empty: all of the key's).

    The token exists only in the return value: the caller shows it once and
    forgets it. `nonce` is the create form's one-time value (unique): a second
    call with the same nonce fails with IntegrityError instead of minting again.
    """
    refusal = database_key_refusal(cluster)
    if refusal:
        raise ValidationError(refusal)
    check_new_key(cluster.account, DATABASE, expires_at=expires_at, allowed_networks=allowed_networks, rules=rules)
    unsupported = runtime_for(cluster).key_options_refusal(cluster, allowed_networks=bool(allowed_networks),
                                                           tenant=bool(tenant))
    if unsupported:
        raise ValidationError(unsupported)
    tenant = tenant or {}
    key = DatabaseApiKey(
        cluster=cluster,
        name=name,
        rules=rules,
        # `exp` is whole seconds; store exactly what the token says.
        expires_at=expires_at.replace(microsecond=0) if expires_at else None,
        created_by=by,
        created_at=timezone.now(),
        nonce=nonce,
        allowed_networks=allowed_networks or [],
        tenant_field=tenant.get("field") or "",
        tenant_value=str(tenant.get("value", "")),
        tenant_type=tenant.get("type") or "",
        tenant_access=tenant.get("access") or "",
        tenant_collections=list(tenant.get("collections") or []),
    )
    # The nonce is left to the unique constraint: of two concurrent requests
    # with one nonce, the second fails with IntegrityError, which the view
    # turns into "already created".
    key.full_clean(exclude=["postfix", "digest", "pepper_id", "nonce"])
    token = mint_jwt(cluster, key)
    _seal(key, token)
    key.save(force_insert=True)
    _admit(key, admit=[key])
    audit_record(
        account=cluster.account, action=Action.DATABASE_KEY_CREATED, target=key, actor=by, client_ip=client_ip
    )
    keys_changed(key=key)  # every data plane process accepts it before this returns
    return key, token


@transaction.atomic
def database_key_delete(*, key: DatabaseApiKey, by, client_ip: str | None = None) -> None:
    """Revokes the key: it leaves every list, and its id stays recorded as revoked."""
    if _revoke(key, by):
        _admit(key, refuse=[key])
        audit_record(
            account=key.cluster.account, action=Action.DATABASE_KEY_DELETED, target=key, actor=by, client_ip=client_ip
        )
        keys_changed(key=key)  # no data plane process accepts it after this returns; its siblings keep working


@transaction.atomic
@sensitive_variables("secret")
def admin_key_create(
    *,
    cluster,
    name: str,
    expires_at: datetime | None,
    by,
    client_ip: str | None = None,
    nonce: str | None = None,
    allowed_networks: list[str] | None = None,
) -> tuple[AdminKey, str]:
    """Records an admin key for a legacy cluster and returns it with the secret.

    Refused (ValidationError) on a cluster created on or after 2025-01-27 and
    once granular access is enabled or being enabled. The secret exists only
    in the return value; `nonce` works as for database_key_create.
    """
    from clusters.models import Cluster

    # Locks the cluster against granular_access_enable, which locks it too:
    # an admin key is never created after the user confirmed enabling.
    cluster = Cluster.objects.select_for_update().select_related("account").get(id=cluster.id)
    refusal = admin_key_refusal(cluster)
    if refusal:
        raise ValidationError(refusal)
    check_new_key(cluster.account, ADMIN, expires_at=expires_at, allowed_networks=allowed_networks)
    key = AdminKey(
        cluster=cluster,
        name=name,
        expires_at=expires_at.replace(microsecond=0) if expires_at else None,
        created_by=by,
        created_at=timezone.now(),
        nonce=nonce,
        allowed_networks=allowed_networks or [],
    )
    key.full_clean(exclude=["postfix", "digest", "pepper_id", "nonce"])
    secret = new_admin_key()
    _seal(key, secret)
    key.save(force_insert=True)
    audit_record(account=cluster.account, action=Action.ADMIN_KEY_CREATED, target=key, actor=by, client_ip=client_ip)
    keys_changed(key=key)  # every data plane process accepts it before this returns
    return key, secret


@transaction.atomic
def cluster_keys_revoke(*, cluster, by, client_ip: str | None = None) -> None:
    """Revokes every live key of a cluster being deleted, each audited as a
    delete. The caller (clusters' cluster_deleting signal) tells the data
    plane once for the whole cluster, so no key is announced one by one."""
    now = timezone.now()
    for model, action in ((DatabaseApiKey, Action.DATABASE_KEY_DELETED), (AdminKey, Action.ADMIN_KEY_DELETED)):
        keys = list(model.objects.filter(cluster=cluster).live())
        model.objects.filter(pk__in=[key.pk for key in keys]).update(revoked_at=now, revoked_by=by)
        for key in keys:
            audit_record(account=cluster.account, action=action, target=key, actor=by, client_ip=client_ip)
        # Reminders name their key without a foreign key: they would outlive the
        # cascade that removes the keys with the cluster. A revoked key gets none.
        ExpiryReminder.objects.filter(key_kind=model.kind, key_id__in=model.objects.filter(cluster=cluster).values("id")).delete()


def cluster_keys_reconcile(*, cluster) -> None:
    """Makes the keys a cluster that checks them itself accepts its usable ones:
    a roll's deadline or an expiry passed since, a marker lost or deleted."""
    def usable() -> set[str]:
        return {str(k) for k in DatabaseApiKey.objects.filter(cluster=cluster).usable().values_list("id", flat=True)}

    runtime_for(cluster).keys_reconcile(cluster, usable)


@transaction.atomic
def admin_key_delete(*, key: AdminKey, by, client_ip: str | None = None) -> None:
    """Revokes the admin key; allowed after granular access is enabled too."""
    if _revoke(key, by):
        audit_record(
            account=key.cluster.account, action=Action.ADMIN_KEY_DELETED, target=key, actor=by, client_ip=client_ip
        )
        keys_changed(key=key)  # no data plane process accepts it after this returns


def key_delete(*, key: IssuedKey, by, client_ip: str | None = None) -> None:
    """Revokes a key of either kind (the console's key pages)."""
    delete = admin_key_delete if key.kind == "admin" else database_key_delete
    delete(key=key, by=by, client_ip=client_ip)


# The rest of a key's life, for both kinds alike: roll, disable, enable.

# How long the old secret of a rolled key keeps working: the choices a user has.
ROLL_GRACE = {
    "now": timedelta(0),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
ROLL_GRACE_LABELS = {"now": "Stop the old secret now", "1h": "In 1 hour", "24h": "In 24 hours", "7d": "In 7 days"}

_ACTIONS = {
    "database": {"rolled": Action.DATABASE_KEY_ROLLED, "disabled": Action.DATABASE_KEY_DISABLED,
                 "enabled": Action.DATABASE_KEY_ENABLED},
    "admin": {"rolled": Action.ADMIN_KEY_ROLLED, "disabled": Action.ADMIN_KEY_DISABLED,
              "enabled": Action.ADMIN_KEY_ENABLED},
}


_ROLLED_ALREADY = "This key was rolled already: roll its new secret instead."
_ROLL_REFUSALS = {
    KeyState.DELETED: "This key is deleted.",
    KeyState.RETIRED: _ROLLED_ALREADY,
    KeyState.ROLLED: _ROLLED_ALREADY,
    KeyState.DISABLED: "This key is disabled: enable it before rolling it.",
    KeyState.EXPIRED: "This key has expired: create a new one instead.",
}


def roll_refusal(key: IssuedKey) -> str | None:
    """Why this key cannot be rolled, or None when it can."""
    refusal = _ROLL_REFUSALS.get(key.state)
    if refusal is not None:
        return refusal
    if isinstance(key, AdminKey):
        return admin_key_refusal(key.cluster)
    return None


def _locked(key: IssuedKey) -> IssuedKey:
    """The key's row, locked: two rolls (or a roll and a delete) of one key go one after the other."""
    return type(key).objects.select_for_update().select_related("cluster__account").get(pk=key.pk)


@transaction.atomic
@sensitive_variables("token")
def key_roll(
    *, key: IssuedKey, grace: timedelta, by, nonce: str | None = None, client_ip: str | None = None
) -> tuple[IssuedKey, str]:
    """A new secret for the key: a new key with its name, rules, expiry and
    allowlist, returned with the secret (shown once, as by create). The old
    secret keeps working until `grace` from now (at the front, to the second),
    and both are listed until then; a grace of 0 deletes the old one at once.
    `nonce` works as for database_key_create.
    """
    key = _locked(key)
    refusal = roll_refusal(key)
    if refusal:
        raise ValidationError(refusal)
    now = timezone.now()
    successor = type(key)(
        cluster=key.cluster,
        name=key.name,
        description=key.description,
        expires_at=key.expires_at,
        allowed_networks=key.allowed_networks,
        created_by=by,
        created_at=now,
        nonce=nonce,
    )
    if isinstance(key, DatabaseApiKey):
        successor.rules = key.rules
        for name in TENANT_FIELDS:
            setattr(successor, name, getattr(key, name))
    successor.full_clean(exclude=["postfix", "digest", "pepper_id", "nonce"])
    token = mint_jwt(key.cluster, successor) if isinstance(key, DatabaseApiKey) else new_admin_key()
    _seal(successor, token)
    successor.save(force_insert=True)
    key.rolled_into = successor
    key.retires_at = now + grace
    fields = ["rolled_into", "retires_at"]
    if not grace:
        key.revoked_at, key.revoked_by = now, by
        fields += ["revoked_at", "revoked_by"]
    key.save(update_fields=fields)
    # The old secret's marker goes now, or at its deadline (a task then, and
    # the health check's reconcile after it, clusters/connected.py).
    _admit(key, admit=[successor], refuse=[key] if not grace else [])
    if grace and isinstance(key, DatabaseApiKey):
        transaction.on_commit(lambda: key_retire_dispatch(key.pk, key.retires_at))
    until = "stops working at once" if not grace else f"keeps working until {key.retires_at:%Y-%m-%d %H:%M} UTC"
    audit_record(
        account=key.cluster.account, action=_ACTIONS[key.kind]["rolled"], target=key, actor=by, client_ip=client_ip,
        detail=f"New secret …{successor.postfix}; the old one …{key.postfix} {until}",
    )
    # The new secret works, and the old one's deadline holds, on the next request.
    keys_changed(key=key)
    keys_changed(key=successor)
    return successor, token


@transaction.atomic
def key_disable(*, key: IssuedKey, by, client_ip: str | None = None) -> bool:
    """Refuses the key at the front from the next request on, until enabled; False when it already was."""
    return _set_disabled(key, True, by, client_ip)


@transaction.atomic
def key_enable(*, key: IssuedKey, by, client_ip: str | None = None) -> bool:
    """Lets a disabled key in again; False when it was not disabled."""
    return _set_disabled(key, False, by, client_ip)


def _set_disabled(key: IssuedKey, disabled: bool, by, client_ip: str | None) -> bool:
    live = type(key).objects.live().filter(pk=key.pk, disabled_at__isnull=disabled)
    changed = live.update(disabled_at=timezone.now() if disabled else None)
    key.refresh_from_db(fields=["disabled_at"])
    if changed:
        if disabled:
            _admit(key, refuse=[key])
        else:
            _admit(key, admit=[key])
        action = _ACTIONS[key.kind]["disabled" if disabled else "enabled"]
        audit_record(account=key.cluster.account, action=action, target=key, actor=by, client_ip=client_ip)
        keys_changed(key=key)  # read-your-writes: the first request after the response sees it
    return bool(changed)


_EDITED = {"database": Action.DATABASE_KEY_EDITED, "admin": Action.ADMIN_KEY_EDITED}


@transaction.atomic
def key_edit(*, key: IssuedKey, name: str, description: str, by, client_ip: str | None = None) -> IssuedKey:
    """Renames a database API key or an admin key, or changes its description.

    The secret, the rules and the expiry stay: a JWT carries its rules, so
    other rights mean a new key. Refused (ValidationError, nothing written)
    for a name or description the create form would refuse, or a deleted key.
    """
    candidate = copy(key)
    candidate.name, candidate.description = name, description
    candidate.full_clean(validate_unique=False, validate_constraints=False)
    # The entry fits the audit log's detail: names are at most 128 characters, a description is only noted.
    changes = ([f"name “{key.name}” → “{name}”"] if key.name != name else []) + (
        ["description changed"] if key.description != description else []
    )
    if not changes:
        return key
    if not type(key).objects.filter(pk=key.pk, revoked_at__isnull=True).update(name=name, description=description):
        raise ValidationError("This key was deleted; it can no longer be edited.")
    key.name, key.description = name, description
    audit_record(
        account=key.cluster.account, action=_EDITED[key.kind], target=key, actor=by, client_ip=client_ip,
        detail="; ".join(changes),
    )
    return key
