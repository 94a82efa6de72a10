"""Tenant-bound keys at the front (issue 23): the official qdrant-client, as a customer's
application uses it, over REST and gRPC, on an embedded cluster and on a real Qdrant node
behind the front. Each tenant's key sees and changes only its own points; what the rules
cannot bind is refused. keyset/tenant.py decides; tests/test_tenant_rules.py has each rule."""

import json

import grpc
import httpx
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from apikeys.services import database_key_create
from tests.fixtures.dataplane import MANAGE, mint

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

COLLECTION = "docs"
TENANTS = ("acme", "globex")
# Point ids 1-6 are acme's, 7-12 globex's, 13 carries no tenant.
OWNER_OF = {i: ("acme" if i <= 6 else "globex") for i in range(1, 13)} | {13: None}


def clients(dataplane, token) -> dict[str, QdrantClient]:
    common = {"api_key": token, "check_compatibility": False, "timeout": 30}
    return {"rest": QdrantClient(url="http://127.0.0.1", port=dataplane.port, **common),
            "grpc": QdrantClient(host="127.0.0.1", grpc_port=dataplane.grpc_port, prefer_grpc=True, https=False,
                                 **common)}


def refusal(call) -> tuple[int | str, str]:
    """(status or gRPC code, message) of a refused call; fails if it succeeds."""
    try:
        call()
    except UnexpectedResponse as exc:
        try:
            return exc.status_code, json.loads(exc.content)["status"]["error"]
        except (ValueError, KeyError, TypeError):
            return exc.status_code, exc.content.decode()
    except grpc.RpcError as exc:
        return exc.code().name, exc.details()
    raise AssertionError("the call was not refused")


def point(i: int, tenant: str | None = None) -> models.PointStruct:
    payload = {"color": "red" if i % 2 else "blue", "n": i}
    owner = tenant if tenant is not None else OWNER_OF.get(i)
    if owner is not None:
        payload["group_id"] = owner
    return models.PointStruct(id=i, vector=[1.0, i / 10], payload=payload)


def seed(client: QdrantClient) -> None:
    client.create_collection(COLLECTION, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(COLLECTION, [point(i) for i in OWNER_OF], wait=True)


def tenant_key(cluster, owner, value: str, access: str = "rw") -> str:
    _, token = database_key_create(
        cluster=cluster, name=f"{value} app", rules=MANAGE, expires_at=None, by=owner,
        tenant={"field": "group_id", "value": value, "type": "keyword", "access": access, "collections": []})
    return token


@pytest.fixture(params=["embedded", "qdrant"])
def bound(request, dataplane, cluster, owner):
    """(runtime, the unbound setup client, {tenant: {protocol: client}}, the read-only acme key's clients)."""
    if request.param == "qdrant":
        from tests.fixtures.qdrant import QDRANT_BINARY
        from tests.test_dataplane_front import front_cluster

        if not QDRANT_BINARY:
            request.getfixturevalue("qdrant_binary")  # skips, or fails under REQUIRE_QDRANT
        qdrant = request.getfixturevalue("qdrant")
        front_cluster(cluster, [request.getfixturevalue("qdrant_node")], qdrant)
    _, setup = mint(cluster, MANAGE, by=owner, name="setup key")
    tokens = {value: tenant_key(cluster, owner, value) for value in TENANTS}
    reader = tenant_key(cluster, owner, "acme", access="r")
    for token in (setup, *tokens.values(), reader):
        dataplane.wait_until_accepted(token)
    unbound = clients(dataplane, setup)["rest"]
    seed(unbound)
    return (request.param, unbound, {value: clients(dataplane, token) for value, token in tokens.items()},
            clients(dataplane, reader), dataplane, tokens)


def ids(points) -> set:
    return {p.id for p in points}


def own(tenant: str) -> set:
    return {i for i, owner in OWNER_OF.items() if owner == tenant}


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_each_tenant_reads_only_its_own_points(bound, protocol):
    runtime, _, tenants, _, _, _ = bound
    for tenant in TENANTS:
        client = tenants[tenant][protocol]
        mine = own(tenant)
        assert ids(client.query_points(COLLECTION, query=[1.0, 1.0], limit=20).points) == mine
        assert ids(client.scroll(COLLECTION, limit=50)[0]) == mine
        assert client.count(COLLECTION).count == len(mine)
        # Their own filter cannot widen it: ANDed, never ORed.
        everyone = models.Filter(should=[models.FieldCondition(key="group_id", match=models.MatchAny(any=list(TENANTS)))])
        assert client.count(COLLECTION, count_filter=everyone).count == len(mine)
        # Retrieve by ids: another tenant's points are simply not there.
        assert ids(client.retrieve(COLLECTION, ids=list(OWNER_OF))) == mine
        # A query by another tenant's point id: not found, as a missing point.
        other = min(own(TENANTS[1 - TENANTS.index(tenant)]))
        status, message = refusal(lambda c=client, o=other: c.query_points(COLLECTION, query=o))
        missing_status, missing = refusal(lambda c=client: c.query_points(COLLECTION, query=999))
        assert (status, message.replace(str(other), "N")) == (missing_status, missing.replace("999", "N"))


def test_a_point_of_another_tenant_is_not_found_by_id(bound):
    runtime, _, tenants, _, dataplane, tokens = bound
    with httpx.Client(base_url=f"http://127.0.0.1:{dataplane.port}", headers={"api-key": tokens["acme"]}) as http:
        assert http.get(f"/collections/{COLLECTION}/points/1").json()["result"]["id"] == 1
        theirs, missing = http.get(f"/collections/{COLLECTION}/points/7"), http.get(f"/collections/{COLLECTION}/points/99")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["status"]["error"].replace("7", "N") == missing.json()["status"]["error"].replace("99", "N")


def test_facets_and_groups_count_only_the_tenant_on_a_real_cluster(bound):
    runtime, unbound, tenants, _, _, _ = bound
    if runtime != "qdrant":
        pytest.skip("the embedded engine has no facet or groups routes")
    unbound.create_payload_index(COLLECTION, "color", models.PayloadSchemaType.KEYWORD, wait=True)
    client = tenants["acme"]["rest"]
    facet = client.facet(COLLECTION, key="color")
    assert sum(hit.count for hit in facet.hits) == len(own("acme"))
    groups = client.query_points_groups(COLLECTION, query=[1.0, 1.0], group_by="color", group_size=20, limit=5)
    assert {p.id for group in groups.groups for p in group.hits} == own("acme")


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_writes_touch_only_the_tenants_points(bound, protocol):
    runtime, unbound, tenants, _, _, _ = bound
    acme = tenants["acme"][protocol]
    before = {p.id: p.payload for p in unbound.scroll(COLLECTION, limit=50)[0]}
    # Upsert: every point carries the tenant's value; another tenant's id is not overwritten.
    status, message = refusal(lambda: acme.upsert(COLLECTION, [point(20, "acme"), point(21, "globex")], wait=True))
    assert status in (403, "PERMISSION_DENIED") and "point 21 must carry group_id" in message
    status, message = refusal(lambda: acme.upsert(COLLECTION, [point(7, "acme")], wait=True))
    assert "point 7 is another tenant's" in message
    # Payload writes by ids on another tenant's point: refused, nothing changed.
    status, message = refusal(lambda: acme.set_payload(COLLECTION, {"color": "green"}, points=[1, 8], wait=True))
    assert "point 8 is another tenant's" in message
    # The tenant field is never changed or removed.
    assert "tenant field" in refusal(lambda: acme.set_payload(COLLECTION, {"group_id": "globex"}, points=[1],
                                                               wait=True))[1]
    assert "tenant field" in refusal(lambda: acme.delete_payload(COLLECTION, ["group_id"], points=[1], wait=True))[1]
    assert "keep group_id" in refusal(lambda: acme.overwrite_payload(COLLECTION, {"x": 1}, points=[1], wait=True))[1]
    assert {p.id: p.payload for p in unbound.scroll(COLLECTION, limit=50)[0]} == before
    # By filter: ANDed, so "every point" means every one of the tenant's.
    acme.set_payload(COLLECTION, {"seen": True}, points=models.Filter(), wait=True)
    acme.delete(COLLECTION, points_selector=models.FilterSelector(filter=models.Filter(
        must=[models.FieldCondition(key="color", match=models.MatchValue(value="red"))])), wait=True)
    after = {p.id: p.payload for p in unbound.scroll(COLLECTION, limit=50)[0]}
    assert {i for i in after if after[i].get("seen")} == {i for i in own("acme") if i % 2 == 0}
    assert set(after) == set(OWNER_OF) - {i for i in own("acme") if i % 2}
    assert all(after[i] == before[i] for i in after if OWNER_OF[i] != "acme")
    # Its own points: written as usual.
    acme.upsert(COLLECTION, [point(30, "acme")], wait=True)
    acme.delete(COLLECTION, points_selector=models.PointIdsList(points=[2]), wait=True)
    assert {30} <= ids(unbound.retrieve(COLLECTION, ids=[30, 2]))
    assert 2 not in ids(unbound.retrieve(COLLECTION, ids=[2]))


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_what_cannot_be_bound_is_refused(bound, protocol):
    runtime, _, tenants, reader, _, _ = bound
    acme = tenants["acme"][protocol]
    refusals = [
        refusal(lambda: acme.get_collection(COLLECTION)),
        refusal(lambda: acme.create_payload_index(COLLECTION, "color", models.PayloadSchemaType.KEYWORD, wait=True)),
        refusal(lambda: acme.create_collection("other", vectors_config=models.VectorParams(
            size=2, distance=models.Distance.DOT))),
        refusal(lambda: acme.delete_collection(COLLECTION)),
    ]
    for status, message in refusals:
        assert status in (403, "PERMISSION_DENIED") and "not available to tenant-bound keys" in message, message
    status, message = refusal(lambda: reader[protocol].upsert(COLLECTION, [point(40, "acme")], wait=True))
    assert status in (403, "PERMISSION_DENIED") and "read-only" in message
    assert ids(reader[protocol].scroll(COLLECTION, limit=50)[0]) == own("acme")


def test_unknown_body_fields_and_aliases_are_refused_over_rest(bound):
    _, _, _, _, dataplane, tokens = bound
    with httpx.Client(base_url=f"http://127.0.0.1:{dataplane.port}", headers={"api-key": tokens["acme"]}) as http:
        unknown = http.post(f"/collections/{COLLECTION}/points/scroll", json={"filters": {}})
        assert unknown.status_code == 403 and "`filters`" in unknown.json()["status"]["error"]
        aliases = http.get("/aliases")
        assert aliases.status_code == 403 and "not available to tenant-bound keys" in aliases.json()["status"]["error"]
