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
from keyset.tenant import Lookup, NotFound, Plan, Refused, Tenant, bind, foreign_ids, ownership_request

# (collection, body of a read of its points) -> its answer's `result`: the
# records of POST /collections/{c}/points, the page of …/points/scroll
Reader = Callable[[str, dict], Awaitable[list | dict]]


async def bound_request(tenant: Tenant, method: str, segments: list[str], body, read: Reader,
                        node: bool = False, *, in_place: bool = False, lookups: bool = False) -> Plan | None:
    """The request's plan, finished: `plan.body` runs (None: the key's plain access
    applies to `body`). Raises keyset.rights.Forbidden (403) or StorageError (404
    for another tenant's point, or the read's own). `node`: a real Qdrant node
    serves it, whose GET points/{id} words a missing point its own way.

    `in_place`: the executor maps the runtime's answer back (`revealed`,
    `stood_in`), so another tenant's example id goes as a stand-in the runtime
    finds missing itself (keyset.tenant.Plan.finish); else the request is "not
    found" before it runs. `lookups`: the executor runs a with_lookup on the
    answer (`looked_up`); else a request with one is refused."""
    plan = bind(tenant, method, segments, body)
    if plan is None:
        return None
    foreign = [foreign_ids(tenant, await read(check.collection, ownership_request(tenant, check)), check)
               for check in plan.checks]
    try:
        plan.finish(foreign, in_place)
    except NotFound as exc:
        if node and method == "GET":
            raise StorageError(404, f"Not found: Point with id {exc.point} does not exists!") from None
        raise StorageError(404, exc.message) from None
    if plan.lookup is not None and not lookups:
        raise Refused("with_lookup is not available to tenant-bound keys on this runtime")
    return plan


def revealed(plan: Plan | None, error: StorageError) -> StorageError:
    """The runtime's error for a body with stand-ins, naming the ids the request named."""
    if plan is None or not plan.hidden:
        return error
    return StorageError(error.status, plan.reveal(error.message))


def stood_in(plan: Plan | None) -> StorageError | None:
    """The answer to a body with stand-ins that its runtime answered without finding
    one missing (never seen: Qdrant refuses a missing example): not found."""
    return StorageError(404, plan.not_found().message) if plan is not None and plan.hidden else None


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
