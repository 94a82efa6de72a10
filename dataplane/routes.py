"""The table of access: every route the front serves for an embedded cluster,
over REST and over gRPC, with the access it needs and the handler that serves it.

Read by both protocols (dataplane/pipeline.py): REST finds a route by method
and path (`match_rest`), gRPC by method name (`GRPC`); either way the same
`needs` is checked (keyset.rights.Access.check, with Qdrant's messages) and
the same storage handler runs (dataplane/storage.py). A `qdrant` cluster's
requests are not served from this table: its nodes apply Qdrant's own; the
front only names the route for the request's outcome (`group`).

`needs`: "read"/"write" on the collection in the path, "manage" cluster-wide,
"any" for every key (the handler filters what it shows). `group`: the
operation group of keyset.rights (read, write, index, collections), or
"other", for what a request's outcome reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dataplane.storage import ClusterStorage


@dataclass(frozen=True)
class Route:
    op: str  # the name an operation goes by between processes (dataplane/engine.py)
    method: str
    path: str
    needs: str
    group: str
    # None: answered by the front itself, from the key set (the version, aliases: none on this engine);
    # or, in NODE_ROUTES, never run here.
    handler: Callable | None
    grpc: tuple[str, ...] = ()  # gRPC methods served as this route (dataplane/grpcembedded.py)

    @property
    def pattern(self) -> tuple[str, ...]:
        return tuple("*" if part.startswith("{") else part for part in self.path.strip("/").split("/") if part)

    @property
    def values(self) -> tuple[str, ...]:
        """The names of the path's values, in order ("c", "id" ...)."""
        return tuple(part[1:-1] for part in self.path.split("/") if part.startswith("{"))


S = ClusterStorage
ROUTES: tuple[Route, ...] = (
    Route("version", "GET", "/", "any", "other", None),
    Route("list", "GET", "/collections", "any", "other", S.op_list, ("/qdrant.Collections/List",)),
    Route("aliases", "GET", "/aliases", "any", "other", None, ("/qdrant.Collections/ListAliases",)),
    Route("info", "GET", "/collections/{c}", "read", "read", S.op_info, ("/qdrant.Collections/Get",)),
    Route("create", "PUT", "/collections/{c}", "manage", "collections", S.op_create,
          ("/qdrant.Collections/Create",)),
    Route("update_collection", "PATCH", "/collections/{c}", "manage", "collections", S.op_update_collection),
    Route("delete_collection", "DELETE", "/collections/{c}", "manage", "collections", S.op_delete_collection,
          ("/qdrant.Collections/Delete",)),
    Route("exists", "GET", "/collections/{c}/exists", "read", "read", S.op_exists,
          ("/qdrant.Collections/CollectionExists",)),
    Route("collection_aliases", "GET", "/collections/{c}/aliases", "any", "other", None,
          ("/qdrant.Collections/ListCollectionAliases",)),
    Route("upsert", "PUT", "/collections/{c}/points", "write", "write", S.op_upsert, ("/qdrant.Points/Upsert",)),
    Route("retrieve", "POST", "/collections/{c}/points", "read", "read", S.op_retrieve, ("/qdrant.Points/Get",)),
    Route("get_point", "GET", "/collections/{c}/points/{id}", "read", "read", S.op_get_point),
    Route("delete_points", "POST", "/collections/{c}/points/delete", "write", "write", S.op_delete_points,
          ("/qdrant.Points/Delete",)),
    # A gRPC batch is its requests one by one, each as the single route.
    Route("query", "POST", "/collections/{c}/points/query", "read", "read", S.op_query,
          ("/qdrant.Points/Query", "/qdrant.Points/QueryBatch")),
    Route("search", "POST", "/collections/{c}/points/search", "read", "read", S.op_search,
          ("/qdrant.Points/Search", "/qdrant.Points/SearchBatch")),
    Route("query_batch", "POST", "/collections/{c}/points/query/batch", "read", "read", S.op_query_batch),
    Route("search_batch", "POST", "/collections/{c}/points/search/batch", "read", "read", S.op_search_batch),
    Route("recommend", "POST", "/collections/{c}/points/recommend", "read", "read", S.op_recommend,
          ("/qdrant.Points/Recommend", "/qdrant.Points/RecommendBatch")),
    Route("scroll", "POST", "/collections/{c}/points/scroll", "read", "read", S.op_scroll, ("/qdrant.Points/Scroll",)),
    Route("count", "POST", "/collections/{c}/points/count", "read", "read", S.op_count, ("/qdrant.Points/Count",)),
    Route("set_payload", "POST", "/collections/{c}/points/payload", "write", "write", S.op_set_payload,
          ("/qdrant.Points/SetPayload",)),
    Route("overwrite_payload", "PUT", "/collections/{c}/points/payload", "write", "write", S.op_overwrite_payload,
          ("/qdrant.Points/OverwritePayload",)),
    Route("delete_payload", "POST", "/collections/{c}/points/payload/delete", "write", "write", S.op_delete_payload,
          ("/qdrant.Points/DeletePayload",)),
    Route("create_index", "PUT", "/collections/{c}/index", "write", "index", S.op_create_index,
          ("/qdrant.Points/CreateFieldIndex",)),
    Route("delete_index", "DELETE", "/collections/{c}/index/{field}", "write", "index", S.op_delete_index,
          ("/qdrant.Points/DeleteFieldIndex",)),
)
del S

# Routes the embedded runtime has no op for, which a real Qdrant node serves:
# a tenant-bound key's gRPC call to a `qdrant` cluster is read as one of them,
# bound by keyset/tenant.py like the REST request and sent to a node over
# REST (dataplane/grpcembedded.py). Not in REST's table, so an embedded
# cluster answers them as before (REST 404, gRPC UNIMPLEMENTED).
NODE_ROUTES: tuple[Route, ...] = (
    Route("facet", "POST", "/collections/{c}/facet", "read", "read", None, ("/qdrant.Points/Facet",)),
    Route("search_groups", "POST", "/collections/{c}/points/search/groups", "read", "read", None,
          ("/qdrant.Points/SearchGroups",)),
    Route("query_groups", "POST", "/collections/{c}/points/query/groups", "read", "read", None,
          ("/qdrant.Points/QueryGroups",)),
    Route("recommend_groups", "POST", "/collections/{c}/points/recommend/groups", "read", "read", None,
          ("/qdrant.Points/RecommendGroups",)),
    Route("discover", "POST", "/collections/{c}/points/discover", "read", "read", None,
          ("/qdrant.Points/Discover", "/qdrant.Points/DiscoverBatch")),
    Route("matrix_pairs", "POST", "/collections/{c}/points/search/matrix/pairs", "read", "read", None,
          ("/qdrant.Points/SearchMatrixPairs",)),
    Route("matrix_offsets", "POST", "/collections/{c}/points/search/matrix/offsets", "read", "read", None,
          ("/qdrant.Points/SearchMatrixOffsets",)),
    # All or nothing: the whole batch is one REST request, decided whole.
    Route("batch_update", "POST", "/collections/{c}/points/batch", "write", "write", None,
          ("/qdrant.Points/UpdateBatch",)),
    Route("update_vectors", "PUT", "/collections/{c}/points/vectors", "write", "write", None,
          ("/qdrant.Points/UpdateVectors",)),
    Route("delete_vectors", "POST", "/collections/{c}/points/vectors/delete", "write", "write", None,
          ("/qdrant.Points/DeleteVectors",)),
    Route("clear_payload", "POST", "/collections/{c}/points/payload/clear", "write", "write", None,
          ("/qdrant.Points/ClearPayload",)),
)

REST: dict[tuple[str, tuple[str, ...]], Route] = {(route.method, route.pattern): route for route in ROUTES}
GRPC: dict[str, Route] = {method: route for route in ROUTES for method in route.grpc}
NODE_GRPC: dict[str, Route] = {**GRPC, **{method: route for route in NODE_ROUTES for method in route.grpc}}
BY_OP: dict[str, Route] = {route.op: route for route in ROUTES}
_FIXED = {part for route in ROUTES for part in route.pattern if part != "*"}


def match_rest(method: str, segments: list[str]) -> tuple[Route, list[str]] | None:
    """The route for these decoded path segments, with the values of its `{…}` parts."""
    if segments == [""]:
        segments = []
    pattern = tuple(s if s in _FIXED else "*" for s in segments)
    candidates = [pattern]
    # A collection may be named like a fixed word ("points", "count" ...).
    if len(segments) >= 2 and pattern[1] != "*":
        candidates.append((pattern[0], "*", *pattern[2:]))
    if len(segments) == 4 and pattern[3] != "*":
        candidates.append((*candidates[-1][:3], "*"))
    for candidate in candidates:
        route = REST.get((method, candidate))
        if route is not None:
            return route, [s for s, p in zip(segments, candidate, strict=True) if p == "*"]
    return None
