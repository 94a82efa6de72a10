"""Qdrant's gRPC API for clusters on the embedded runtime (issue 11).

The servicers subclass the ones generated in the qdrant-client wheel
(qdrant_client/grpc/*_pb2_grpc.py). Each method is served as the REST route
the table of access (dataplane/routes.py) names for it, so both protocols
share one table, checked and executed by the same steps of the request
pipeline (dataplane/pipeline.py), on the same shards. A request is converted to the REST body with qdrant-client's own
converters (GrpcToRest), the op's REST result back with RestToGrpc.

Qdrant's codes for what goes wrong (checked against a real Qdrant 1.16.3):
the REST status decides the code (`_CODES`) and the REST message is the
details; a message the converters cannot read is INVALID_ARGUMENT.
A method with no servicer here, or whose route the embedded runtime has no
op for (routes.NODE_ROUTES: served only to a real cluster's nodes), is
UNIMPLEMENTED, naming it.
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass
from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import GrpcToRest, RestToGrpc
from qdrant_client.grpc import collections_service_pb2, collections_service_pb2_grpc
from qdrant_client.grpc import points_service_pb2, points_service_pb2_grpc
from qdrant_client.http import models

from dataplane import routes, tenancy
from dataplane.pipeline import Pipeline, Request
from dataplane.storage import StorageError
from keyset.rights import Forbidden

logger = logging.getLogger(__name__)

# REST status -> gRPC code, as Qdrant maps its StorageError (src/tonic/api).
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT, 422: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED, 503: grpc.StatusCode.UNAVAILABLE,
}
_FIELD_TYPES = {
    pb.FieldType.FieldTypeKeyword: "keyword", pb.FieldType.FieldTypeInteger: "integer",
    pb.FieldType.FieldTypeFloat: "float", pb.FieldType.FieldTypeGeo: "geo", pb.FieldType.FieldTypeText: "text",
    pb.FieldType.FieldTypeBool: "bool", pb.FieldType.FieldTypeDatetime: "datetime",
    pb.FieldType.FieldTypeUuid: "uuid",
}


class Call:
    """What a servicer method gets in place of grpc's context: how to run the
    REST route its method is served as, for the request it serves."""

    __slots__ = ("message", "nodes", "pipeline", "request", "route")

    def __init__(self, pipeline: Pipeline, request: Request, route: routes.Route, nodes=None, message=None):
        self.pipeline, self.request, self.route = pipeline, request, route
        # A real cluster's nodes: the route is sent to one over REST (a tenant-bound key, see serve).
        self.nodes = nodes
        self.message = message  # the method's request: its consistency, ordering, timeout and shard key

    async def run(self, name: str | None, body=None, params: dict | None = None, part=None):
        """The route for `name`, with the call's options as its REST request
        carries them (_options); `part` is the request of a batch that this
        body was made from, whose own shard key goes with it."""
        params = {**_options(self.message), **(params or {})}
        if isinstance(body, dict):
            body = {**body, **_shard_key(self.message if part is None else part)}
        if self.nodes is None:
            self.pipeline.authorize(self.request, self.route, name)
            return await self.pipeline.execute(self.request, self.route, name, params, body)
        # As the REST forward does it (dataplane/app.py): another tenant's example
        # id goes as a stand-in the node finds missing itself, and a with_lookup
        # runs as the tenant's read of the answer.
        tenant, pipeline, nodes = self.request.tenant, self.pipeline, self.nodes
        method, segments = tenancy.op_route(self.route, name, params)
        plan = await tenancy.bound_request(tenant, method, segments, body, pipeline.node_reader(self.request, nodes),
                                           node=True, in_place=True, lookups=True)
        if plan is not None:
            body = plan.body
        query = {key: value for key, value in params.items() if key not in ("id", "field")}
        try:
            result = await pipeline.node_request(self.request, nodes, method, segments, query, body)
        except StorageError as exc:
            raise tenancy.revealed(plan, exc) from None
        if (not_found := tenancy.stood_in(plan)) is not None:
            raise not_found
        if plan is not None and plan.lookup is not None:
            result = await tenancy.looked_up(tenant, plan.lookup, result,
                                             pipeline.node_reader(self.request, nodes, ("points", "scroll")))
        return result

    def time(self) -> float:
        return self.request.elapsed()


class _FromClient:
    """qdrant-client's GrpcToRest, for the messages clients send: whatever a
    converter raises on one (a KeyError, a ZeroDivisionError for a multi-dense
    vector whose `vectors_count` is 0, ...) is that message's fault, so it
    becomes a ValueError, which serve() answers with INVALID_ARGUMENT."""

    def __getattr__(self, name: str):
        convert = getattr(GrpcToRest, name)

        def guarded(*args, **kwargs):
            try:
                return convert(*args, **kwargs)
            except (ValueError, TypeError, KeyError):
                raise
            except Exception as exc:
                raise ValueError(f"cannot read the message ({type(exc).__name__}: {exc})") from exc

        return guarded


FROM_CLIENT = _FromClient()


def _rest(model) -> dict | list:
    """A qdrant-client REST model as the JSON its REST client sends."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def _options(request) -> dict:
    """A request's read consistency, write ordering and timeout, as the REST
    query parameters Qdrant's routes take (`consistency` on reads, `ordering`
    on writes, `timeout` on reads). A write's timeout is not passed: Qdrant's
    REST write routes (1.16) read `timeout` as a Duration, which no query
    string can spell, so every value is a 400 there, where over gRPC it is
    served; the front's own deadline bounds the write instead."""
    fields = request.DESCRIPTOR.fields_by_name if request is not None else {}
    params = {}
    if "read_consistency" in fields and request.HasField("read_consistency"):
        consistency = FROM_CLIENT.convert_read_consistency(request.read_consistency)
        params["consistency"] = consistency.value if isinstance(consistency, models.ReadConsistencyType) else consistency
    if "ordering" in fields:  # a write
        if request.HasField("ordering"):
            params["ordering"] = FROM_CLIENT.convert_write_ordering(request.ordering).value
    elif "timeout" in fields and request.HasField("timeout"):
        params["timeout"] = request.timeout
    return params


def _shard_key(request) -> dict:
    """A request's shard key selector as the REST body's `shard_key`, which
    the tenant rules read as they read a REST client's."""
    if request is None or "shard_key_selector" not in request.DESCRIPTOR.fields_by_name \
            or not request.HasField("shard_key_selector"):
        return {}
    return {"shard_key": _rest_value(FROM_CLIENT.convert_shard_key_selector(request.shard_key_selector))}


def _wait(request) -> dict:
    # gRPC's `wait` is absent unless set: Qdrant acknowledges without waiting then.
    return {"wait": "true" if request.wait else "false"}


def _selector(request, field: str = "points_selector", missing: str = "points_selector is expected") -> dict:
    """A PointsSelector as the REST body's `points` or `filter`."""
    if not request.HasField(field):
        raise StorageError(400, missing)
    selector = _rest(FROM_CLIENT.convert_points_selector(getattr(request, field)))
    return {key: selector[key] for key in ("points", "filter") if key in selector}


class ReplyFailed(Exception):
    """A storage op's result that would not convert back: this module's fault, never the client's."""


def _reply(convert, model, value):
    try:
        return convert(model.model_validate(value))
    except Exception as exc:
        raise ReplyFailed(f"{model.__name__}: {exc}") from exc


def _update_response(result: dict, call: Call) -> pb.PointsOperationResponse:
    return pb.PointsOperationResponse(result=_reply(RestToGrpc.convert_update_result, models.UpdateResult, result),
                                      time=call.time())


def _scored(points: list) -> list:
    return [_reply(RestToGrpc.convert_scored_point, models.ScoredPoint, p) for p in points]


def _records(records: list) -> list:
    # A record read without its payload has none (null over REST); gRPC's
    # RetrievedPoint has an empty map there, which the converter does not make.
    return [_reply(RestToGrpc.convert_record, models.Record, r if r.get("payload") is not None else {**r, "payload": {}})
            for r in records]


def _read_options(request, vectors_field: str = "with_vectors") -> dict:
    body = {}
    if request.HasField("with_payload"):
        body["with_payload"] = _rest_value(FROM_CLIENT.convert_with_payload_interface(request.with_payload))
    if request.HasField(vectors_field):
        body["with_vector"] = _rest_value(FROM_CLIENT.convert_with_vectors_selector(getattr(request, vectors_field)))
    if "filter" in request.DESCRIPTOR.fields_by_name:
        body.update(_filter(request))
    return body


def _filter(request, field: str = "filter") -> dict:
    return {field: _rest(FROM_CLIENT.convert_filter(getattr(request, field)))} if request.HasField(field) else {}


def _set(request, *fields: str) -> dict:
    """The optional scalars a message sets, named as in the REST body."""
    return {field: getattr(request, field) for field in fields if request.HasField(field)}


def _search_options(request) -> dict:
    """What a search, recommend or discover message has besides its vectors and its groups."""
    body = {"limit": request.limit, **_read_options(request)}
    if request.HasField("params"):
        body["params"] = _rest(FROM_CLIENT.convert_search_params(request.params))
    return body


def _lookup_from(request) -> dict:
    if not request.HasField("lookup_from"):
        return {}
    return {"lookup_from": _rest(FROM_CLIENT.convert_lookup_location(request.lookup_from))}


def _groups(request) -> dict:
    body = {"group_by": request.group_by}
    if request.HasField("with_lookup"):
        body["with_lookup"] = _rest(FROM_CLIENT.convert_with_lookup(request.with_lookup))
    return body


def _rest_value(value):
    """A converter's result that may be a model or a plain value (bool, list)."""
    return _rest(value) if isinstance(value, models.BaseModel) else value


def _search_body(request: pb.SearchPoints | pb.SearchPointGroups) -> dict:
    vector: object = list(request.vector)
    if request.HasField("sparse_indices"):
        vector = {"indices": list(request.sparse_indices.data), "values": vector}
    if request.HasField("vector_name"):
        vector = {"name": request.vector_name, "vector": vector}
    body = {"vector": vector, **_search_options(request), **_set(request, "score_threshold")}
    if isinstance(request, pb.SearchPoints):
        body.update(_set(request, "offset"))
    return body


def _vector(vector: pb.Vector):
    return _rest_value(FROM_CLIENT.convert_vector(vector))


def _recommend_body(request: pb.RecommendPoints | pb.RecommendPointGroups) -> dict:
    # Qdrant reads a message's examples as its point ids, then its vectors.
    body = {"positive": [*map(FROM_CLIENT.convert_point_id, request.positive), *map(_vector, request.positive_vectors)],
            "negative": [*map(FROM_CLIENT.convert_point_id, request.negative), *map(_vector, request.negative_vectors)],
            **_search_options(request), **_set(request, "score_threshold", "using"), **_lookup_from(request)}
    if request.HasField("strategy"):
        body["strategy"] = FROM_CLIENT.convert_recommend_strategy(request.strategy).value
    if isinstance(request, pb.RecommendPoints):
        body.update(_set(request, "offset"))
    return body


def _example(example: pb.VectorExample):
    """A discover target or context example: a point id or a vector."""
    kind = example.WhichOneof("example")
    if kind is None:
        raise ValueError(f"invalid VectorExample model: {example}")
    return FROM_CLIENT.convert_point_id(example.id) if kind == "id" else _vector(example.vector)


def _discover_body(request: pb.DiscoverPoints) -> dict:
    body = {"context": [{"positive": _example(pair.positive), "negative": _example(pair.negative)}
                        for pair in request.context],
            **_search_options(request), **_set(request, "offset", "using"), **_lookup_from(request)}
    if request.HasField("target"):
        body["target"] = _example(request.target.single)
    return body


def _groups_response(response, result: dict, call: Call):
    return response(result=_reply(RestToGrpc.convert_groups_result, models.GroupsResult, result), time=call.time())


class Collections(collections_service_pb2_grpc.CollectionsServicer):
    async def List(self, request, call: Call):
        result = await call.run(None)
        return pb.ListCollectionsResponse(
            collections=[pb.CollectionDescription(name=c["name"]) for c in result["collections"]], time=call.time())

    async def Get(self, request, call: Call):
        result = await call.run(request.collection_name)
        info = _reply(RestToGrpc.convert_collection_info, models.CollectionInfo, result)
        return pb.GetCollectionInfoResponse(result=info, time=call.time())

    async def Create(self, request, call: Call):
        body = {}
        if request.HasField("vectors_config"):
            body["vectors"] = _rest_value(FROM_CLIENT.convert_vectors_config(request.vectors_config))
        if request.HasField("sparse_vectors_config"):
            body["sparse_vectors"] = {name: _rest(FROM_CLIENT.convert_sparse_vector_params(params))
                                      for name, params in request.sparse_vectors_config.map.items()}
        if request.HasField("on_disk_payload"):
            body["on_disk_payload"] = request.on_disk_payload
        if request.HasField("hnsw_config"):
            body["hnsw_config"] = _rest(FROM_CLIENT.convert_hnsw_config_diff(request.hnsw_config))
        if request.HasField("optimizers_config"):
            body["optimizers_config"] = _rest(FROM_CLIENT.convert_optimizers_config_diff(request.optimizers_config))
        if request.metadata:
            body["metadata"] = FROM_CLIENT.convert_payload(request.metadata)
        result = await call.run(request.collection_name, body)
        return pb.CollectionOperationResponse(result=result, time=call.time())

    async def Delete(self, request, call: Call):
        result = await call.run(request.collection_name)
        return pb.CollectionOperationResponse(result=result, time=call.time())

    async def CollectionExists(self, request, call: Call):
        result = await call.run(request.collection_name)
        return pb.CollectionExistsResponse(result=pb.CollectionExists(exists=result["exists"]), time=call.time())

    async def ListAliases(self, request, call: Call):
        await call.run(None)
        return pb.ListAliasesResponse(aliases=[], time=call.time())

    async def ListCollectionAliases(self, request, call: Call):
        await call.run(request.collection_name)
        return pb.ListAliasesResponse(aliases=[], time=call.time())


class Points(points_service_pb2_grpc.PointsServicer):
    async def Upsert(self, request, call: Call):
        if not request.points:
            raise StorageError(400, "Bad request: Empty update request")
        body = {"points": [_rest(FROM_CLIENT.convert_point_struct(point)) for point in request.points]}
        if request.HasField("update_filter"):  # a conditional upsert: bound like REST's (keyset/tenant.py)
            body["update_filter"] = _rest(FROM_CLIENT.convert_filter(request.update_filter))
        if request.HasField("update_mode"):  # Qdrant 1.17's; a node that lacks it refuses it rather than overwrite
            body["update_mode"] = FROM_CLIENT.convert_update_mode(request.update_mode).value
        return _update_response(await call.run(request.collection_name, body, _wait(request)), call)

    async def Delete(self, request, call: Call):
        body = _selector(request, "points", "PointSelector is missing")
        return _update_response(await call.run(request.collection_name, body, _wait(request)), call)

    async def Get(self, request, call: Call):
        body = {"ids": [FROM_CLIENT.convert_point_id(pid) for pid in request.ids], **_read_options(request)}
        result = await call.run(request.collection_name, body)
        return pb.GetResponse(result=_records(result), time=call.time())

    async def Query(self, request, call: Call):
        result = await call.run(request.collection_name, _rest(FROM_CLIENT.convert_query_points(request)))
        return pb.QueryResponse(result=_scored(result["points"]), time=call.time())

    async def QueryBatch(self, request, call: Call):
        # Like Qdrant, every request of the batch reads the batch's collection.
        results = [await call.run(request.collection_name, _rest(FROM_CLIENT.convert_query_points(query)), part=query)
                   for query in request.query_points]
        return pb.QueryBatchResponse(result=[pb.BatchResult(result=_scored(r["points"])) for r in results],
                                     time=call.time())

    async def Search(self, request, call: Call):
        result = await call.run(request.collection_name, _search_body(request))
        return pb.SearchResponse(result=_scored(result), time=call.time())

    async def SearchBatch(self, request, call: Call):
        results = [await call.run(request.collection_name, _search_body(search), part=search)
                   for search in request.search_points]
        return pb.SearchBatchResponse(result=[pb.BatchResult(result=_scored(r)) for r in results], time=call.time())

    async def Scroll(self, request, call: Call):
        body = _read_options(request)
        if request.HasField("offset"):
            body["offset"] = FROM_CLIENT.convert_point_id(request.offset)
        if request.HasField("limit"):
            body["limit"] = request.limit
        if request.HasField("order_by"):
            body["order_by"] = _rest(FROM_CLIENT.convert_order_by(request.order_by))
        result = await call.run(request.collection_name, body)
        next_offset = result["next_page_offset"]
        return pb.ScrollResponse(
            result=_records(result["points"]), time=call.time(),
            next_page_offset=RestToGrpc.convert_extended_point_id(next_offset) if next_offset is not None else None)

    async def Count(self, request, call: Call):
        result = await call.run(request.collection_name, {**_filter(request), **_set(request, "exact")})
        return pb.CountResponse(result=pb.CountResult(count=result["count"]), time=call.time())

    async def _payload(self, request, call: Call):
        body = {"payload": FROM_CLIENT.convert_payload(request.payload), **_selector(request)}
        if request.HasField("key"):
            body["key"] = request.key
        return _update_response(await call.run(request.collection_name, body, _wait(request)), call)

    async def SetPayload(self, request, call: Call):
        return await self._payload(request, call)

    async def OverwritePayload(self, request, call: Call):
        return await self._payload(request, call)

    async def DeletePayload(self, request, call: Call):
        body = {"keys": list(request.keys), **_selector(request)}
        return _update_response(await call.run(request.collection_name, body, _wait(request)), call)

    async def ClearPayload(self, request, call: Call):
        body = _selector(request, "points", "PointSelector is missing")
        return _update_response(await call.run(request.collection_name, body, _wait(request)), call)

    async def UpdateVectors(self, request, call: Call):
        body = {"points": [_rest(FROM_CLIENT.convert_point_vectors(point)) for point in request.points],
                **_filter(request, "update_filter")}
        return _update_response(await call.run(request.collection_name, body, _wait(request)), call)

    async def DeleteVectors(self, request, call: Call):
        if not request.HasField("vectors"):
            raise StorageError(400, "vectors is expected")
        body = {**_selector(request), "vector": FROM_CLIENT.convert_vectors_selector(request.vectors)}
        return _update_response(await call.run(request.collection_name, body, _wait(request)), call)

    async def UpdateBatch(self, request, call: Call):
        # One REST request: the tenant rules decide the whole batch before any of it runs.
        body = {"operations": [_rest(FROM_CLIENT.convert_points_update_operation(operation))
                               for operation in request.operations]}
        result = await call.run(request.collection_name, body, _wait(request))
        return pb.UpdateBatchResponse(
            result=[_reply(RestToGrpc.convert_update_result, models.UpdateResult, r) for r in result],
            time=call.time())

    async def SearchGroups(self, request, call: Call):
        body = {**_search_body(request), **_groups(request), "group_size": request.group_size}
        return _groups_response(pb.SearchGroupsResponse, await call.run(request.collection_name, body), call)

    async def QueryGroups(self, request, call: Call):
        # QueryPointGroups is QueryPoints less `offset` plus the groups; convert_query_points reads `offset`.
        body = {**_read_options(request), **_set(request, "using", "score_threshold", "limit", "group_size"),
                **_lookup_from(request), **_groups(request)}
        if request.prefetch:
            body["prefetch"] = [_rest(FROM_CLIENT.convert_prefetch_query(prefetch)) for prefetch in request.prefetch]
        if request.HasField("query"):
            body["query"] = _rest_value(FROM_CLIENT.convert_query(request.query))
        if request.HasField("params"):
            body["params"] = _rest(FROM_CLIENT.convert_search_params(request.params))
        return _groups_response(pb.QueryGroupsResponse, await call.run(request.collection_name, body), call)

    async def Recommend(self, request, call: Call):
        result = await call.run(request.collection_name, _recommend_body(request))
        return pb.RecommendResponse(result=_scored(result), time=call.time())

    async def RecommendBatch(self, request, call: Call):
        results = [await call.run(request.collection_name, _recommend_body(recommend), part=recommend)
                   for recommend in request.recommend_points]
        return pb.RecommendBatchResponse(result=[pb.BatchResult(result=_scored(r)) for r in results],
                                         time=call.time())

    async def RecommendGroups(self, request, call: Call):
        body = {**_recommend_body(request), **_groups(request), "group_size": request.group_size}
        return _groups_response(pb.RecommendGroupsResponse, await call.run(request.collection_name, body), call)

    async def Discover(self, request, call: Call):
        result = await call.run(request.collection_name, _discover_body(request))
        return pb.DiscoverResponse(result=_scored(result), time=call.time())

    async def DiscoverBatch(self, request, call: Call):
        results = [await call.run(request.collection_name, _discover_body(discover), part=discover)
                   for discover in request.discover_points]
        return pb.DiscoverBatchResponse(result=[pb.BatchResult(result=_scored(r)) for r in results],
                                        time=call.time())

    async def Facet(self, request, call: Call):
        body = {"key": request.key, **_filter(request), **_set(request, "limit", "exact")}
        result = await call.run(request.collection_name, body)
        return pb.FacetResponse(hits=[_reply(RestToGrpc.convert_facet_value_hit, models.FacetValueHit, hit)
                                      for hit in result["hits"]], time=call.time())

    async def SearchMatrixPairs(self, request, call: Call):
        result = await call.run(request.collection_name, _matrix_body(request))
        return pb.SearchMatrixPairsResponse(
            result=_reply(RestToGrpc.convert_search_matrix_pairs, models.SearchMatrixPairsResponse, result),
            time=call.time())

    async def SearchMatrixOffsets(self, request, call: Call):
        result = await call.run(request.collection_name, _matrix_body(request))
        return pb.SearchMatrixOffsetsResponse(
            result=_reply(RestToGrpc.convert_search_matrix_offsets, models.SearchMatrixOffsetsResponse, result),
            time=call.time())

    async def CreateFieldIndex(self, request, call: Call):
        if request.HasField("field_index_params"):
            schema = _rest(FROM_CLIENT.convert_payload_schema_params(request.field_index_params))
        elif request.HasField("field_type") and request.field_type in _FIELD_TYPES:
            schema = _FIELD_TYPES[request.field_type]
        else:
            raise StorageError(400, "cannot convert field_type")
        body = {"field_name": request.field_name, "field_schema": schema}
        return _update_response(await call.run(request.collection_name, body, _wait(request)), call)

    async def DeleteFieldIndex(self, request, call: Call):
        params = _wait(request) | {"field": request.field_name}
        return _update_response(await call.run(request.collection_name, None, params), call)


def _matrix_body(request: pb.SearchMatrixPoints) -> dict:
    return {**_filter(request), **_set(request, "sample", "limit", "using")}


def _served(servicer, module, service: str) -> dict:
    """`/package.Service/Method` -> (request class, handler) for each method `servicer` overrides."""
    base = type(servicer).__mro__[1]
    descriptor = module.DESCRIPTOR.services_by_name[service]
    table = {}
    for method in descriptor.methods:
        if getattr(type(servicer), method.name) is not getattr(base, method.name):
            table[f"/{descriptor.full_name}/{method.name}"] = (GetMessageClass(method.input_type),
                                                                getattr(servicer, method.name))
    return table


METHODS = {**_served(Collections(), collections_service_pb2, "Collections"),
           **_served(Points(), points_service_pb2, "Points")}


async def serve(pipeline: Pipeline, request: Request, method: str, message: bytes, context, nodes=None) -> bytes:
    """One call for an embedded cluster, admitted: the REST route's op, or Qdrant's error.

    With `nodes` (a real cluster's, for a tenant-bound key): the call is read
    as its REST route, bound (keyset/tenant.py) and sent to a node over REST
    with the request's credential, and the node's answer converted back; a
    method with no REST route here (routes.NODE_GRPC) is refused, as every
    route the rules do not know."""
    # An embedded cluster serves the routes of its storage; a node, also the
    # routes the embedded runtime has no op for (routes.NODE_ROUTES).
    route = (routes.GRPC if nodes is None else routes.NODE_GRPC).get(method)
    served = METHODS.get(method) if route is not None else None
    if served is None and nodes is not None:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                            f"Forbidden: {method} is not available to tenant-bound keys")
    if served is None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED,
                            f"{method} is not served for clusters on the embedded runtime")
    message_class, handler = served
    try:
        decoded = message_class.FromString(message)
    except DecodeError as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Failed to decode {method}: {exc}")
    try:
        response = await handler(decoded, Call(pipeline, request, route, nodes, decoded))
    except ReplyFailed as exc:
        logger.error("%s: the result did not convert back to protobuf: %s", method, exc)
        await context.abort(grpc.StatusCode.INTERNAL, "Service internal error: the reply could not be encoded")
    except Forbidden as exc:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"Forbidden: {exc.message}")
    except StorageError as exc:
        await context.abort(_CODES.get(exc.status, grpc.StatusCode.INTERNAL), exc.message)
    except (ValueError, TypeError, KeyError) as exc:
        # qdrant-client's converters refuse a message they cannot read this
        # way, naming its type and printing it: nothing when it is empty.
        text = str(exc)
        if text.endswith(": "):
            text += "none of its fields is set"
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Bad request: {text}")
    return response.SerializeToString()
