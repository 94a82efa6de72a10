"""What can this key do: the key page's matrix of live collections × operation
groups, decided by keyset.rights, agrees with what the data plane answers.

The agreement is checked against real Qdrant behind the front (every group,
the node applies Qdrant's own table of access) and against the embedded
engine (whose front decides with keyset.rights, through the table of access in dataplane/routes.py)."""

import httpx
import pytest

from apikeys.models import AdminKey
from keyset.rights import OPERATION_GROUPS, access_from_claim, rights_matrix
from apikeys.selectors import key_access
from tests.fixtures.dataplane import MANAGE, READ_ONLY, collection_rule, mint
from tests.fixtures.qdrant import requires_qdrant
from tests.test_dataplane_front import seed_collections, single  # noqa: F401 - `single` is a fixture

# One request of each operation group on collection `c`, as a client makes it.
GROUP_REQUESTS = {
    "read": lambda c: ("POST", f"/collections/{c}/points/count", {"exact": True}),
    "write": lambda c: ("PUT", f"/collections/{c}/points?wait=true",
                        {"points": [{"id": 7, "vector": [0.5, 0.5], "payload": {"g": "y"}}]}),
    "index": lambda c: ("PUT", f"/collections/{c}/index?wait=true", {"field_name": "g", "field_schema": "keyword"}),
    # Creating a collection that exists: refused for want of access, else for existing.
    "collections": lambda c: ("PUT", f"/collections/{c}", {"vectors": {"size": 2, "distance": "Dot"}}),
    "admin": lambda c: ("POST", f"/collections/{c}/cluster", {"drop_replica": {"shard_id": 0, "peer_id": 1}}),
}

SAMPLE_RULES = {
    "manage": MANAGE,
    "read": READ_ONLY,
    "a-read": collection_rule("a", "r"),
    "a-write": collection_rule("a", "rw"),
    "mixed": [{"collection": "a", "access": "r"}, {"collection": "b", "access": "rw"}],
}


def front_answer(base_url: str, token: str, group: str, collection: str) -> tuple[bool, str]:
    """(allowed, Forbidden message): a 403 is the front's refusal, anything else its consent."""
    method, path, body = GROUP_REQUESTS[group](collection)
    response = httpx.request(method, base_url + path, json=body, headers={"api-key": token}, timeout=30)
    if response.status_code == 403:
        return False, response.json()["status"]["error"]
    return True, ""


def matrix_answers(key, collections) -> dict:
    return {
        (collection, decision.group.slug): (decision.allowed, f"Forbidden: {decision.reason}" if decision.reason else "")
        for collection, decisions in rights_matrix(key_access(key), collections)
        for decision in decisions
    }


def test_every_operation_group_has_a_request():
    assert {group.slug for group in OPERATION_GROUPS} == set(GROUP_REQUESTS)


@requires_qdrant
def test_the_matrix_agrees_with_real_qdrant_behind_the_front(single, qdrant, qdrant_node, dataplane, owner):  # noqa: F811
    seed_collections(qdrant.address(qdrant_node).http_url, single.master_key)
    keys = [(AdminKey.objects.get(cluster=single), single.admin_token)]
    keys += [mint(single, rules, by=owner, name=f"{name} key") for name, rules in SAMPLE_RULES.items()]
    differences = []
    for key, token in keys:
        for (collection, group), expected in matrix_answers(key, ["a", "b"]).items():
            got = front_answer(dataplane.url, token, group, collection)
            if got != expected:
                differences.append((key.name, collection, group, got, expected))
    assert differences == []


def test_the_matrix_agrees_with_the_embedded_front(cluster, dataplane, owner):
    _, manage_token = mint(cluster, MANAGE, by=owner, name="seed key")
    for name in ("a", "b"):
        response = httpx.put(f"{dataplane.url}/collections/{name}", headers={"api-key": manage_token},
                             json={"vectors": {"size": 2, "distance": "Dot"}})
        assert response.status_code == 200, response.text
    served = {"read", "write", "collections"}  # the embedded engine has no index or cluster routes
    differences = []
    for name, rules in SAMPLE_RULES.items():
        key, token = mint(cluster, rules, by=owner, name=f"{name} key")
        for (collection, group), expected in matrix_answers(key, ["a", "b"]).items():
            if group in served and front_answer(dataplane.url, token, group, collection) != expected:
                differences.append((name, collection, group))
    assert differences == []


def test_key_page_shows_the_matrix_of_live_collections(cluster, dataplane, owner, client_of):
    _, manage_token = mint(cluster, MANAGE, by=owner, name="seed key")
    for name in ("books", "films"):
        httpx.put(f"{dataplane.url}/collections/{name}", headers={"api-key": manage_token},
                  json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
    key, _ = mint(cluster, collection_rule("books", "rw"), by=owner, name="books writer")
    page = client_of(owner).get(key.get_absolute_url()).content.decode()
    assert 'data-collection="books"' in page and 'data-collection="films"' in page
    books = page[page.index('data-collection="books"'):page.index('data-collection="films"')]
    assert 'data-group="write" data-allowed="true"' in books
    assert 'data-group="collections" data-allowed="false"' in books
    films = page[page.index('data-collection="films"'):]
    assert 'data-group="read" data-allowed="false"' in films
    assert "Access to collection films is required" in films


def test_a_deleted_key_can_do_nothing(cluster, owner, client_of):
    from apikeys.services import database_key_delete

    key, _ = mint(cluster, MANAGE, by=owner)
    database_key_delete(key=key, by=owner)
    page = client_of(owner).get(key.get_absolute_url()).content.decode()
    assert "data-rights-none" in page and "data-collection=" not in page


@pytest.mark.parametrize("claim", [[{"collection": "a", "access": "x"}], [{"collection": "a", "access": "r"}] * 2,
                                   [{"collection": "a", "access": "r", "payload": {}}], 5, "rw"])
def test_claims_qdrant_refuses_give_no_access(claim):
    assert access_from_claim(claim) is None
