"""The front's side of tenant-bound keys: it runs what keyset/tenant.py decides.

keyset.tenant.bind decides a request (REST, or gRPC converted to REST) and
names the point ids whose owners must be known first; this module reads
them with the key's own credential (on an embedded cluster from its
storage, on a real cluster from a node over REST) and gives back the body to
execute or forward, and runs a groups request's with_lookup on its answer.
Another tenant's point read by a read is "not found", exactly as Qdrant
says of a missing one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dataplane.storage import StorageError
from keyset.tenant import Lookup, NotFound, Refused, Tenant, bind, foreign_ids, ownership_request

# (collection, body of a read of its points) -> its answer's `result`: the
# records of POST /collections/{c}/points, the page of …/points/scroll
Reader = Callable[[str, dict], Awaitable[list | dict]]


async def bound_request(tenant: Tenant, method: str, segments: list[str], body, read: Reader,
                        node: bool = False) -> tuple[object, bool, Lookup | None]:
    """(the body to run, whether it was rewritten, the with_lookup to run on its
    answer with `looked_up`). Raises keyset.rights.Forbidden (403) or StorageError
    (404 for another tenant's point, or the read's own). `node`: a real Qdrant
    node serves it, whose GET points/{id} words a missing point its own way."""
    plan = bind(tenant, method, segments, body)
    if plan is None:
        return body, False, None
    foreign = [foreign_ids(tenant, await read(check.collection, ownership_request(tenant, check)), check)
               for check in plan.checks]
    try:
        return plan.finish(foreign), plan.changed, plan.lookup
    except NotFound as exc:
        if node and method == "GET":
            raise StorageError(404, f"Not found: Point with id {exc.point} does not exists!") from None
        raise StorageError(404, exc.message) from None


async def bound_body(tenant: Tenant, method: str, segments: list[str], body, read: Reader,
                     node: bool = False) -> tuple[object, bool]:
    """`bound_request` for an executor that runs no with_lookup on an answer (gRPC):
    a request with one is refused rather than answered without it."""
    body, changed, lookup = await bound_request(tenant, method, segments, body, read, node)
    if lookup is not None:
        raise Refused("with_lookup is available to tenant-bound keys over REST only")
    return body, changed


async def looked_up(tenant: Tenant, lookup: Lookup, result, scroll: Reader):
    """A groups request's answer with its with_lookup run as the tenant's read:
    each group gets its point of the lookup collection only if that is the tenant's."""
    groups = result.get("groups") if isinstance(result, dict) else None
    request = lookup.request(tenant, groups) if isinstance(groups, list) else None
    if request is not None:
        page = await scroll(lookup.collection, request)
        lookup.attach(groups, page.get("points") or [])
    return result


def op_route(route, name: str | None, params: dict) -> tuple[str, list[str]]:
    """The REST method and path segments of a route of the table of access
    (dataplane/routes.py) with these values, as a REST client would have sent
    it (how gRPC and REST get one decision)."""
    values = iter([value for value in (name, params.get("id"), params.get("field")) if value is not None])
    return route.method, [next(values, "") if part == "*" else part for part in route.pattern]
