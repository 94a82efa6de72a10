"""What a key may do: Qdrant's access from a key's claims, and the checks of its table of access.

Mirrors lib/storage/src/rbac of the Qdrant server: the same three kinds of
access (global manage, global read, a list of collections with `r`/`rw`/`prw`)
and the same Forbidden messages, word for word (spec/qdrant-auth.md).

Pure functions on plain values, no Django: the data plane's front decides
every request with them (its table of access is dataplane/routes.py), and the
console's "what can this key do" matrix is computed by the very same checks,
so the page cannot say anything the front would not do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

MANAGE = "m"
READ = "r"
COLLECTION_LEVELS = ("r", "rw", "prw")


class Forbidden(Exception):
    """A permission failure inside a handler: 403 with Qdrant's JSON error body."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Access:
    """Global `m` or `r`, or a mapping of collection name to `r`, `rw` or `prw`."""

    __slots__ = ("collections", "mode")

    def __init__(self, mode: str | None = None, collections: dict[str, str] | None = None):
        self.mode = mode
        self.collections = collections

    def __repr__(self) -> str:
        return f"Access({self.mode or self.collections!r})"

    def check(self, needs: str, name: str | None) -> None:
        """The access a route or gRPC method needs (a `needs` of the table of
        access, dataplane/routes.py): "read"/"write" on the collection `name`,
        "manage" cluster-wide, "any" for every key."""
        if needs == "read":
            self.check_collection(name)
        elif needs == "write":
            self.check_collection(name, write=True)
        elif needs == "manage":
            self.check_global_manage()

    def check_global_manage(self) -> None:
        """Cluster-wide operations (creating or deleting collections) need global manage."""
        if self.mode is None:
            raise Forbidden("Global access is required")
        if self.mode != MANAGE:
            raise Forbidden("Global manage access is required")

    def check_collection(self, name: str, *, write: bool = False, manage: bool = False) -> None:
        """`manage`: an operation on the collection's cluster setup (shards,
        replicas), which no collection level grants, only global manage."""
        mode = self.mode
        if mode is not None:
            if (write or manage) and mode != MANAGE:
                raise Forbidden("Global manage access is required")
            return
        level = self.collections.get(name)
        if level is None:
            raise Forbidden(f"Access to collection {name} is required")
        if write and level == "r":
            raise Forbidden(f"Write access to collection {name} is required")
        if manage:
            raise Forbidden("Manage access for this operation is required")

    def visible(self, names: list[str]) -> list[str]:
        """GET /collections: a collection-scoped key sees only its collections."""
        if self.mode is not None:
            return names
        return [name for name in names if name in self.collections]


FULL = Access(MANAGE)

_ABSENT = object()


def access_from_claim(claim=_ABSENT) -> Access | None:
    """The Access of a JWT's `access` claim as Qdrant's Claims read it; None means 401.

    Without the claim Qdrant grants global manage (its default); the
    console's keys always carry it (apikeys.tokens.access_claim).
    """
    if claim is _ABSENT or claim == MANAGE:
        return FULL
    if claim == READ:
        return Access(READ)
    if not isinstance(claim, list):
        return None
    collections: dict[str, str] = {}
    for entry in claim:
        if not isinstance(entry, dict) or "payload" in entry:
            return None  # the removed payload restriction is refused
        name, level = entry.get("collection"), entry.get("access")
        if not isinstance(name, str) or level not in COLLECTION_LEVELS:
            return None
        if name in collections:
            return None  # "Collection name should be unique"
        collections[name] = level
    return Access(None, collections)


# What a key's page shows it may do: Qdrant's operations grouped as the table
# of access in spec/qdrant-auth.md groups them, each decided by the check the
# front applies to the routes of that group.


def _read_points(access: Access, collection: str) -> None:
    access.check_collection(collection)


def _write_points(access: Access, collection: str) -> None:
    access.check_collection(collection, write=True)


def _cluster_wide(access: Access, collection: str) -> None:
    access.check_global_manage()


def _collection_cluster(access: Access, collection: str) -> None:
    # Qdrant asks write and manage access of the collection (checked in that order).
    access.check_collection(collection, write=True, manage=True)


@dataclass(frozen=True)
class OperationGroup:
    slug: str
    label: str
    example: str  # one route of the group, as the page explains it
    check: Callable[[Access, str], None]  # raises Forbidden
    # The rule that denies it, when Qdrant's message names another: for a
    # read-only collection key Qdrant refuses cluster admin with "Write access
    # to collection c is required", but no collection access would allow it.
    rule: str = ""


_MANAGE_ONLY = "Needs Manage/Write on the whole cluster (or an admin key): no collection access allows it"

OPERATION_GROUPS = (
    OperationGroup("read", "Read points", "POST /collections/{c}/points/query", _read_points),
    OperationGroup("write", "Write points", "PUT /collections/{c}/points", _write_points),
    # Payload indexes need what point writes need: M or cRW.
    OperationGroup("index", "Manage indexes", "PUT /collections/{c}/index", _write_points),
    OperationGroup("collections", "Create/delete collections", "PUT /collections/{c}", _cluster_wide,
                   _MANAGE_ONLY),
    OperationGroup("admin", "Cluster admin", "POST /collections/{c}/cluster", _collection_cluster,
                   _MANAGE_ONLY),
)


@dataclass(frozen=True)
class Decision:
    group: OperationGroup
    allowed: bool
    reason: str  # Qdrant's Forbidden message when denied, word for word as the front answers
    note: str = ""  # what bounds an allowed group (a tenant-bound key: keyset/tenant.py)

    @property
    def rule(self) -> str:
        """What the page says denies it: the group's rule, else Qdrant's message."""
        return (self.group.rule or self.reason) if not self.allowed else ""


def decide(access: Access, group: OperationGroup, collection: str) -> Decision:
    try:
        group.check(access, collection)
    except Forbidden as refusal:
        return Decision(group, False, refusal.message)
    return Decision(group, True, "")


def rights_matrix(access: Access, collections: list[str]) -> list[tuple[str, list[Decision]]]:
    """Each collection with the decision of every operation group."""
    return [(name, [decide(access, group, name) for group in OPERATION_GROUPS]) for name in collections]
