"""Tenant-bound keys at the front, the read routes one by one (issue 23): recommend and
discover and their batches, the search matrix, groups with and without with_lookup, facets.

As a customer's application reads: the official qdrant-client over REST, and plain HTTP
for Qdrant's older routes the client no longer sends (recommend, discover, search and
recommend groups, their batches). On an embedded cluster and on a real Qdrant node behind
the front (the `bound` fixture of test_tenant_front.py). A tenant's key sees only its
tenant's points, and another tenant's point id used as an example is not found, exactly
as a missing one, even where the runtime refuses the request for another reason. The
embedded engine serves fewer routes than Qdrant: there, a route it does not serve
answers a tenant's key as it answers an unbound one."""

import json
from types import SimpleNamespace

import httpx
import pytest
from qdrant_client import models

from apikeys.services import database_key_create
from tests.fixtures.dataplane import MANAGE, mint
from tests.test_tenant_front import COLLECTION, OWNER_OF, TENANTS, bound, clients, own  # noqa: F401 (bound: a fixture)

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

MISSING = 999
AUTHORS = "authors"


@pytest.fixture
def front(bound, cluster, owner):  # noqa: F811 (the fixture imported above)
    """The `bound` setup, with an unbound key's token too (to compare with what Qdrant answers it)."""
    runtime, unbound, _, _, dataplane, tokens = bound
    _, setup = mint(cluster, MANAGE, by=owner, name="unbound reader")
    dataplane.wait_until_accepted(setup)
    if runtime == "qdrant":  # groups and facets by colour
        unbound.create_payload_index(COLLECTION, "color", models.PayloadSchemaType.KEYWORD, wait=True)
    return SimpleNamespace(runtime=runtime, cluster=cluster, owner=owner, unbound=unbound, dataplane=dataplane, tokens=tokens, setup=setup,
                           clients={tenant: clients(dataplane, token)["rest"] for tenant, token in tokens.items()})


def post(front, token, path: str, body) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{front.dataplane.port}/collections/{COLLECTION}/{path}", json=body,
                      headers={"api-key": token}, timeout=30)


def other(tenant: str) -> str:
    return TENANTS[1 - TENANTS.index(tenant)]


def answered_alike(foreign: httpx.Response, missing: httpx.Response, foreign_id: int) -> None:
    """Another tenant's point and a missing one get the same answer, but for the id they name."""
    assert foreign.status_code == missing.status_code == 404, (foreign.text, missing.text)
    assert (foreign.json()["status"]["error"].replace(f"id {foreign_id} ", "id N ")
            == missing.json()["status"]["error"].replace(f"id {MISSING} ", "id N "))


def served(front, path: str, body) -> bool:
    """Whether this runtime serves the request (the unbound key's answer is 200). When
    not, every tenant's key must be answered exactly as the unbound one."""
    unbound = post(front, front.setup, path, body)
    if unbound.status_code == 200:
        return True
    for token in front.tokens.values():
        answer = post(front, token, path, body)
        assert (answer.status_code, answer.json()["status"]["error"]) == (
            unbound.status_code, unbound.json()["status"]["error"])
    return False


def hit_ids(result) -> set:
    """The point ids of a search-like result: points, {"points": [...]}, {"groups": [...]}, or a batch of them."""
    if isinstance(result, dict):
        if "groups" in result:
            return {p["id"] for group in result["groups"] for p in group["hits"]}
        return hit_ids(result["points"])
    if result and isinstance(result[0], (list, dict)) and "id" not in result[0]:
        return set().union(*(hit_ids(item) for item in result))
    return {p["id"] for p in result}


# Requests naming example point ids: (path, body) with P and N for a positive and a negative
# example. The legacy routes, and the universal query the client sends.
EXAMPLES = [
    ("points/recommend", {"positive": ["P"], "negative": ["N"], "limit": 20}),
    ("points/recommend/batch", {"searches": [{"positive": ["P"], "negative": ["N"], "limit": 20}]}),
    ("points/recommend/groups", {"positive": ["P"], "negative": ["N"], "group_by": "color", "group_size": 20,
                                 "limit": 5}),
    ("points/discover", {"target": "P", "context": [{"positive": "P", "negative": "N"}], "limit": 20}),
    ("points/discover/batch", {"searches": [{"target": "P", "context": [{"positive": "P", "negative": "N"}],
                                             "limit": 20}]}),
    ("points/query", {"query": {"recommend": {"positive": ["P"], "negative": ["N"]}}, "limit": 20}),
    ("points/query", {"query": {"discover": {"target": "P", "context": [{"positive": "P", "negative": "N"}]}},
                      "limit": 20}),
    ("points/query", {"query": {"context": [{"positive": "P", "negative": "N"}]}, "limit": 20}),
    ("points/query/batch", {"searches": [{"query": {"recommend": {"positive": ["P"], "negative": ["N"]}},
                                          "limit": 20}]}),
]


def with_examples(body, positive: int, negative: int):
    return json.loads(json.dumps(body).replace('"P"', str(positive)).replace('"N"', str(negative)))


@pytest.mark.parametrize("path,body", EXAMPLES, ids=[f"{p}:{'/'.join(b)}" for p, b in EXAMPLES])
def test_examples_and_answers_are_the_tenants_only(front, path, body):
    for tenant in TENANTS:
        mine, theirs = sorted(own(tenant)), sorted(own(other(tenant)))
        answer = post(front, front.tokens[tenant], path, with_examples(body, mine[0], mine[1]))
        unbound = post(front, front.setup, path, with_examples(body, mine[0], mine[1]))
        if unbound.status_code != 200:  # not served by this runtime: answered as to the unbound key
            assert (answer.status_code, answer.json()["status"]) == (unbound.status_code, unbound.json()["status"])
            continue
        assert answer.status_code == 200, answer.text
        points = hit_ids(answer.json()["result"])
        assert points and points <= set(mine), points
        # Another tenant's point as the positive (target), then as the negative example:
        # not found, exactly as a missing point.
        for positive, negative in [(theirs[0], mine[1]), (mine[0], theirs[1])]:
            foreign = positive if positive in theirs else negative
            missing = (MISSING, negative) if foreign == positive else (positive, MISSING)
            answered_alike(post(front, front.tokens[tenant], path, with_examples(body, positive, negative)),
                           post(front, front.tokens[tenant], path, with_examples(body, *missing)), foreign)


def test_the_search_matrix_pairs_only_the_tenants_points(front):
    body = {"sample": 20, "limit": 3}
    if not served(front, "points/search/matrix/pairs", body) | served(front, "points/search/matrix/offsets", body):
        return
    for tenant in TENANTS:
        client = front.clients[tenant]
        pairs = client.search_matrix_pairs(COLLECTION, sample=20, limit=3).pairs
        assert pairs and {p.a for p in pairs} | {p.b for p in pairs} <= own(tenant)
        offsets = client.search_matrix_offsets(COLLECTION, sample=20, limit=3)
        assert set(offsets.ids) == own(tenant)
        # Their own filter cannot widen it: ANDed.
        theirs = models.Filter(must=[models.FieldCondition(key="group_id", match=models.MatchValue(value=other(tenant)))])
        assert client.search_matrix_pairs(COLLECTION, sample=20, limit=3, query_filter=theirs).pairs == []


def test_facets_count_and_show_only_the_tenants_values(front):
    if not served(front, "facet", {"key": "color"}):
        return
    front.unbound.create_payload_index(COLLECTION, "group_id", models.PayloadSchemaType.KEYWORD, wait=True)
    for tenant in TENANTS:
        client = front.clients[tenant]
        colors = client.facet(COLLECTION, key="color", exact=True).hits
        assert {hit.value: hit.count for hit in colors} == {"red": 3, "blue": 3}
        # The tenant field's own facet: no other tenant's value, so none is revealed.
        assert [(hit.value, hit.count) for hit in client.facet(COLLECTION, key="group_id").hits] == [(tenant, 6)]


GROUPS = [
    ("points/query/groups", {"query": [1.0, 1.0], "group_by": "color", "group_size": 20, "limit": 5}),
    ("points/search/groups", {"vector": [1.0, 1.0], "group_by": "color", "group_size": 20, "limit": 5}),
]


@pytest.mark.parametrize("path,body", GROUPS, ids=[p for p, _ in GROUPS])
def test_groups_hold_only_the_tenants_points(front, path, body):
    if not served(front, path, body):
        return
    for tenant in TENANTS:
        answer = post(front, front.tokens[tenant], path, body)
        assert hit_ids(answer.json()["result"]) == own(tenant)
        groups = front.clients[tenant].query_points_groups(COLLECTION, query=[1.0, 1.0], group_by="color",
                                                           group_size=20, limit=5).groups
        assert {p.id for group in groups for p in group.hits} == own(tenant)


# The lookup collection: authors, one a tenant's. Each doc names its author by point id:
# acme's docs 1-2 name acme's 100, 3-4 acme's 101, 5 globex's 200 (written by an unbound
# key: the docs are acme's, the author is not), 6 a missing 300; globex's docs name 200.
AUTHOR_OWNER = {100: "acme", 101: "acme", 200: "globex"}
AUTHOR_OF = {1: 100, 2: 100, 3: 101, 4: 101, 5: 200, 6: 300} | {i: 200 for i in own("globex")}


def authors(front) -> None:
    front.unbound.create_collection(AUTHORS, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    front.unbound.upsert(AUTHORS, [models.PointStruct(id=i, vector=[0.5, i / 1000], payload={
        "group_id": owner, "name": f"author {i}"}) for i, owner in AUTHOR_OWNER.items()], wait=True)
    for doc, author in AUTHOR_OF.items():
        front.unbound.set_payload(COLLECTION, {"author": author}, points=[doc], wait=True)
    front.unbound.create_payload_index(COLLECTION, "author", models.PayloadSchemaType.INTEGER, wait=True)


LOOKUPS = [
    ("points/query/groups", {"query": [1.0, 1.0], "group_by": "author", "group_size": 20, "limit": 10}),
    ("points/search/groups", {"vector": [1.0, 1.0], "group_by": "author", "group_size": 20, "limit": 10}),
    ("points/recommend/groups", {"positive": [[1.0, 1.0]], "group_by": "author", "group_size": 20, "limit": 10}),
]
WITH_LOOKUPS = [AUTHORS, {"collection": AUTHORS}, {"collection": AUTHORS, "with_payload": ["name"],
                                                   "with_vectors": True}]


@pytest.mark.parametrize("path,body", LOOKUPS, ids=[p for p, _ in LOOKUPS])
def test_a_groups_lookup_gives_only_the_tenants_records_as_qdrant_would(front, path, body):
    if not served(front, path, body):
        return
    authors(front)
    for with_lookup in WITH_LOOKUPS:
        request = {**body, "with_lookup": with_lookup}
        unbound = {g["id"]: g for g in post(front, front.setup, path, request).json()["result"]["groups"]}
        answer = post(front, front.tokens["acme"], path, request)
        assert answer.status_code == 200, answer.text
        groups = {g["id"]: g for g in answer.json()["result"]["groups"]}
        assert set(groups) == {100, 101, 200, 300} and hit_ids(answer.json()["result"]) == own("acme")
        # Acme's authors: the very records Qdrant looks up for an unbound key.
        for author in (100, 101):
            assert groups[author]["lookup"] == unbound[author]["lookup"], with_lookup
        # Globex's author is missing to acme, as the author no one wrote (no `lookup` at all).
        assert "lookup" in unbound[200] and "lookup" not in unbound[300]
        assert "lookup" not in groups[200] and "lookup" not in groups[300]
    # Globex sees its own author, and only its own docs.
    globex = post(front, front.tokens["globex"], path, {**body, "with_lookup": AUTHORS}).json()["result"]
    assert [(g["id"], g["lookup"]["payload"]["group_id"]) for g in globex["groups"]] == [(200, "globex")]
    assert hit_ids(globex) == own("globex")


def test_the_client_groups_lookup_is_the_tenants(front):
    if not served(front, "points/query/groups", LOOKUPS[0][1]):
        return
    authors(front)
    groups = front.clients["acme"].query_points_groups(
        COLLECTION, query=[1.0, 1.0], group_by="author", group_size=20, limit=10,
        with_lookup=models.WithLookup(collection=AUTHORS, with_payload=True, with_vectors=False)).groups
    assert {group.id: group.lookup.payload["name"] if group.lookup else None for group in groups} == {
        100: "author 100", 101: "author 101", 200: None, 300: None}


def test_a_lookup_into_a_collection_the_key_is_not_bound_in_is_refused(front):
    if not served(front, "points/query/groups", LOOKUPS[0][1]):
        return
    authors(front)
    _, token = database_key_create(
        cluster=front.cluster, name="acme docs only", expires_at=None, by=front.owner,
        rules=[{"collection": COLLECTION, "access": "r"}, {"collection": AUTHORS, "access": "r"}],
        tenant={"field": "group_id", "value": "acme", "type": "keyword", "access": "r", "collections": [COLLECTION]})
    front.dataplane.wait_until_accepted(token)
    for path, body in LOOKUPS:
        answer = post(front, token, path, {**body, "with_lookup": AUTHORS})
        assert answer.status_code == 403
        assert answer.json()["status"]["error"] == (
            f"Forbidden: with_lookup {AUTHORS}: the key is not bound to its tenant there, so it is not available "
            "to tenant-bound keys")
        # Without the lookup, its groups are its tenant's.
        assert hit_ids(post(front, token, path, body).json()["result"]) == own("acme")


# (runtime, path, body): a request that runtime refuses whatever its example ids. Were
# another tenant's id "not found" before the runtime read the request, it would tell
# that id from a missing one (keyset.tenant.Plan.finish: a stand-in goes instead).
REFUSED_ANYWAY = [
    ("embedded", "points/query", {"query": {"recommend": {"positive": ["P"]}}}),  # not served by the engine
    ("qdrant", "points/recommend/groups", {"positive": ["P"], "group_by": "color"}),  # no group_size
]


@pytest.mark.parametrize("runtime,path,body", REFUSED_ANYWAY, ids=[r for r, _, _ in REFUSED_ANYWAY])
def test_a_request_refused_anyway_answers_another_tenants_example_as_a_missing_one(front, runtime, path, body):
    if front.runtime != runtime:
        pytest.skip(f"a request the {runtime} runtime refuses")
    theirs, missing_id = 10, 99  # as long in JSON: a parse error's column counts the body's characters
    assert OWNER_OF[theirs] == "globex" and missing_id not in OWNER_OF
    foreign = post(front, front.tokens["acme"], path, with_examples(body, theirs, 0))
    missing = post(front, front.tokens["acme"], path, with_examples(body, missing_id, 0))
    assert (foreign.status_code, foreign.json()["status"]["error"].replace(f"id {theirs} ", "id N ")) == (
        missing.status_code, missing.json()["status"]["error"].replace(f"id {missing_id} ", "id N "))
