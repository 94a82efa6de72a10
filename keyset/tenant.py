"""Tenant-bound keys: what a key bound to one tenant may ask, and how its request is bound (issue 23).

A database API key may carry a tenant condition: a payload field and one
value (keyword, integer or UUID), on all of its collections or some, with
read-only or read-write access. The front enforces it on every request it
sees, REST and gRPC alike (gRPC is converted to the REST shape first), on
embedded clusters and on real Qdrant nodes: this module is the one place
that decides, on plain values, with no Django and no I/O.

`bind(tenant, method, segments, body)` takes a REST route (the path's
decoded segments) and its parsed JSON body and returns a `Plan`, or raises
`Refused` (403); the body is rewritten in place. A plan holds the body to execute (filters ANDed with the
condition, every point checked) and the `checks` its executor must make
first: which point ids exist with another tenant's value (read them with
`ownership_request`, answer with `foreign_ids`), then `plan.finish(...)`
gives the body, or raises `Refused`/`NotFound` (another tenant's point is
"not found" to a read, exactly as a missing one).

Fail closed: a route this module does not know, collection and index
management, snapshots, aliases and cluster routes are refused, and so is a
body field it does not know (it could carry a way round the condition).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from keyset.rights import Decision, Forbidden

KINDS = ("keyword", "integer", "uuid")
ACCESS = ("r", "rw")
_FIELD = re.compile(r"\A[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
_I64 = 2**63
_COLUMN = re.compile(r"at line 1 column (\d+)")  # where serde_json says a JSON body fails to parse


class Refused(Forbidden):
    """403 "Forbidden: <message>": the request is not available to this tenant-bound key."""


class NotFound(Exception):
    """404 as Qdrant words a missing point: another tenant's point is not distinguishable from one."""

    def __init__(self, point):
        self.point = point
        self.message = f"Not found: No point with id {point} found"
        super().__init__(self.message)


def tenant_value(kind: str, value):
    """The bound value in its canonical form for `kind`; ValueError when it is not one."""
    if kind == "keyword":
        if not isinstance(value, str) or not value or len(value) > 256:
            raise ValueError("a keyword value is a string of 1 to 256 characters")
        return value
    if kind == "integer":
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value.strip()):
            value = int(value)
        if type(value) is not int or not -_I64 <= value < _I64:
            raise ValueError("an integer value is a whole number of 64 bits")
        return value
    if kind == "uuid":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise ValueError("a UUID value looks like 123e4567-e89b-12d3-a456-426614174000") from None
    raise ValueError(f"the value type is one of {', '.join(KINDS)}")


def check_field(name) -> str:
    """A tenant field is a top-level payload key: a name, no path (ValueError otherwise)."""
    if not isinstance(name, str) or not _FIELD.match(name):
        raise ValueError("the tenant field is a top-level payload key: letters, digits, _ and -, "
                         "starting with a letter or _ (at most 64)")
    return name


@dataclass(frozen=True)
class Tenant:
    """The condition `field = value` on `collections` (None: every collection)."""

    field: str
    value: str | int
    kind: str
    write: bool
    collections: frozenset[str] | None = None

    def binds(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def conditions(self, write: bool = False) -> list[dict]:
        """A read's condition is Qdrant's match: a point whose field is a list
        holding the value (["acme", "globex"], made by an unbound key) is seen
        by each tenant in it, as `sees` says. A write's also needs the field to
        hold that one value (`owns`): a shared point is no one tenant's to change.
        (On reads, values_count made a query 3x slower: bench/tenant.py.)"""
        match = {"key": self.field, "match": {"value": self.value}}
        return [match, {"key": self.field, "values_count": {"lt": 2}}] if write else [match]

    def sees(self, payload) -> bool:
        """Whether a read shows this point to the tenant: its field is the value or a list holding it."""
        if not isinstance(payload, dict):
            return False
        given = payload.get(self.field)
        return any(self._equal(value) for value in given) if isinstance(given, list) else self._equal(given)

    def owns(self, payload) -> bool:
        """Whether the tenant may change this point: its field holds the tenant's value and no other."""
        if not isinstance(payload, dict) or self.field not in payload:
            return False
        given = payload[self.field]
        if isinstance(given, list) and len(given) == 1:
            given = given[0]
        return self._equal(given)

    def _equal(self, given) -> bool:
        if self.kind == "integer":
            return type(given) is int and given == self.value
        if self.kind == "uuid" and isinstance(given, str):
            try:
                return str(uuid.UUID(given)) == self.value
            except ValueError:
                return False
        return given == self.value

    def describe(self) -> str:
        shown = f'"{self.value}"' if isinstance(self.value, str) else str(self.value)
        where = "every collection" if self.collections is None else ", ".join(sorted(self.collections))
        return f"{self.field} = {shown} ({self.kind}, {'read-write' if self.write else 'read-only'}) on {where}"


def tenant_from_wire(row) -> Tenant | None:
    """The `tenant` of a wire.DATABASE_KEY row: None, or [field, value, kind, access, collections or None]."""
    if row is None:
        return None
    name, value, kind, access, collections = row
    return Tenant(check_field(name), tenant_value(kind, value), kind, access == "rw",
                  None if collections is None else frozenset(collections))


def tenant_to_wire(name: str, value, kind: str, access: str, collections) -> list | None:
    """What the console sends for a key's binding (None: unbound); `collections` empty means all."""
    if not name:
        return None
    return [name, tenant_value(kind, value), kind, access, sorted(collections) if collections else None]


# -- plans --------------------------------------------------------------------------------------------

HIDE = "hide"  # a read naming another tenant's point: 404, as a missing point
REFUSE = "refuse"  # a write naming another tenant's point: 403, nothing is changed
DROP = "drop"  # retrieve by ids: another tenant's points are left out of the answer


@dataclass
class IdCheck:
    """Point ids whose owner must be known before the request runs."""

    collection: str
    ids: list
    mode: str
    drop_from: list | None = None  # DROP: the body's list the foreign ids leave
    # HIDE, examples: (container, key) of each id in the body, where an id no
    # point has may stand in for another tenant's (Plan.finish).
    places: list | None = None


@dataclass
class Plan:
    body: object
    checks: list[IdCheck] = field(default_factory=list)
    tenant: Tenant | None = None
    # Whether the body was rewritten (a filter ANDed, ids dropped): if not, a
    # front may forward the bytes it got instead of encoding them again.
    changed: bool = False
    # A groups request's with_lookup, taken out of the body: its executor runs it
    # on the answer (Lookup.request, Lookup.attach) or refuses the request.
    lookup: Lookup | None = None
    # A stand-in id (a fresh UUID, no point's) -> the other tenant's id it replaced (finish).
    hidden: dict = field(default_factory=dict)

    def finish(self, foreign: list[set], in_place: bool = False) -> object:
        """The body to execute, given for each check the ids found with another
        tenant's value (`foreign_ids`); raises NotFound or Refused.

        `in_place`: another tenant's example id is replaced by a stand-in, which
        the runtime finds missing at the very step it would find a missing id,
        after refusing whatever it refuses first (a body it cannot read, a query
        it does not serve): its answer, with `reveal`, is then a missing id's,
        word for word. Else (an executor that cannot map its answer back) the
        request is "not found" before it runs."""
        for check, others in zip(self.checks, foreign, strict=True):
            if not others:
                continue
            named = [pid for pid in check.ids if _norm(pid) in others]
            if check.mode == HIDE and in_place and check.places is not None:
                for container, key in check.places:
                    if _norm(container[key]) in others:
                        stand_in = str(uuid.uuid4())
                        self.hidden[stand_in] = container[key]
                        container[key] = stand_in
                self.changed = True
                continue
            if check.mode == HIDE:
                raise NotFound(named[0])
            if check.mode == REFUSE:
                raise Refused(f"point {named[0]} is another tenant's: this key may change only points "
                              f"with {self.tenant.field} = {_shown(self.tenant.value)}")
            check.drop_from[:] = [pid for pid in check.drop_from if _norm(pid) not in others]
            self.changed = True
        return self.body

    def reveal(self, text: str, sent: str | None = None) -> str:
        """The runtime's answer to a body with stand-ins, naming the ids the request
        named. `sent`: the JSON text the runtime read, so that a parse error's column
        counts as if the ids had been there (a stand-in is longer than most ids)."""
        if sent is not None:
            def column(match) -> str:
                at = int(match.group(1))
                shift = sum(len(stand_in) + 2 - len(json.dumps(pid)) for stand_in, pid in self.hidden.items()
                            if 0 <= sent.find(f'"{stand_in}"') < at - 1)  # wholly before the column (1-based)
                return f"at line 1 column {at - shift}"
            text = _COLUMN.sub(column, text)
        for stand_in, pid in self.hidden.items():
            text = text.replace(stand_in, str(_norm(pid)))
        return text

    def not_found(self) -> NotFound:
        """What a request with a stand-in answers if its runtime found nothing missing
        (it always does: Qdrant refuses a missing example): another tenant's id, not found."""
        return NotFound(next(iter(self.hidden.values())))


@dataclass(frozen=True)
class Lookup:
    """What a bound groups request's `with_lookup` asked for. Qdrant retrieves the
    points whose ids are the groups' ids; the front reads them instead with the
    condition ANDed (`request`), so another tenant's point is missing, and a
    group whose point is missing has no `lookup`, as in Qdrant (`attach`)."""

    collection: str
    with_payload: object
    with_vectors: object
    shard_key: object = None

    def request(self, tenant: Tenant, groups: list) -> dict | None:
        """The body of `POST /collections/{collection}/points/scroll` reading the
        tenant's points named by these groups' ids (None: no id names a point)."""
        ids = list(dict.fromkeys(pid for pid in (_group_point(group.get("id")) for group in groups)
                                 if pid is not None))
        if not ids:
            return None
        body = {"filter": {"must": [*tenant.conditions(), {"has_id": ids}]}, "limit": len(ids),
                "with_payload": self.with_payload, "with_vector": self.with_vectors}
        if self.shard_key is not None:
            body["shard_key"] = self.shard_key
        return body

    @staticmethod
    def attach(groups: list, records: list) -> None:
        """Gives each group the record with its id, as Qdrant's lookup does (in place)."""
        found = {record.get("id"): record for record in records}
        for group in groups:
            pid = _group_point(group.get("id"))
            if pid in found:
                group["lookup"] = found[pid]


def _group_point(group_id):
    """The point id a group's id looks up, or None. Qdrant tries every id (lib/collection/src/lookup)
    but keys what it found by the point's own id: only an unsigned integer or a UUID
    in its canonical form ever gets its record."""
    if type(group_id) is int:
        return group_id if 0 <= group_id < 2**64 else None
    if isinstance(group_id, str):
        try:
            return group_id if str(uuid.UUID(group_id)) == group_id else None
        except ValueError:
            return None
    return None


def ownership_request(tenant: Tenant, check: IdCheck) -> dict:
    """The body of `POST /collections/{c}/points` that reads what `foreign_ids` needs."""
    return {"ids": list(check.ids), "with_payload": [tenant.field], "with_vector": False}


def foreign_ids(tenant: Tenant, records, check: IdCheck) -> set:
    """Of the records `ownership_request` read for `check`, the ids (normalised)
    of points not the tenant's: not seen by it for a read, not its alone for a write."""
    mine = tenant.owns if check.mode == REFUSE else tenant.sees
    return {_norm(r.get("id")) for r in records or () if not mine(r.get("payload"))}


def _norm(pid):
    if isinstance(pid, str):
        try:
            return str(uuid.UUID(pid))
        except ValueError:
            return pid
    return pid


def _shown(value) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


NOT_AVAILABLE = "not available to tenant-bound keys"

# Routes that name no collection and reveal no point.
_OPEN = {("GET", ()), ("GET", ("collections",))}


def route_refusal(tenant: Tenant, method: str, segments: list[str]) -> str | None:
    """Why a tenant-bound key may not use this route at all, or None (the body
    is then decided by `bind`). Also what the key's page shows."""
    try:
        _route(tenant, method, list(segments))
    except Refused as refusal:
        return refusal.message
    return None


def _route(tenant: Tenant, method: str, segments: list[str]):
    """(collection, rule, point id in the path) of a route a tenant key may use;
    (None, None, None) for an open route or a collection not bound. Raises Refused."""
    if segments == [""]:
        segments = []
    if (method, tuple(segments)) in _OPEN:
        return None, None, None
    if len(segments) < 2 or segments[0] != "collections":
        raise Refused(f"{method} /{'/'.join(segments)} is {NOT_AVAILABLE}")
    collection, rest = segments[1], tuple(segments[2:])
    if not tenant.binds(collection) or (method == "GET" and rest == ("exists",)):
        return None, None, None
    pattern, point = rest, None
    if len(rest) == 2 and rest[0] == "points" and method == "GET":
        pattern, point = ("points", "{id}"), rest[1]
    rule = _RULES.get((method, pattern))
    if rule is None:
        raise Refused(f"{method} /collections/{{collection}}{''.join('/' + p for p in pattern)} is {NOT_AVAILABLE}")
    if rule[1] and not tenant.write:
        raise Refused(f"this key is bound read-only to {tenant.field} = {_shown(tenant.value)}: it cannot write")
    return collection, rule[0], point


def bind(tenant: Tenant, method: str, segments: list[str], body) -> Plan | None:
    """The plan for one REST request of a tenant-bound key; None: the route's
    collection is not bound (the key's plain access applies). Raises Refused."""
    collection, handler, point = _route(tenant, method, list(segments))
    if handler is None:
        if collection is None and len(segments) >= 2 and not tenant.binds(segments[1]):
            return None
        return Plan(body, tenant=tenant)
    ctx = _Context(tenant, collection, f"{method} /{'/'.join(segments)}")
    if point is not None:
        ctx.checks.append(IdCheck(collection, [_path_id(point)], HIDE))
        return Plan(body, ctx.checks, tenant)
    new_body = handler(ctx, _obj(body if body is not None else {}, "the body"))
    return Plan(new_body, ctx.checks, tenant, ctx.changed, ctx.lookup_of_groups)


def bound_matrix(tenant: Tenant | None, matrix: list) -> list:
    """keyset.rights.rights_matrix's rows for a tenant-bound key: on a bound
    collection, what the front refuses whatever the key's access (route_refusal,
    the very check of every request), and a note on what it allows."""
    if tenant is None:
        return matrix
    rows = []
    for collection, decisions in matrix:
        if not tenant.binds(collection):
            rows.append((collection, decisions))
            continue
        bound = []
        for decision in decisions:
            if decision.allowed:
                method, path = decision.group.example.split(" ", 1)
                segments = path.replace("{c}", collection).strip("/").split("/")
                refusal = route_refusal(tenant, method, segments)
                if refusal is not None:
                    decision = Decision(decision.group, False, refusal)
                else:
                    decision = Decision(decision.group, True, "",
                                        note=f"Only points with {tenant.field} = {_shown(tenant.value)}")
            bound.append(decision)
        rows.append((collection, bound))
    return rows


class _Context:
    __slots__ = ("changed", "checks", "collection", "lookup_of_groups", "route", "tenant")

    def __init__(self, tenant: Tenant, collection: str, route: str):
        self.tenant, self.collection, self.route = tenant, collection, route
        self.checks: list[IdCheck] = []
        self.changed = False
        self.lookup_of_groups: Lookup | None = None

    def fields(self, body: dict, allowed: frozenset, what: str = "the body") -> None:
        for key in body:
            if key not in allowed:
                raise Refused(f"the field `{key}` in {what} of {self.route} is unknown here, so it is "
                              f"{NOT_AVAILABLE}")

    def filtered(self, body: dict, key: str = "filter", write: bool = False) -> None:
        """ANDs the condition into `body[key]`."""
        given = body.get(key)
        self.changed = True
        conditions = self.tenant.conditions(write)
        if given is None or given == {}:
            body[key] = {"must": conditions}
        else:
            body[key] = {"must": [*conditions, _obj(given, "a filter")]}

    def check(self, ids: list, mode: str, collection: str | None = None, drop_from: list | None = None,
              places: list | None = None) -> None:
        if ids:
            self.checks.append(IdCheck(collection or self.collection, list(ids), mode, drop_from, places))

    def lookup(self, body: dict) -> str:
        """The collection a request's point ids are read from: its own, or `lookup_from`'s, which must be bound too."""
        lookup = body.get("lookup_from")
        if lookup is None:
            return self.collection
        lookup = _obj(lookup, "lookup_from")
        self.fields(lookup, frozenset({"collection", "vector", "shard_key"}), "lookup_from")
        return self.bound_elsewhere(lookup, "lookup_from")

    def bound_elsewhere(self, given: dict, what: str) -> str:
        """The collection `what` (lookup_from, with_lookup) reads from, where the key must be bound too."""
        other = given.get("collection")
        if not isinstance(other, str):
            raise Refused(f"{what} names a collection")
        if not self.tenant.binds(other):
            raise Refused(f"{what} {other}: the key is not bound to its tenant there, so it is {NOT_AVAILABLE}")
        return other


def _obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise Refused(f"{what} must be a JSON object")
    return value


def _list(value, what: str) -> list:
    if not isinstance(value, list):
        raise Refused(f"{what} must be a list")
    return value


def _path_id(text: str):
    return int(text) if text.isdigit() else text


def _is_id(value) -> bool:
    return (type(value) is int and value >= 0) or isinstance(value, str)


# -- reads --------------------------------------------------------------------------------------------

_READ_OPTIONS = frozenset({"filter", "limit", "offset", "params", "with_payload", "with_vector", "score_threshold",
                           "shard_key"})
_QUERY = _READ_OPTIONS | {"prefetch", "query", "using", "lookup_from"}
_PREFETCH = frozenset({"prefetch", "query", "using", "filter", "params", "score_threshold", "limit",
                       "lookup_from"})
_GROUPS = frozenset({"group_by", "group_size", "with_lookup"})


def _examples(ctx: _Context, places: list, collection: str) -> None:
    """Point ids used as vectors (recommend examples, a query by id) must be the
    tenant's: else "not found". `places`: (container, key) of each value."""
    places = [(container, key) for container, key in places if _is_id(container[key])]
    ctx.check([container[key] for container, key in places], HIDE, collection, places=places)


def _at(holder: dict, *keys: str) -> list:
    """The places of the values of these keys of `holder` that are there."""
    return [(holder, key) for key in keys if holder.get(key) is not None]


def _each(holder: dict, key: str) -> list:
    """The places of the items of the list `holder[key]`."""
    items = _list(holder[key], key) if holder.get(key) is not None else []
    return [(items, index) for index in range(len(items))]


def _query_input(ctx: _Context, holder: dict, key: str, collection: str) -> None:
    """The point ids a universal query (POST /points/query), `holder[key]`, names."""
    query = holder.get(key)
    if query is None or isinstance(query, list):
        return
    if _is_id(query):
        return _examples(ctx, [(holder, key)], collection)
    query = _obj(query, "query")
    if len(query) == 0:
        return
    if "nearest" in query:
        ctx.fields(query, frozenset({"nearest", "mmr"}), "query")
        return _query_input(ctx, query, "nearest", collection)
    if "recommend" in query:
        recommend = _obj(query["recommend"], "recommend")
        ctx.fields(recommend, frozenset({"positive", "negative", "strategy"}), "recommend")
        return _examples(ctx, [*_each(recommend, "positive"), *_each(recommend, "negative")], collection)
    if "discover" in query:
        discover = _obj(query["discover"], "discover")
        ctx.fields(discover, frozenset({"target", "context"}), "discover")
        _examples(ctx, _at(discover, "target"), collection)
        return _pairs(ctx, discover.get("context"), collection)
    if "context" in query:
        return _pairs(ctx, query["context"], collection)
    if set(query) <= {"indices", "values"} or set(query) & {"text", "image", "object"}:
        return  # a sparse vector, or a document to embed
    if set(query) & {"fusion", "rrf", "order_by", "sample", "formula"}:
        return
    raise Refused(f"the query {sorted(query)[0]!r} is {NOT_AVAILABLE}")


def _pairs(ctx: _Context, context, collection: str) -> None:
    if context is None:
        return
    for pair in context if isinstance(context, list) else [context]:
        pair = _obj(pair, "a context pair")
        ctx.fields(pair, frozenset({"positive", "negative"}), "a context pair")
        _examples(ctx, _at(pair, "positive", "negative"), collection)


def _prefetches(ctx: _Context, body: dict, collection: str) -> None:
    prefetch = body.get("prefetch")
    if prefetch is None:
        return
    items = prefetch if isinstance(prefetch, list) else [prefetch]
    for item in items:
        item = _obj(item, "a prefetch")
        ctx.fields(item, _PREFETCH, "a prefetch")
        ctx.filtered(item)
        inner = ctx.lookup(item) if item.get("lookup_from") is not None else collection
        _query_input(ctx, item, "query", inner)
        _prefetches(ctx, item, inner)


def _query(ctx: _Context, body: dict, allowed: frozenset = _QUERY) -> dict:
    ctx.fields(body, allowed)
    _with_lookup(ctx, body)
    ctx.filtered(body)
    collection = ctx.lookup(body)
    _query_input(ctx, body, "query", collection)
    _prefetches(ctx, body, collection)
    return body


def _query_groups(ctx: _Context, body: dict) -> dict:
    return _query(ctx, body, _QUERY | _GROUPS)


def _with_lookup(ctx: _Context, body: dict) -> None:
    """A groups request's `with_lookup`, into a collection the key is bound in too:
    Qdrant reads it by the groups' ids with no filter to AND, so it leaves the
    body and the front runs it on the answer, as the tenant's read (`Lookup`)."""
    given = body.pop("with_lookup", None)
    if given is None:
        return
    ctx.changed = True
    if isinstance(given, str):  # Qdrant's short form: the payload, no vectors
        given = {"collection": given}
    given = _obj(given, "with_lookup")
    ctx.fields(given, frozenset({"collection", "with_payload", "with_vectors"}), "with_lookup")
    other = ctx.bound_elsewhere(given, "with_lookup")
    with_payload = given.get("with_payload")
    with_vectors = given.get("with_vectors")
    ctx.lookup_of_groups = Lookup(other, True if with_payload is None else with_payload,
                                  False if with_vectors is None else with_vectors, body.get("shard_key"))


_SEARCH = _READ_OPTIONS | {"vector"}


def _search(ctx: _Context, body: dict, allowed: frozenset = _SEARCH) -> dict:
    ctx.fields(body, allowed)
    _with_lookup(ctx, body)
    ctx.filtered(body)
    return body


def _search_groups(ctx: _Context, body: dict) -> dict:
    return _search(ctx, body, (_SEARCH - {"offset"}) | _GROUPS)


_RECOMMEND = _READ_OPTIONS | {"positive", "negative", "strategy", "using", "lookup_from"}


def _recommend(ctx: _Context, body: dict, allowed: frozenset = _RECOMMEND) -> dict:
    ctx.fields(body, allowed)
    _with_lookup(ctx, body)
    ctx.filtered(body)
    collection = ctx.lookup(body)
    _examples(ctx, [*_each(body, "positive"), *_each(body, "negative")], collection)
    return body


def _recommend_groups(ctx: _Context, body: dict) -> dict:
    return _recommend(ctx, body, (_RECOMMEND - {"offset"}) | _GROUPS)


_DISCOVER = _READ_OPTIONS | {"target", "context", "using", "lookup_from"}


def _discover(ctx: _Context, body: dict) -> dict:
    ctx.fields(body, _DISCOVER)
    ctx.filtered(body)
    collection = ctx.lookup(body)
    _examples(ctx, _at(body, "target"), collection)
    _pairs(ctx, body.get("context"), collection)
    return body


def _batch(single: Callable) -> Callable:
    def rule(ctx: _Context, body: dict) -> dict:
        ctx.fields(body, frozenset({"searches"}))
        for search in _list(body.get("searches"), "searches"):
            single(ctx, _obj(search, "a search"))
        return body

    return rule


def _fields_filtered(allowed: frozenset) -> Callable:
    def rule(ctx: _Context, body: dict) -> dict:
        ctx.fields(body, allowed)
        ctx.filtered(body)
        return body

    return rule


def _retrieve(ctx: _Context, body: dict) -> dict:
    ctx.fields(body, frozenset({"ids", "with_payload", "with_vector", "shard_key"}))
    ids = _list(body.get("ids"), "ids")
    ctx.check(ids, DROP, drop_from=ids)
    return body


# -- writes -------------------------------------------------------------------------------------------


def _points_ids(ctx: _Context, selector: dict) -> None:
    """A points selector: `points` (ids, each the tenant's) or `filter` (ANDed)."""
    if selector.get("points") is not None:
        ctx.check(_list(selector["points"], "points"), REFUSE)
    elif selector.get("filter") is not None:
        ctx.filtered(selector, write=True)
    else:
        raise Refused("a write names its points or a filter")


def _delete(ctx: _Context, body: dict) -> dict:
    ctx.fields(body, frozenset({"points", "filter", "shard_key"}))
    _points_ids(ctx, body)
    return body


def _carries(ctx: _Context, pid, payload) -> None:
    if not ctx.tenant.owns(payload):
        raise Refused(f"point {pid} must carry {ctx.tenant.field} = {_shown(ctx.tenant.value)} in its payload "
                      "(this key writes only its tenant's points)")


def _upsert(ctx: _Context, body: dict) -> dict:
    ctx.fields(body, frozenset({"points", "batch", "shard_key", "update_filter", "update_mode"}))
    if body.get("update_filter") is not None:
        ctx.filtered(body, "update_filter", write=True)
    if body.get("points") is not None:
        ids = []
        for point in _list(body["points"], "points"):
            point = _obj(point, "a point")
            ctx.fields(point, frozenset({"id", "vector", "payload"}), "a point")
            _carries(ctx, point.get("id"), point.get("payload"))
            ids.append(point.get("id"))
    elif body.get("batch") is not None:
        batch = _obj(body["batch"], "batch")
        ctx.fields(batch, frozenset({"ids", "vectors", "payloads"}), "batch")
        ids = _list(batch.get("ids"), "ids")
        payloads = batch.get("payloads")
        payloads = _list(payloads, "payloads") if payloads is not None else [None] * len(ids)
        if len(payloads) != len(ids):
            raise Refused("batch: one payload per id")
        for pid, payload in zip(ids, payloads, strict=True):
            _carries(ctx, pid, payload)
    else:
        raise Refused("an upsert has points or a batch")
    ctx.check(ids, REFUSE)
    return body


def _touches_field(ctx: _Context, key: str) -> bool:
    """Whether the payload path `key` is, or is inside, or holds the tenant field."""
    head = re.split(r"[.\[]", key, maxsplit=1)[0]
    return head == ctx.tenant.field or key == ""


def _set_payload(ctx: _Context, body: dict, *, overwrite: bool = False) -> dict:
    ctx.fields(body, frozenset({"payload", "points", "filter", "key", "shard_key"}))
    payload = _obj(body.get("payload"), "payload")
    key = body.get("key")
    if key is not None:
        if not isinstance(key, str) or _touches_field(ctx, key):
            raise Refused(f"a write cannot change the tenant field {ctx.tenant.field}")
    elif overwrite:
        if not ctx.tenant.owns(payload):
            raise Refused(f"an overwritten payload must keep {ctx.tenant.field} = {_shown(ctx.tenant.value)}")
    elif ctx.tenant.field in payload and not ctx.tenant.owns(payload):
        raise Refused(f"a write cannot change the tenant field {ctx.tenant.field}")
    _points_ids(ctx, body)
    return body


def _overwrite_payload(ctx: _Context, body: dict) -> dict:
    return _set_payload(ctx, body, overwrite=True)


def _delete_payload(ctx: _Context, body: dict) -> dict:
    ctx.fields(body, frozenset({"keys", "points", "filter", "shard_key"}))
    for key in _list(body.get("keys"), "keys"):
        if not isinstance(key, str) or _touches_field(ctx, key):
            raise Refused(f"a write cannot remove the tenant field {ctx.tenant.field}")
    _points_ids(ctx, body)
    return body


def _clear_payload(ctx: _Context, body: dict) -> dict:
    raise Refused(f"clearing a payload would remove the tenant field {ctx.tenant.field}: delete the other keys")


def _update_vectors(ctx: _Context, body: dict) -> dict:
    ctx.fields(body, frozenset({"points", "shard_key", "update_filter"}))
    ids = []
    for point in _list(body.get("points"), "points"):
        point = _obj(point, "a point")
        ctx.fields(point, frozenset({"id", "vector"}), "a point")
        ids.append(point.get("id"))
    if body.get("update_filter") is not None:
        ctx.filtered(body, "update_filter", write=True)
    ctx.check(ids, REFUSE)
    return body


def _delete_vectors(ctx: _Context, body: dict) -> dict:
    ctx.fields(body, frozenset({"points", "filter", "vector", "shard_key"}))
    _points_ids(ctx, body)
    return body


_OPERATIONS: dict[str, Callable] = {
    "upsert": _upsert, "delete": _delete, "set_payload": _set_payload, "overwrite_payload": _overwrite_payload,
    "delete_payload": _delete_payload, "clear_payload": _clear_payload, "update_vectors": _update_vectors,
    "delete_vectors": _delete_vectors,
}


def _batch_update(ctx: _Context, body: dict) -> dict:
    """Each operation by its own rule, all decided before any runs: all or nothing."""
    ctx.fields(body, frozenset({"operations"}))
    for operation in _list(body.get("operations"), "operations"):
        operation = _obj(operation, "an operation")
        if len(operation) != 1:
            raise Refused("an operation names one kind")
        kind, value = next(iter(operation.items()))
        rule = _OPERATIONS.get(kind)
        if rule is None:
            raise Refused(f"the operation {kind!r} is {NOT_AVAILABLE}")
        rule(ctx, _obj(value, kind))
    return body


# (method, path after /collections/{c}) -> (rule, whether it writes). Every
# route not here is refused to a tenant-bound key (collection and index
# management, snapshots, aliases, shards and cluster routes).
_RULES: dict[tuple[str, tuple[str, ...]], tuple[Callable, bool]] = {
    ("POST", ("points", "query")): (_query, False),
    ("POST", ("points", "query", "batch")): (_batch(_query), False),
    ("POST", ("points", "query", "groups")): (_query_groups, False),
    ("POST", ("points", "search")): (_search, False),
    ("POST", ("points", "search", "batch")): (_batch(_search), False),
    ("POST", ("points", "search", "groups")): (_search_groups, False),
    ("POST", ("points", "recommend")): (_recommend, False),
    ("POST", ("points", "recommend", "batch")): (_batch(_recommend), False),
    ("POST", ("points", "recommend", "groups")): (_recommend_groups, False),
    ("POST", ("points", "discover")): (_discover, False),
    ("POST", ("points", "discover", "batch")): (_batch(_discover), False),
    ("POST", ("points", "scroll")): (_fields_filtered(frozenset({"filter", "limit", "offset", "order_by",
                                                                 "with_payload", "with_vector", "shard_key"})),
                                     False),
    ("POST", ("points", "count")): (_fields_filtered(frozenset({"filter", "exact", "shard_key"})), False),
    ("POST", ("facet",)): (_fields_filtered(frozenset({"key", "limit", "filter", "exact", "shard_key"})), False),
    ("POST", ("points", "search", "matrix", "pairs")): (
        _fields_filtered(frozenset({"filter", "sample", "limit", "using", "shard_key"})), False),
    ("POST", ("points", "search", "matrix", "offsets")): (
        _fields_filtered(frozenset({"filter", "sample", "limit", "using", "shard_key"})), False),
    ("POST", ("points",)): (_retrieve, False),
    ("GET", ("points", "{id}")): (_retrieve, False),  # served by bind() itself: one id, HIDE
    ("PUT", ("points",)): (_upsert, True),
    ("POST", ("points", "delete")): (_delete, True),
    ("POST", ("points", "payload")): (_set_payload, True),
    ("PUT", ("points", "payload")): (_overwrite_payload, True),
    ("POST", ("points", "payload", "delete")): (_delete_payload, True),
    ("POST", ("points", "payload", "clear")): (_clear_payload, True),
    ("PUT", ("points", "vectors")): (_update_vectors, True),
    ("POST", ("points", "vectors", "delete")): (_delete_vectors, True),
    ("POST", ("points", "batch")): (_batch_update, True),
}

# The routes a tenant-bound key may use, for the key's page and the docs.
BOUND_ROUTES = tuple(f"{method} /collections/{{collection}}/{'/'.join(path)}" for method, path in _RULES)
