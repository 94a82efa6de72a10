"""The table of access, through the official qdrant-client (qdrant-auth.md).

Keys are minted through the console's service; every operation the data plane
implements is tried with each kind of key against the running data plane.
"""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from apikeys.services import database_key_delete
from tests.fixtures.dataplane import MANAGE, READ_ONLY, collection_rule, mint
from tests.fixtures.worker import wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

VECTOR = [0.1, 0.2, 0.3, 0.4]


def client_for(dataplane, token) -> QdrantClient:
    return QdrantClient(url="http://127.0.0.1", port=dataplane.port, api_key=token, timeout=10)


def rest_search(dataplane, token, name, route="search", body=None):
    """A REST call qdrant-client no longer has a method for."""
    response = httpx.post(f"{dataplane.url}/collections/{name}/points/{route}", headers={"api-key": token},
                          json=body or {"vector": VECTOR, "limit": 3})
    if response.status_code != 200:
        raise UnexpectedResponse(response.status_code, response.reason_phrase, response.content, response.headers)
    return response.json()["result"]


# name -> (what it needs, how to call it on collection `name`)
OPERATIONS = {
    "get_collection": ("read", lambda c, d, t, n: c.get_collection(n)),
    "collection_exists": ("read", lambda c, d, t, n: c.collection_exists(n)),
    "retrieve": ("read", lambda c, d, t, n: c.retrieve(n, ids=[1, 2])),
    "get_point": ("read", lambda c, d, t, n: c.http.points_api.get_point(n, 1)),
    "query_points": ("read", lambda c, d, t, n: c.query_points(n, query=VECTOR, limit=3)),
    "search": ("read", lambda c, d, t, n: rest_search(d, t, n)),
    "search_batch": ("read", lambda c, d, t, n: rest_search(
        d, t, n, "search/batch", {"searches": [{"vector": VECTOR, "limit": 3}]})),
    "query_batch": ("read", lambda c, d, t, n: c.query_batch_points(n, [models.QueryRequest(query=VECTOR, limit=3)])),
    "recommend": ("read", lambda c, d, t, n: rest_search(d, t, n, "recommend", {"positive": [1], "limit": 3})),
    "scroll": ("read", lambda c, d, t, n: c.scroll(n, limit=5)),
    "count": ("read", lambda c, d, t, n: c.count(n)),
    "upsert": ("write", lambda c, d, t, n: c.upsert(n, [models.PointStruct(id=100, vector=VECTOR, payload={"w": 1})])),
    "delete": ("write", lambda c, d, t, n: c.delete(n, points_selector=models.PointIdsList(points=[100]))),
    "set_payload": ("write", lambda c, d, t, n: c.set_payload(n, payload={"seen": True}, points=[2])),
    "overwrite_payload": ("write", lambda c, d, t, n: c.overwrite_payload(n, payload={"title": "B"}, points=[2])),
    "create_collection": ("manage", lambda c, d, t, n: c.create_collection(
        f"{n}-new", vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))),
    "update_collection": ("manage", lambda c, d, t, n: c.update_collection(
        n, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1000))),
    "delete_collection": ("manage", lambda c, d, t, n: c.delete_collection("scratch")),
}

KEY_KINDS = {
    "manage": MANAGE,
    "read-only": READ_ONLY,
    "collection read-only": collection_rule("books", "r"),
    "collection read-write": collection_rule("books", "rw"),
}


def expected_denial(kind: str, needs: str, collection: str) -> str | None:
    """The 403 message Qdrant gives, or None when the operation is allowed."""
    if kind == "manage":
        return None
    if kind == "read-only":
        return None if needs == "read" else "Global manage access is required"
    if needs == "manage":
        return "Global access is required"
    if collection != "books":
        return f"Access to collection {collection} is required"
    if needs == "write" and kind == "collection read-only":
        return "Write access to collection books is required"
    return None


@pytest.fixture
def books(dataplane, cluster, owner):
    """The cluster with collections books, films and scratch, made with a manage key."""
    _, token = mint(cluster, MANAGE, by=owner, name="setup key")
    dataplane.wait_until_accepted(token)
    client = client_for(dataplane, token)
    for name in ("books", "films", "scratch"):
        client.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
        client.upsert(name, [
            models.PointStruct(id=1, vector=VECTOR, payload={"title": "A"}),
            models.PointStruct(id=2, vector=[0.4, 0.3, 0.2, 0.1], payload={"title": "B"}),
        ])
    return cluster


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_each_operation_is_allowed_or_denied_as_the_table_says(dataplane, books, owner, kind):
    _, token = mint(books, KEY_KINDS[kind], by=owner, name=f"{kind} key")
    dataplane.wait_until_accepted(token)
    client = client_for(dataplane, token)
    outcomes = {}
    for collection in ("books", "films"):
        for op, (_needs, call) in OPERATIONS.items():
            try:
                call(client, dataplane, token, collection)
                outcomes[(op, collection)] = None
            except UnexpectedResponse as exc:
                assert exc.status_code == 403, (op, collection, exc.status_code, exc.content)
                body = exc.structured()
                assert set(body) == {"status", "time"}
                outcomes[(op, collection)] = body["status"]["error"].removeprefix("Forbidden: ")
    expected = {(op, c): expected_denial(kind, needs, c) for c in ("books", "films")
                for op, (needs, _) in OPERATIONS.items()}
    assert outcomes == expected


@pytest.mark.parametrize("kind, visible", [
    ("manage", ["books", "films", "scratch"]),
    ("read-only", ["books", "films", "scratch"]),
    ("collection read-only", ["books"]),
    ("collection read-write", ["books"]),
])
def test_a_key_lists_only_the_collections_it_may_see(dataplane, books, owner, kind, visible):
    _, token = mint(books, KEY_KINDS[kind], by=owner)
    dataplane.wait_until_accepted(token)
    names = sorted(c.name for c in client_for(dataplane, token).get_collections().collections)
    assert names == visible


def test_reads_return_what_was_written(dataplane, books, owner):
    _, token = mint(books, collection_rule("books", "rw"), by=owner)
    dataplane.wait_until_accepted(token)
    client = client_for(dataplane, token)
    client.set_payload("books", payload={"shelf": 3}, points=[1])
    [point] = client.retrieve("books", ids=[1])
    assert point.payload == {"title": "A", "shelf": 3}
    hits = client.query_points("books", query=VECTOR, limit=2, with_payload=True).points
    assert [hit.id for hit in hits] == [1, 2]
    assert hits[0].score == pytest.approx(1.0)
    assert client.count("books", count_filter=models.Filter(
        must=[models.FieldCondition(key="title", match=models.MatchValue(value="B"))])).count == 1
    info = client.get_collection("books")
    assert info.points_count == 2
    assert info.config.params.vectors.size == 4


def test_an_expired_key_is_refused(dataplane, cluster, owner):
    _, token = mint(cluster, MANAGE, by=owner, expires_at=timezone.now() - timedelta(seconds=120))
    _, fresh = mint(cluster, MANAGE, by=owner)
    dataplane.wait_until_accepted(fresh)
    response = httpx.get(f"{dataplane.url}/collections", headers={"api-key": token})
    assert (response.status_code, response.text) == (403, "ExpiredSignature")


def test_a_key_within_the_30_second_leeway_still_works(dataplane, cluster, owner):
    _, token = mint(cluster, MANAGE, by=owner, expires_at=timezone.now() - timedelta(seconds=10))
    dataplane.wait_until_accepted(token)


def test_a_deleted_key_stops_within_a_second_and_its_sibling_keeps_working(dataplane, books, owner):
    key, token = mint(books, MANAGE, by=owner)
    _, sibling = mint(books, MANAGE, by=owner)
    dataplane.wait_until_accepted(token)
    dataplane.wait_until_accepted(sibling)
    database_key_delete(key=key, by=owner)
    _, status = dataplane.wait_until_refused(token, timeout=1.0)
    assert status == 401
    response = httpx.get(f"{dataplane.url}/collections", headers={"api-key": token})
    assert (response.status_code, response.text) == (401, "Invalid API key or JWT")
    assert client_for(dataplane, sibling).collection_exists("books")


def test_another_clusters_key_does_not_open_this_cluster(dataplane, books, other_cluster, outsider):
    _, theirs = mint(other_cluster, MANAGE, by=outsider)
    dataplane.wait_until_accepted(theirs)
    # On the shared port the key reaches its own cluster, which has none of ours.
    assert client_for(dataplane, theirs).get_collections().collections == []
    # Addressed to this cluster by host name, it is refused as Qdrant refuses a foreign JWT.
    response = httpx.get(f"{dataplane.url}/collections/books",
                         headers={"api-key": theirs, "host": f"{books.id}.localhost"})
    assert (response.status_code, response.text) == (403, "InvalidSignature")


def test_a_key_is_refused_once_the_cluster_turns_jwt_rbac_off(dataplane, cluster, owner):
    from clusters.models import Cluster
    from fronts.changelog import keys_changed

    _, token = mint(cluster, MANAGE, by=owner)
    dataplane.wait_until_accepted(token)
    Cluster.objects.filter(id=cluster.id).update(jwt_rbac=False)
    keys_changed()
    _, status = dataplane.wait_until_refused(token, timeout=1.0)
    assert status == 401


def test_the_key_form_offers_the_live_clusters_collections(dataplane, books, client_of, owner):
    from clusters.runtime import runtime_for
    from tests.fixtures.apikeys import create_url

    assert runtime_for(books).collections(books) == ["books", "films", "scratch"]
    form = client_of(owner).get(create_url(books)).content.decode()
    assert all(f'value="{name}"' in form for name in ("books", "films", "scratch"))


def test_a_value_exists_key_works_only_while_its_point_exists(dataplane, books, owner):
    """Qdrant's stateful JWT. The console does not mint one; made here with the
    master key and recorded as if it had, it is checked on every request."""
    import jwt as pyjwt

    from apikeys.models import DatabaseApiKey
    from createonce.digests import token_digest
    from fronts.changelog import keys_changed

    _, manage = mint(books, MANAGE, by=owner)
    key, _ = mint(books, READ_ONLY, by=owner)
    claims = {"access": "r", "jti": str(key.id),
              "value_exists": {"collection": "books", "matches": [{"key": "title", "value": "C"}]}}
    token = pyjwt.encode(claims, books.master_key.encode(), algorithm="HS256", headers={"typ": "JWT"})
    DatabaseApiKey.objects.filter(id=key.id).update(digest=token_digest(token, key.pepper_id))
    keys_changed()
    dataplane.wait_until_accepted(manage)
    wait_for(lambda: httpx.get(f"{dataplane.url}/collections/books", headers={"api-key": token}).text
             == "Invalid JWT, stateful validation failed", timeout=2)  # once the new digest is loaded
    response = httpx.get(f"{dataplane.url}/collections/books", headers={"api-key": token})
    assert (response.status_code, response.text) == (401, "Invalid JWT, stateful validation failed")
    client_for(dataplane, manage).upsert("books", [models.PointStruct(id=3, vector=VECTOR, payload={"title": "C"})])
    assert httpx.get(f"{dataplane.url}/collections/books", headers={"api-key": token}).status_code == 200


LOOKUPS = [
    ("recommend", {"positive": [1], "limit": 2, "lookup_from": {"collection": "films"}}),
    ("query/batch", {"searches": [{"query": [0.1, 0.2, 0.3, 0.4], "limit": 2},
                                  {"query": 1, "limit": 2, "lookup_from": {"collection": "films"}}]}),
    ("query", {"query": 1, "limit": 2, "lookup_from": {"collection": "films"}}),
]


@pytest.mark.parametrize("route, body", LOOKUPS)
def test_reading_another_collection_through_lookup_from_needs_access_to_it(dataplane, books, owner, route, body):
    _, books_only = mint(books, collection_rule("books", "r"), by=owner, name="books key")
    _, both = mint(books, collection_rule("books", "r") + collection_rule("films", "r"), by=owner, name="both key")
    dataplane.wait_until_accepted(both)
    with pytest.raises(UnexpectedResponse) as denied:
        rest_search(dataplane, books_only, "books", route, body)
    assert denied.value.status_code == 403
    assert denied.value.structured()["status"]["error"] == "Forbidden: Access to collection films is required"
    result = rest_search(dataplane, both, "books", route, body)
    last = result[-1]["points"] if route == "query/batch" else result["points"] if route == "query" else result
    assert [point["id"] for point in last] == [1, 2]  # films' point 1 as example: both books points, nearest first
