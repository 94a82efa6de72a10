"""Who may create which key, where: the one answer views, the API and templates ask.

Two questions, kept apart because they fail differently: may this caller
(their role, through accounts.access: a missing permission is 403), and can a
key of this kind be made on this cluster at all (a rule of the product:
Qdrant Cloud's, whoever asks; 409 in the console, FAILED_PRECONDITION in the API).
"""

from datetime import timedelta

from django.http import HttpRequest

from accounts.access import can

DATABASE, ADMIN, MANAGEMENT = "database", "admin", "management"

# The permission that creating each kind of key needs.
CREATE_PERMISSION = {DATABASE: "write:api_keys", ADMIN: "write:api_keys", MANAGEMENT: "write:management_keys"}

# Renaming or describing a key changes no right: the role that may create that kind may.
EDIT_PERMISSION = CREATE_PERMISSION


def roll_permission(grace: timedelta) -> str:
    """The permission a roll with this grace needs. Stopping the old secret now
    ends it for good, as a delete does, so it needs what a delete needs; a later
    stop leaves time to undo (delete the new key, or ask again), as a disable does."""
    return "delete:api_keys" if not grace else "write:api_keys"

DATABASE_KEYS_OFF = (
    "Granular database API keys are not enabled on this cluster: it accepts no database API keys. "
    "Enable granular access control first."
)


def database_key_refusal(cluster) -> str | None:
    """Why no database API key can be created on this cluster, or None when one can."""
    return None if cluster.jwt_rbac else DATABASE_KEYS_OFF


def admin_key_refusal(cluster) -> str | None:
    """Why no admin key can be created on this cluster now, or None when one can.

    Like Qdrant Cloud: admin keys belong to clusters created before granular
    keys existed (2025-01-27), and only until granular access is enabled;
    from the moment the user confirms enabling it, no new one is made.
    """
    from clusters.models import Operation

    if not cluster.is_legacy:
        return (
            "Admin keys exist only on clusters created before 27 January 2025. "
            "This cluster uses database API keys with granular access control: create one of those instead."
        )
    if cluster.jwt_rbac:
        return (
            "Granular access control is enabled on this cluster, so new admin keys cannot be created. "
            "Existing admin keys keep working; create a database API key instead."
        )
    if cluster.operations.filter(kind=Operation.Kind.ENABLE_JWT, state__in=Operation.ACTIVE).exists():
        return (
            "Granular access control is being enabled on this cluster, so new admin keys cannot be created. "
            "Existing admin keys keep working."
        )
    return None


_REFUSAL = {DATABASE: database_key_refusal, ADMIN: admin_key_refusal}


def create_refusal(kind: str, cluster=None) -> str | None:
    """Why a key of `kind` cannot be made (on `cluster`, for the kinds that open one), whoever asks.

    Without a cluster (a page where the cluster is picked next) only the role counts.
    """
    refusal = _REFUSAL.get(kind)
    return refusal(cluster) if refusal is not None and cluster is not None else None


def create_offer(request: HttpRequest, kind: str, cluster=None) -> tuple[bool, str | None]:
    """For pages: whether to offer the caller a Create button for this kind (on
    this cluster), and the product's refusal to show instead, if any."""
    refusal = create_refusal(kind, cluster)
    return can(request, CREATE_PERMISSION[kind]) and refusal is None, refusal


def may_create(request: HttpRequest, kind: str, cluster=None) -> bool:
    return create_offer(request, kind, cluster)[0]


def kind_to_create(cluster) -> str:
    """The kind a cluster's keys are: admin keys while a legacy cluster may still have new ones."""
    return ADMIN if not cluster.jwt_rbac and admin_key_refusal(cluster) is None else DATABASE
