"""What a key may do, and the checks of Qdrant's table of access.

Mirrors lib/storage/src/rbac of the Qdrant server: the same three kinds of
access (global manage, global read, a list of collections with `r`/`rw`/`prw`)
and the same Forbidden messages, word for word (qdrant-auth.md).
"""

from __future__ import annotations

MANAGE = "m"
READ = "r"


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
        """The access a route or gRPC method needs (the second half of a
        dataplane.app.ROUTES entry): "read"/"write" on the collection `name`,
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

    def check_collection(self, name: str, *, write: bool = False) -> None:
        mode = self.mode
        if mode is not None:
            if write and mode != MANAGE:
                raise Forbidden("Global manage access is required")
            return
        level = self.collections.get(name)
        if level is None:
            raise Forbidden(f"Access to collection {name} is required")
        if write and level == "r":
            raise Forbidden(f"Write access to collection {name} is required")

    def visible(self, names: list[str]) -> list[str]:
        """GET /collections: a collection-scoped key sees only its collections."""
        if self.mode is not None:
            return names
        return [name for name in names if name in self.collections]


FULL = Access(MANAGE)
