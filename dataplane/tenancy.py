"""The front's side of tenant-bound keys: it runs what keyset/tenant.py decides.

keyset.tenant.bind decides a request (REST, or gRPC converted to REST) and
names the point ids whose owners must be known first; this module reads
them with the key's own credential (on an embedded cluster from its
storage, on a real cluster from a node over REST) and gives back the body to
execute or forward. Another tenant's point read by a read is "not found",
exactly as Qdrant says of a missing one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dataplane.storage import StorageError
from keyset.tenant import NotFound, Tenant, bind, foreign_ids, ownership_request

# (collection, body of POST /collections/{c}/points) -> the records it reads
Reader = Callable[[str, dict], Awaitable[list]]


async def bound_body(tenant: Tenant, method: str, segments: list[str], body, read: Reader,
                     node: bool = False) -> tuple[object, bool]:
    """(the body to run, whether it was rewritten). Raises keyset.rights.Forbidden
    (403) or StorageError (404 for another tenant's point, or the read's own).
    `node`: a real Qdrant node serves it, whose GET points/{id} words a missing point its own way."""
    plan = bind(tenant, method, segments, body)
    if plan is None:
        return body, False
    foreign = [foreign_ids(tenant, await read(check.collection, ownership_request(tenant, check)), check)
               for check in plan.checks]
    try:
        return plan.finish(foreign), plan.changed
    except NotFound as exc:
        if node and method == "GET":
            raise StorageError(404, f"Not found: Point with id {exc.point} does not exists!") from None
        raise StorageError(404, exc.message) from None


def op_route(route, name: str | None, params: dict) -> tuple[str, list[str]]:
    """The REST method and path segments of a route of the table of access
    (dataplane/routes.py) with these values, as a REST client would have sent
    it (how gRPC and REST get one decision)."""
    values = iter([value for value in (name, params.get("id"), params.get("field")) if value is not None])
    return route.method, [next(values, "") if part == "*" else part for part in route.pattern]
