"""The REST routes users call most beyond the first fifteen, on an embedded
cluster: batch search and query, recommend, PATCH a collection. Their answers
are compared with a real Qdrant's to the same requests (QDRANT_BINARY), and
what qdrant-edge cannot change is refused by name."""

import itertools

import httpx
import pytest

from tests.fixtures.dataplane import MANAGE, mint
from tests.fixtures.qdrant import master, requires_qdrant, url

POINTS = [
    {"id": 1, "vector": [1, 0, 0], "payload": {"g": "a"}},
    {"id": 2, "vector": [0.9, 0.1, 0], "payload": {"g": "b"}},
    {"id": 3, "vector": [0, 1, 0], "payload": {"g": "a"}},
    {"id": 4, "vector": [0, 0.2, 1]},
    {"id": 5, "vector": [0.5, 0.5, 0.5]},
]

# (method, path, body, whether the error message must be Qdrant's too: the
# texts of serde's format errors, "at line 1 column 16", are Qdrant's alone)
REQUESTS = [
    ("POST", "/collections/t/points/search/batch", {"searches": [
        {"vector": [1, 0, 0], "limit": 2}, {"vector": [0, 1, 0], "limit": 1, "with_payload": True},
        {"vector": [1, 0.5, 0], "limit": 3, "filter": {"must": [{"key": "g", "match": {"value": "a"}}]}}]}, True),
    ("POST", "/collections/t/points/search/batch", {"searches": []}, True),
    ("POST", "/collections/t/points/search/batch", {}, False),
    ("POST", "/collections/t/points/query/batch", {"searches": [
        {"query": [1, 0, 0], "limit": 2}, {"query": 3, "limit": 2}, {"limit": 2, "with_payload": ["g"]}]}, True),
    ("POST", "/collections/t/points/query/batch", {"searches": [{"query": 99, "limit": 2}]}, True),
    ("POST", "/collections/t/points/recommend", {"positive": [1], "negative": [3], "limit": 3}, True),
    ("POST", "/collections/t/points/recommend", {"positive": [1, 2], "limit": 2, "with_payload": True}, True),
    ("POST", "/collections/t/points/recommend", {"positive": [[0.2, 0.3, 0.9]], "negative": [4], "limit": 3}, True),
    ("POST", "/collections/t/points/recommend", {"positive": [1, [0, 0, 1]], "limit": 3,
                                                 "strategy": "best_score"}, True),
    ("POST", "/collections/t/points/recommend", {"negative": [2], "limit": 3, "strategy": "best_score"}, True),
    ("POST", "/collections/t/points/recommend", {"positive": [5], "negative": [1], "limit": 3,
                                                 "strategy": "sum_scores"}, True),
    ("POST", "/collections/t/points/recommend", {"positive": [2], "limit": 3, "offset": 1,
                                                 "filter": {"must_not": [{"key": "g", "match": {"value": "b"}}]}},
     True),
    ("POST", "/collections/t/points/recommend", {"negative": [1], "limit": 3}, True),
    ("POST", "/collections/t/points/recommend", {"limit": 3, "strategy": "sum_scores"}, True),
    ("POST", "/collections/t/points/recommend", {"positive": [99], "limit": 3}, True),
    ("POST", "/collections/nope/points/recommend", {"positive": [1], "limit": 3}, True),
    ("PATCH", "/collections/t", {"optimizers_config": {"indexing_threshold": 1000, "deleted_threshold": 0.3},
                                 "hnsw_config": {"m": 32}, "params": {"on_disk_payload": False},
                                 "metadata": {"team": "search"}}, True),
    ("PATCH", "/collections/t", {"metadata": {"owner": "ada"}, "hnsw_config": {"ef_construct": 64}}, True),
    ("PATCH", "/collections/t", {}, True),
    ("PATCH", "/collections/t", {"hnsw_config": {"m": "many"}}, False),
    ("PATCH", "/collections/nope", {}, True),
    ("GET", "/collections/t", None, True),
]


def answer(response: httpx.Response, message_too: bool):
    body = response.json()
    if response.status_code != 200:
        return response.status_code, body["status"]["error"] if message_too else None
    result = body["result"]
    if isinstance(result, dict) and "config" in result:  # collection info: the settings PATCH changes
        config = result["config"]
        result = {"hnsw_config": config["hnsw_config"], "metadata": config.get("metadata"),
                  "on_disk_payload": config["params"]["on_disk_payload"],
                  "optimizer_config": {k: config["optimizer_config"][k]
                                       for k in ("indexing_threshold", "deleted_threshold", "max_segment_size")}}
    return 200, comparable(result)


def comparable(value):
    """Qdrant leaves out what is null; scores agree to float32 precision; a
    point's version is its own count of operations, which no client reads."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if v is not None and k != "version"}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, float):
        return round(value, 5)
    return value


def answers(base_url: str, headers: dict) -> list:
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        client.put("/collections/t", json={"vectors": {"size": 3, "distance": "Cosine"}}).raise_for_status()
        client.put("/collections/t/points?wait=true", json={"points": POINTS}).raise_for_status()
        return [answer(client.request(method, path, json=body), message_too)
                for method, path, body, message_too in REQUESTS]


@pytest.fixture
def manage_headers(dataplane, cluster, owner):
    _, token = mint(cluster, MANAGE, by=owner)
    dataplane.wait_until_accepted(token)
    return {"api-key": token}


def by_request(results: list) -> dict:
    return {(method, path, repr(body)): got for (method, path, body, _), got in zip(REQUESTS, results, strict=True)}


def test_the_new_routes_answer_on_an_embedded_cluster(dataplane, manage_headers):
    got = by_request(answers(dataplane.url, manage_headers))
    ids = {key: [p["id"] for p in result] for key, (status, result) in got.items()
           if status == 200 and isinstance(result, list) and all(isinstance(p, dict) and "id" in p for p in result)}
    recommend = ("POST", "/collections/t/points/recommend")
    assert ids[(*recommend, repr({"positive": [1], "negative": [3], "limit": 3}))] == [2, 5, 4]
    assert got[(*recommend, repr({"negative": [1], "limit": 3}))] == (
        400, "Bad request: At least one positive vector ID required with this strategy")
    [batch] = [result for (method, path, _), (status, result) in got.items() if path.endswith("query/batch")
               and status == 200 and result and len(result) == 3]
    assert [[p["id"] for p in entry["points"]] for entry in batch] == [[1, 2], [5, 4], [1, 2]]
    info = got[("GET", "/collections/t", "None")][1]
    assert info["hnsw_config"]["m"] == 32 and info["hnsw_config"]["ef_construct"] == 64
    assert info["metadata"] == {"team": "search", "owner": "ada"}
    assert info["optimizer_config"]["indexing_threshold"] == 1000


@requires_qdrant
def test_the_new_routes_answer_as_a_real_qdrant_does(dataplane, manage_headers, qdrant, qdrant_node):
    embedded = answers(dataplane.url, manage_headers)
    real = answers(url(qdrant, qdrant_node, ""), master(qdrant_node))
    differences = [(request[:3], got, expected) for request, got, expected in zip(REQUESTS, embedded, real, strict=True)
                   if got != expected]
    assert differences == []


@pytest.mark.parametrize("body, refused", [
    ({"vectors": {"": {"on_disk": True}}}, "`vectors` cannot be changed on this cluster"),
    ({"quantization_config": {"scalar": {"type": "int8"}}}, "`quantization_config` cannot be changed"),
    ({"params": {"replication_factor": 2}}, "`params.replication_factor` cannot be changed on this cluster: its "
                                            "collections have one shard and one replica"),
    ({"optimizers_config": {"flush_interval_sec": 1}, "metadata": {"team": "x"}},
     "`optimizers_config.flush_interval_sec` cannot be changed on this cluster: its engine (qdrant-edge) has no "
     "such setting"),
])
def test_what_qdrant_edge_cannot_change_is_refused_by_name_and_changes_nothing(dataplane, manage_headers, body,
                                                                               refused):
    with httpx.Client(base_url=dataplane.url, headers=manage_headers) as client:
        client.put("/collections/t", json={"vectors": {"size": 3, "distance": "Cosine"}}).raise_for_status()
        before = client.get("/collections/t").json()["result"]["config"]
        response = client.patch("/collections/t", json=body)
        assert response.status_code == 400
        assert response.json()["status"]["error"].startswith(f"Bad request: {refused}")
        assert client.get("/collections/t").json()["result"]["config"] == before


def test_a_patched_collection_keeps_its_points_and_settings_across_a_restart(dataplane, manage_headers, cluster):
    with httpx.Client(base_url=dataplane.url, headers=manage_headers) as client:
        client.put("/collections/t", json={"vectors": {"size": 3, "distance": "Cosine"}}).raise_for_status()
        client.put("/collections/t/points?wait=true", json={"points": POINTS}).raise_for_status()
        assert client.patch("/collections/t", json={"hnsw_config": {"m": 8}}).json()["result"] is True
    dataplane.stop()
    dataplane.start()
    with httpx.Client(base_url=dataplane.url, headers=manage_headers) as client:
        info = client.get("/collections/t").json()["result"]
    assert info["points_count"] == 5
    assert info["config"]["hnsw_config"]["m"] == 8
    edge_config = next((dataplane.data_dir / "clusters" / str(cluster.id)).rglob("edge_config.json")).read_text()
    assert '"m":8' in edge_config  # applied to the shard, not only reported


SETTINGS = [("hnsw_config", k) for k in ("m", "ef_construct", "full_scan_threshold", "max_indexing_threads",
                                         "on_disk", "payload_m")] + \
           [("optimizers_config", k) for k in ("deleted_threshold", "vacuum_min_vector_number",
                                               "default_segment_number", "max_segment_size", "indexing_threshold")]


def test_no_value_of_a_setting_breaks_the_collection(dataplane, manage_headers):
    with httpx.Client(base_url=dataplane.url, headers=manage_headers) as client:
        client.put("/collections/t", json={"vectors": {"size": 3, "distance": "Cosine"}}).raise_for_status()
        client.put("/collections/t/points?wait=true", json={"points": POINTS}).raise_for_status()
        outcomes = set()
        for (section, key), value in itertools.product(SETTINGS, [0, 1, -1, 2**32, 2**64 - 1, 2**64, 0.5, True, "x",
                                                                  [], {}]):
            response = client.patch("/collections/t", json={section: {key: value}})
            assert response.status_code in (200, 400), (section, key, value, response.text)
            outcomes.add(response.status_code)
            count = client.post("/collections/t/points/count", json={"exact": True})
            assert count.json()["result"]["count"] == 5, (section, key, value, count.text)
        assert outcomes == {200, 400}
