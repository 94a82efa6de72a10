"""gRPC on an embedded cluster (issue 11): the official qdrant-client with
prefer_grpc=True against a running data plane, beside the same client on REST.

Every key kind gets the same answer from both protocols for the same call
(the one table of access), a point written on one protocol reads back on the
other, a message a client can send gets Qdrant's code and never INTERNAL
(hypothesis over generated messages), a method not served is UNIMPLEMENTED
naming it, and the JavaScript gRPC client works on the embedded front."""

import json
import shutil
import subprocess

import grpc
import httpx
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as pb
from qdrant_client.http.exceptions import UnexpectedResponse

from apikeys.services import admin_key_create
from dataplane.grpcembedded import METHODS
from dataplane.routes import GRPC, NODE_GRPC, NODE_ROUTES, ROUTES
from tests.fixtures.dataplane import MANAGE, READ_ONLY, ROOT, collection_rule, mint
from tests.fixtures.qdrant import requires_qdrant

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

# A REST status and the gRPC code Qdrant gives for the same failure.
CODE_OF_STATUS = {200: "OK", 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                  404: "NOT_FOUND", 409: "ALREADY_EXISTS", 422: "INVALID_ARGUMENT"}


def clients(dataplane, token) -> tuple[QdrantClient, QdrantClient]:
    common = {"api_key": token, "check_compatibility": False, "timeout": 30}
    return (QdrantClient(url="http://127.0.0.1", port=dataplane.port, **common),
            QdrantClient(host="127.0.0.1", grpc_port=dataplane.grpc_port, prefer_grpc=True, https=False, **common))


def outcome(call, client):
    """("OK", result) or (code, message), the same shape for both protocols."""
    try:
        return "OK", call(client)
    except UnexpectedResponse as exc:
        try:
            message = json.loads(exc.content)["status"]["error"]
        except (ValueError, KeyError, TypeError):
            message = exc.content.decode()
        return CODE_OF_STATUS.get(exc.status_code, exc.status_code), message
    except grpc.RpcError as exc:
        return exc.code().name, exc.details()


def seed(dataplane, token):
    rest, _ = clients(dataplane, token)
    for name in ("a", "b"):
        rest.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    rest.upsert("a", [models.PointStruct(id=1, vector=[1.0, 0.5], payload={"g": "x"})], wait=True)


POINT = models.PointStruct(id=1, vector=[1.0, 0.5], payload={"g": "x"})
IS_X = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value="x"))])

# (name, call): each returns something both protocols render alike; the
# writes are idempotent, so that running them twice (REST, then gRPC) gives
# the same answer twice.
CALLS = [
    ("list", lambda c: sorted(x.name for x in c.get_collections().collections)),
    ("info a", lambda c: (c.get_collection("a").points_count, c.get_collection("a").config.params.vectors.size)),
    ("info b", lambda c: c.get_collection("b").points_count),
    ("info missing", lambda c: c.get_collection("no-such").points_count),
    ("exists a", lambda c: c.collection_exists("a")),
    ("create and delete", lambda c: (c.create_collection("scratch", vectors_config=models.VectorParams(
        size=2, distance=models.Distance.DOT)), c.delete_collection("scratch"))),
    ("create a again", lambda c: c.create_collection("a", vectors_config=models.VectorParams(
        size=2, distance=models.Distance.DOT))),
    ("delete missing", lambda c: c.delete_collection("no-such")),
    ("aliases", lambda c: c.get_aliases().aliases),
    ("collection aliases", lambda c: c.get_collection_aliases("a").aliases),
    ("upsert a", lambda c: c.upsert("a", [POINT], wait=True).status),
    ("upsert b", lambda c: c.upsert("b", [POINT], wait=True).status),
    ("retrieve a", lambda c: [(p.id, p.payload) for p in c.retrieve("a", ids=[1, 7])]),
    ("query a", lambda c: [(p.id, p.score) for p in c.query_points("a", query=[1.0, 0.0], limit=3).points]),
    ("query b", lambda c: c.query_points("b", query=[1.0, 0.0]).points),
    ("scroll a", lambda c: [p.id for p in c.scroll("a", limit=5)[0]]),
    ("count a", lambda c: c.count("a", count_filter=IS_X, exact=True).count),
    ("count b", lambda c: c.count("b").count),
    ("set payload a", lambda c: c.set_payload("a", payload={"g": "x"}, points=[1], wait=True).status),
    ("overwrite payload a", lambda c: c.overwrite_payload("a", payload={"g": "x"}, points=IS_X, wait=True).status),
    ("delete payload a", lambda c: c.delete_payload("a", keys=["h"], points=[1], wait=True).status),
    ("delete point a", lambda c: c.delete("a", points_selector=[100], wait=True).status),
    ("index a", lambda c: c.create_payload_index("a", "g", models.PayloadSchemaType.KEYWORD, wait=True).status),
    ("index b", lambda c: c.create_payload_index("b", "g", models.PayloadSchemaType.KEYWORD, wait=True).status),
    ("drop index a", lambda c: c.delete_payload_index("a", "h", wait=True).status),
]


def key_kinds(cluster, legacy, owner):
    """(kind, token): every kind of key, and two that are none."""
    _, admin = admin_key_create(cluster=legacy, name="admin key", expires_at=None, by=owner)
    kinds = [("admin", admin)]
    for name, rules in [("manage", MANAGE), ("read", READ_ONLY), ("a-read", collection_rule("a", "r")),
                        ("a-write", collection_rule("a", "rw")), ("b-read", collection_rule("b", "r"))]:
        _, token = mint(cluster, rules, by=owner, name=f"{name} key")
        kinds.append((name, token))
    return kinds + [("none", None), ("garbage", "not-a-key")]


@pytest.fixture
def seeded(dataplane, cluster, legacy_cluster, owner):
    """Collections a (one point) and b in an embedded cluster and in a legacy one (admin keys)."""
    kinds = key_kinds(cluster, legacy_cluster, owner)
    _, setup = mint(cluster, MANAGE, by=owner, name="setup key")
    dataplane.wait_until_accepted(setup)
    seed(dataplane, setup)
    seed(dataplane, dict(kinds)["admin"])
    return dict(kinds), setup


def test_the_methods_served_are_the_routes_of_the_table_of_access():
    # The embedded runtime serves its routes' methods; the rest of the servicers
    # only reach a real cluster's nodes (a tenant-bound key's calls).
    assert set(METHODS) == set(NODE_GRPC) and set(GRPC) <= set(NODE_GRPC)
    assert all(route in ROUTES and route.handler is not None or route.op.endswith("aliases")
               for route in GRPC.values())
    assert not {route.pattern for route in NODE_ROUTES} & {route.pattern for route in ROUTES}


def test_every_key_kind_gets_the_same_answer_over_grpc_as_over_rest(dataplane, seeded):
    kinds, _ = seeded
    differences, seen = [], {}
    for kind, token in kinds.items():
        rest, over_grpc = clients(dataplane, token)
        for name, call in CALLS:
            over_rest = outcome(call, rest)
            got = outcome(call, over_grpc)
            seen[kind, name] = got
            if got != over_rest:
                differences.append((kind, name, over_rest, got))
    assert differences == [], '\n'.join(map(repr, differences))
    # The table of access, as both protocols applied it.
    assert seen["manage", "info a"] == ("OK", (1, 2))
    assert seen["read", "upsert a"] == ("PERMISSION_DENIED", "Forbidden: Global manage access is required")
    assert seen["a-read", "upsert a"] == ("PERMISSION_DENIED", "Forbidden: Write access to collection a is required")
    assert seen["a-write", "index a"][0] == "OK"
    assert seen["a-write", "index b"] == ("PERMISSION_DENIED", "Forbidden: Access to collection b is required")
    assert seen["a-write", "create and delete"] == ("PERMISSION_DENIED", "Forbidden: Global access is required")
    assert seen["b-read", "list"] == ("OK", ["b"])
    assert seen["admin", "count a"] == ("OK", 1)
    assert seen["none", "list"] == ("UNAUTHENTICATED", "Must provide an API key or an Authorization bearer token")
    assert seen["garbage", "count a"] == ("UNAUTHENTICATED", "Invalid API key or JWT")
    assert seen["manage", "info missing"] == ("NOT_FOUND", "Not found: Collection `no-such` doesn't exist!")
    assert seen["manage", "create a again"] == ("ALREADY_EXISTS", "Wrong input: Collection `a` already exists!")


def test_a_point_written_over_grpc_reads_back_over_rest_and_the_other_way(dataplane, seeded):
    _, token = seeded
    rest, over_grpc = clients(dataplane, token)
    over_grpc.upsert("a", [models.PointStruct(id="5c56c793-69f3-4fbf-87e6-c4bf54c28c26", vector=[0.5, 0.5],
                                              payload={"by": "grpc", "n": 2})], wait=True)
    rest.upsert("a", [models.PointStruct(id=9, vector=[0.0, 1.0], payload={"by": "rest"})], wait=True)
    [by_grpc] = rest.retrieve("a", ids=["5c56c793-69f3-4fbf-87e6-c4bf54c28c26"], with_vectors=True)
    assert (by_grpc.payload, by_grpc.vector) == ({"by": "grpc", "n": 2}, [0.5, 0.5])
    [by_rest] = over_grpc.retrieve("a", ids=[9], with_vectors=True)
    assert (by_rest.payload, by_rest.vector) == ({"by": "rest"}, [0.0, 1.0])
    over_grpc.create_payload_index("a", "by", models.PayloadSchemaType.KEYWORD, wait=True)
    assert rest.get_collection("a").payload_schema["by"].data_type == models.PayloadSchemaType.KEYWORD
    rest.delete_payload_index("a", "by", wait=True)
    assert "by" not in over_grpc.get_collection("a").payload_schema
    over_grpc.delete_payload("a", keys=["n"], points=["5c56c793-69f3-4fbf-87e6-c4bf54c28c26"], wait=True)
    assert rest.retrieve("a", ids=["5c56c793-69f3-4fbf-87e6-c4bf54c28c26"])[0].payload == {"by": "grpc"}
    assert over_grpc.count("a").count == rest.count("a").count == 3


def test_a_query_batch_over_grpc_answers_each_query_as_rest_does(dataplane, seeded):
    kinds, token = seeded
    rest, over_grpc = clients(dataplane, token)
    rest.upsert("a", [models.PointStruct(id=2, vector=[0.0, 1.0])], wait=True)
    queries = [models.QueryRequest(query=[1.0, 0.0], limit=2, with_payload=True), models.QueryRequest(query=1)]
    batch = over_grpc.query_batch_points("a", queries)

    def seen(points):  # gRPC has no empty payload apart from none
        return [(p.id, p.score, p.payload or {}) for p in points]
    assert [seen(r.points) for r in batch] == [seen(rest.query_points("a", **q.model_dump(exclude_none=True)).points)
                                               for q in queries]
    assert [[p.id for p in r.points] for r in batch] == [[1, 2], [2]]
    _, b_only = clients(dataplane, kinds["b-read"])
    assert outcome(lambda c: c.query_batch_points("a", queries), b_only) == \
        ("PERMISSION_DENIED", "Forbidden: Access to collection a is required")


def test_payload_indexes_over_rest_are_made_typed_and_dropped(dataplane, seeded):
    _, token = seeded
    with httpx.Client(base_url=dataplane.url, headers={"api-key": token}) as rest:
        for field, schema in [("g", "keyword"), ("n", {"type": "integer", "lookup": True, "range": False}),
                              ("t", {"type": "text", "tokenizer": "word", "lowercase": True})]:
            response = rest.put("/collections/a/index?wait=true", json={"field_name": field, "field_schema": schema})
            assert response.status_code == 200, response.text
            assert response.json()["result"]["status"] == "completed"
        schema = rest.get("/collections/a").json()["result"]["payload_schema"]
        assert {field: info["data_type"] for field, info in schema.items()} == {
            "g": "keyword", "n": "integer", "t": "text"}
        assert schema["g"]["points"] == 1
        assert rest.delete("/collections/a/index/n?wait=true").status_code == 200
        assert set(rest.get("/collections/a").json()["result"]["payload_schema"]) == {"g", "t"}
        for body, message in [({"field_name": "g", "field_schema": "vector"}, "unknown variant `vector`"),
                              ({"field_name": "g"}, "missing field `field_schema`"),
                              ({"field_schema": "keyword"}, "field_name"),
                              ({"field_name": "g", "field_schema": {"type": "keyword", "is_tenant": "yes"}},
                               "is_tenant")]:
            response = rest.put("/collections/a/index", json=body)
            assert response.status_code == 400 and message in response.json()["status"]["error"], body
        response = rest.put("/collections/no-such/index", json={"field_name": "g", "field_schema": "keyword"})
        assert response.status_code == 404
        assert set(rest.get("/collections/a").json()["result"]["payload_schema"]) == {"g", "t"}


def test_a_value_exists_key_is_checked_over_grpc_as_over_rest(dataplane, seeded, cluster, owner):
    """Qdrant's stateful JWT (made with the master key and recorded as if minted, as in test_dataplane_access)."""
    import jwt as pyjwt

    from apikeys.models import DatabaseApiKey
    from createonce.digests import token_digest
    from fronts.changelog import keys_changed
    from tests.fixtures.worker import wait_for

    _, manage = seeded
    key, _ = mint(cluster, READ_ONLY, by=owner)
    claims = {"access": "r", "jti": str(key.id),
              "value_exists": {"collection": "a", "matches": [{"key": "g", "value": "y"}]}}
    token = pyjwt.encode(claims, cluster.master_key.encode(), algorithm="HS256", headers={"typ": "JWT"})
    DatabaseApiKey.objects.filter(id=key.id).update(digest=token_digest(token, key.pepper_id))
    keys_changed()
    rest, over_grpc = clients(dataplane, token)
    refused = ("UNAUTHENTICATED", "Invalid JWT, stateful validation failed")
    wait_for(lambda: outcome(lambda c: c.count("a").count, over_grpc) == refused, timeout=2)
    assert outcome(lambda c: c.count("a").count, rest)[0] == "UNAUTHENTICATED"
    clients(dataplane, manage)[1].upsert("a", [models.PointStruct(id=4, vector=[0.1, 0.2], payload={"g": "y"})])
    assert outcome(lambda c: c.count("a").count, over_grpc) == outcome(lambda c: c.count("a").count, rest) == \
        ("OK", 2)


def raw(target, method, request, token):
    with grpc.insecure_channel(getattr(target, "grpc_target", target)) as channel:
        call = channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=lambda b: b)
        try:
            return "OK", call(request, metadata=(("api-key", token),) if token else (), timeout=30)
        except grpc.RpcError as error:
            return error.code().name, error.details()


VECTOR_3 = pb.Vectors(vector=pb.Vector(data=[1.0, 2.0, 3.0]))
# (method, request, what Qdrant 1.16.3 answers: code and message, or the code
# alone where the wording is the converters' own)
MISTAKES = [
    ("/qdrant.Points/Upsert", pb.UpsertPoints(collection_name="a", wait=True, points=[
        pb.PointStruct(id=pb.PointId(num=2), vectors=VECTOR_3)]),
     ("INVALID_ARGUMENT", "Wrong input: Vector dimension error: expected dim: 2, got 3")),
    ("/qdrant.Points/Upsert", pb.UpsertPoints(collection_name="nope", wait=True, points=[
        pb.PointStruct(id=pb.PointId(num=2), vectors=VECTOR_3)]),
     ("NOT_FOUND", "Not found: Collection `nope` doesn't exist!")),
    ("/qdrant.Points/Upsert", pb.UpsertPoints(collection_name="a"),
     ("INVALID_ARGUMENT", "Bad request: Empty update request")),
    ("/qdrant.Points/Count", pb.CountPoints(collection_name="nope"),
     ("NOT_FOUND", "Not found: Collection `nope` doesn't exist!")),
    ("/qdrant.Points/Query", pb.QueryPoints(collection_name="a", query=pb.Query(
        nearest=pb.VectorInput(id=pb.PointId(num=77)))), ("NOT_FOUND", "Not found: No point with id 77 found")),
    ("/qdrant.Points/Delete", pb.DeletePoints(collection_name="a"), ("INVALID_ARGUMENT", "PointSelector is missing")),
    ("/qdrant.Points/SetPayload", pb.SetPayloadPoints(collection_name="a"),
     ("INVALID_ARGUMENT", "points_selector is expected")),
    ("/qdrant.Points/CreateFieldIndex", pb.CreateFieldIndexCollection(collection_name="a", field_name="k"),
     ("INVALID_ARGUMENT", "cannot convert field_type")),
    ("/qdrant.Collections/Get", pb.GetCollectionInfoRequest(collection_name="nope"),
     ("NOT_FOUND", "Not found: Collection `nope` doesn't exist!")),
    ("/qdrant.Collections/Create", pb.CreateCollection(collection_name="a", vectors_config=pb.VectorsConfig(
        params=pb.VectorParams(size=2, distance=pb.Distance.Dot))),
     ("ALREADY_EXISTS", "Wrong input: Collection `a` already exists!")),
    ("/qdrant.Points/Get", pb.GetPoints(collection_name="a", ids=[pb.PointId(uuid="xyz")]), ("INVALID_ARGUMENT",)),
    ("/qdrant.Points/Get", pb.GetPoints(collection_name="a", ids=[pb.PointId()]), ("INVALID_ARGUMENT",)),
    # A multi-dense vector of no vectors: the converter divides by its vectors_count (the fuzz found it).
    ("/qdrant.Points/Upsert", pb.UpsertPoints(collection_name="a", wait=True, points=[
        pb.PointStruct(id=pb.PointId(num=0), vectors=pb.Vectors(vector=pb.Vector(vectors_count=0)))]),
     ("INVALID_ARGUMENT",)),
    ("/qdrant.Points/Search", pb.SearchPoints(collection_name="a", vector=[1.0], limit=3),
     ("INVALID_ARGUMENT", "Wrong input: Vector dimension error: expected dim: 2, got 1")),
]


def test_what_a_client_gets_wrong_gets_qdrants_code_and_message(dataplane, seeded):
    _, token = seeded
    for method, request, expected in MISTAKES:
        assert raw(dataplane, method, request, token)[:len(expected)] == expected, method
    code, message = raw(dataplane, "/qdrant.Points/Get", pb.GetPoints(collection_name="a", ids=[pb.PointId(
        uuid="xyz")]), token)
    assert "xyz" in message
    code, message = raw(dataplane, "/qdrant.Points/Get", pb.GetPoints(collection_name="a", ids=[pb.PointId()]), token)
    assert message == "Bad request: invalid PointId model: none of its fields is set"


@requires_qdrant
def test_the_codes_are_a_real_qdrant_nodes(dataplane, seeded, qdrant, qdrant_node):
    """The same mistakes sent to a real Qdrant node give the codes (and messages) listed."""
    master_key = qdrant_node.cluster.master_key
    address = qdrant.address(qdrant_node)
    with httpx.Client(base_url=address.http_url, headers={"api-key": master_key}) as node:
        node.put("/collections/a", json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
        node.put("/collections/a/points?wait=true", json={"points": [{"id": 1, "vector": [1.0, 0.5]}]}
                 ).raise_for_status()
    for method, request, expected in MISTAKES:
        assert raw(f"127.0.0.1:{address.ports.grpc}", method, request, master_key)[:len(expected)] == expected, method


def test_search_and_its_batch_answer_as_query_does(dataplane, seeded):
    _, token = seeded
    search = pb.SearchPoints(collection_name="a", vector=[1.0, 0.0], limit=3, with_payload=pb.WithPayloadSelector(
        enable=True))
    code, reply = raw(dataplane, "/qdrant.Points/Search", search, token)
    assert code == "OK"
    [hit] = pb.SearchResponse.FromString(reply).result
    assert (hit.id.num, hit.score, hit.payload["g"].string_value) == (1, 1.0, "x")
    code, reply = raw(dataplane, "/qdrant.Points/SearchBatch", pb.SearchBatchPoints(
        collection_name="a", search_points=[search, search]), token)
    assert [[p.id.num for p in r.result] for r in pb.SearchBatchResponse.FromString(reply).result] == [[1], [1]]


def test_a_method_not_served_is_unimplemented_and_named(dataplane, seeded):
    _, token = seeded
    for method, request in [("/qdrant.Points/Facet", pb.FacetCounts(collection_name="a", key="g")),
                            ("/qdrant.Snapshots/List", pb.ListSnapshotsRequest(collection_name="a")),
                            ("/qdrant.Collections/UpdateAliases", pb.ChangeAliases())]:
        code, message = raw(dataplane, method, request, token)
        assert (code, message) == ("UNIMPLEMENTED", f"{method} is not served for clusters on the embedded runtime")
    # Authentication comes first, as for every other method.
    assert raw(dataplane, "/qdrant.Points/Facet", pb.FacetCounts(), None)[0] == "UNAUTHENTICATED"


def test_health_checks_are_open(dataplane, seeded):
    with grpc.insecure_channel(dataplane.grpc_target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    code, reply = raw(dataplane, "/qdrant.Qdrant/HealthCheck", pb.HealthCheckRequest(), None)
    assert code == "OK" and pb.HealthCheckReply.FromString(reply).title == "qdrant - vector search engine"


# Messages for the fuzz: each field of the request type, drawn by its kind,
# with collection names mostly "a" so that the engine itself is reached.
NAMES = st.sampled_from(["a", "a", "a", "b", "no-such", "", "a/b"]) | st.text(max_size=8)
SCALARS = {
    FieldDescriptor.TYPE_STRING: st.sampled_from(["g", "h", "", "a"]) | st.text(max_size=6),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32),
    FieldDescriptor.TYPE_DOUBLE: st.floats(),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1) | st.integers(0, 5),
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1) | st.integers(0, 5),
    FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=8),
}


# Messages drawn mostly well-formed, so that the engine itself gets them too.
NEAR_VALID = {
    "qdrant.PointId": st.one_of(st.builds(pb.PointId, num=st.integers(0, 3) | st.integers(0, 2**64 - 1)),
                                st.builds(pb.PointId, uuid=st.uuids().map(str) | st.text(max_size=4)),
                                st.just(pb.PointId())),
    "qdrant.DenseVector": st.builds(pb.DenseVector, data=st.lists(st.floats(width=32), min_size=0, max_size=3)),
    "qdrant.Vectors": st.builds(lambda data: pb.Vectors(vector=pb.Vector(dense=pb.DenseVector(data=data))),
                                st.lists(st.floats(width=32), min_size=1, max_size=3)),
}


def message_of(descriptor, depth: int = 0):
    """A strategy for messages of `descriptor`: some of its fields set, nested up to 3 deep."""
    if descriptor.full_name in NEAR_VALID and depth:
        return NEAR_VALID[descriptor.full_name] | st.deferred(lambda: _any_message(descriptor, depth))
    return _any_message(descriptor, depth)


def _any_message(descriptor, depth: int):
    cls = GetMessageClass(descriptor)

    def field_values(field):
        if field.name == "collection_name":
            value = NAMES
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 3:
                return None
            if field.message_type.GetOptions().map_entry:
                value_field = field.message_type.fields_by_name["value"]
                inner = field_values(value_field)
                return None if inner is None else st.dictionaries(SCALARS[FieldDescriptor.TYPE_STRING], inner,
                                                                  max_size=2)
            value = st.deferred(lambda: message_of(field.message_type, depth + 1))
        elif field.type == FieldDescriptor.TYPE_ENUM:
            value = st.sampled_from([v.number for v in field.enum_type.values] + [99])
        else:
            value = SCALARS.get(field.type)
            if value is None:
                return None
        if field.is_repeated and not (
                field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry):
            return st.lists(value, max_size=3)
        return value

    strategies = {f.name: s for f in descriptor.fields if (s := field_values(f)) is not None}

    @st.composite
    def build(draw):
        message = cls()
        chosen = draw(st.sets(st.sampled_from(sorted(strategies)), max_size=len(strategies))) if strategies else set()
        if "collection_name" in strategies:
            chosen = set(chosen) | {"collection_name"}
        for name in sorted(chosen):
            value = draw(strategies[name])
            field = descriptor.fields_by_name[name]
            try:
                if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
                    target = getattr(message, name)
                    for key, item in value.items():
                        if hasattr(item, "CopyFrom"):
                            target[key].CopyFrom(item)
                        else:
                            target[key] = item
                elif field.is_repeated:
                    getattr(message, name).extend(value)
                elif field.type == FieldDescriptor.TYPE_MESSAGE:
                    getattr(message, name).CopyFrom(value)
                else:
                    setattr(message, name, value)
            except (ValueError, TypeError):
                pass  # a oneof or a value protobuf itself refuses: leave the field unset
        return message

    return build()


@pytest.mark.parametrize("method", sorted(GRPC))
def test_no_message_a_client_can_send_is_an_internal_error(dataplane, seeded, method):
    _, token = seeded
    descriptor = METHODS[method][0].DESCRIPTOR
    allowed = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED"}

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(message_of(descriptor))
    def property_(message):
        code, details = raw(dataplane, method, message, token)
        assert code in allowed, (code, details, message)

    property_()
    # The data plane is still there and still answers REST.
    assert httpx.get(dataplane.url + "/healthz").status_code == 200


JS_CLIENT = ROOT / "node_modules" / "@qdrant" / "js-client-grpc"


def test_the_javascript_grpc_client_works_on_the_embedded_front(dataplane, seeded):
    if not (shutil.which("node") and JS_CLIENT.is_dir()):
        pytest.skip("node or @qdrant/js-client-grpc is missing: run `npm ci` at the repository root (Node 20)")
    kinds, _ = seeded
    seen = {}
    for kind in ("manage", "read", "b-read", "garbage"):
        result = subprocess.run(["node", str(ROOT / "tests" / "js" / "grpc_calls.mjs"), "127.0.0.1",
                                 str(dataplane.grpc_port), kinds[kind]], cwd=ROOT, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stderr
        seen[kind] = json.loads(result.stdout)
    assert seen["manage"] == {"health": ["ok", "qdrant - vector search engine"], "list": ["ok", ["a", "b"]],
                              "get": ["ok", 1], "count": ["ok", 1], "countOther": ["ok", 0],
                              "deleteMissing": ["ok", False]}
    assert seen["read"]["deleteMissing"] == [7, "Forbidden: Global manage access is required"]
    assert seen["b-read"]["list"] == ["ok", ["b"]]
    assert seen["b-read"]["count"] == [7, "Forbidden: Access to collection a is required"]
    assert seen["garbage"]["list"] == [16, "Invalid API key or JWT"]
