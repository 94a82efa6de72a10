"""Bad input against the running data plane: always a clean 4xx, never a 5xx
or a crash (a hypothesis property over the whole request path)."""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.dataplane import MANAGE, mint


@pytest.fixture
def token(dataplane, cluster, owner):
    _, token = mint(cluster, MANAGE, by=owner)
    dataplane.wait_until_accepted(token)
    with httpx.Client(base_url=dataplane.url, headers={"api-key": token}) as client:
        client.put("/collections/books", json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
    return token


def test_health_routes_are_open(dataplane):
    assert httpx.get(dataplane.url + "/healthz").text == "healthz check passed"
    assert httpx.get(dataplane.url + "/livez").text == "healthz check passed"
    assert httpx.get(dataplane.url + "/readyz").text == "all shards are ready"


def test_an_encoded_path_does_not_slip_past_auth(dataplane):
    for path in ("/healthz/../collections", "/healthz%2F..%2Fcollections", "/readyz/../collections",
                 "/livez%2f..%2fcollections"):
        response = httpx.get(dataplane.url + path)
        assert response.status_code == 401, path


def test_version_needs_a_key(dataplane, token):
    assert httpx.get(dataplane.url + "/").status_code == 401
    response = httpx.get(dataplane.url + "/", headers={"api-key": token})
    assert response.json()["title"] == "qdrant - vector search engine"
    assert response.json()["version"] == "1.19.0"


def test_a_body_that_is_not_json_is_a_400(dataplane, token):
    response = httpx.post(f"{dataplane.url}/collections/books/points/count", headers={"api-key": token},
                          content=b"{not json")
    assert response.status_code == 400
    assert response.json()["status"]["error"].startswith("Format error in JSON body")


def test_an_oversize_body_is_a_413(dataplane, token):
    big = b"[" + b"0," * (17 * 1024 * 1024) + b"0]"
    response = httpx.put(f"{dataplane.url}/collections/books/points", headers={"api-key": token}, content=big,
                         timeout=30)
    assert response.status_code == 413
    assert "larger than allowed" in response.json()["status"]["error"]


def test_an_oversize_body_without_a_key_is_a_401(dataplane):
    response = httpx.put(f"{dataplane.url}/collections/books/points", content=b"0" * (33 * 1024 * 1024),
                         timeout=30)
    assert response.status_code == 401


def test_a_huge_header_is_refused_cleanly(dataplane, token):
    for headers in ({"api-key": "a" * 200_000}, {"x-junk": "j" * 20_000_000}):
        response = httpx.get(dataplane.url + "/collections", headers=headers, timeout=30)
        assert response.status_code == 431
    # A large but reasonable key still gets an answer about the key.
    response = httpx.get(dataplane.url + "/collections", headers={"api-key": "a" * 30_000})
    assert (response.status_code, response.text) == (401, "Invalid API key or JWT")
    assert httpx.get(dataplane.url + "/collections", headers={"api-key": token}).status_code == 200


def test_a_head_over_64_kib_is_a_431_and_one_under_is_read(dataplane, token):
    # 70,000 bytes: over the cap by less than the 8 KiB pieces the head is fed in.
    response = httpx.get(dataplane.url + "/collections", headers={"api-key": "a" * 70_000})
    assert (response.status_code, response.text) == (431, "Request Header Fields Too Large")
    response = httpx.get(dataplane.url + "/collections", headers={"api-key": "a" * (64 * 1024 - 400)})
    assert (response.status_code, response.text) == (401, "Invalid API key or JWT")
    # A head just under the cap followed by a body in the same packets: the body is not counted as head.
    response = httpx.post(
        f"{dataplane.url}/collections/books/points/count",
        headers={"api-key": token, "x-pad": "p" * (60 * 1024)},
        content=b'{"exact": true}' + b" " * 100_000,
    )
    assert response.status_code == 200, response.text


def test_a_non_ascii_key_counts_as_no_key(dataplane):
    response = httpx.get(dataplane.url + "/collections", headers={"api-key": "clé".encode()})
    assert (response.status_code, response.text) == (401, "Must provide an API key or an Authorization bearer token")


def test_unknown_routes_are_404_in_qdrants_shape_after_auth(dataplane, token):
    assert httpx.get(dataplane.url + "/cluster").status_code == 401
    response = httpx.get(dataplane.url + "/cluster", headers={"api-key": token})
    assert response.status_code == 404
    assert set(response.json()) == {"status", "time"}


def test_a_missing_collection_is_a_404(dataplane, token):
    response = httpx.get(dataplane.url + "/collections/nope", headers={"api-key": token})
    assert response.status_code == 404
    assert response.json()["status"]["error"] == "Not found: Collection `nope` doesn't exist!"


def test_an_existing_collection_cannot_be_created_twice(dataplane, token):
    response = httpx.put(dataplane.url + "/collections/books", headers={"api-key": token},
                         json={"vectors": {"size": 2, "distance": "Dot"}})
    assert response.status_code == 409
    assert response.json()["status"]["error"] == "Wrong input: Collection `books` already exists!"


PATHS = ["/", "/collections", "/collections/books", "/collections/books/exists", "/collections/books/points",
         "/collections/books/points/1", "/collections/books/points/count", "/collections/books/points/query",
         "/collections/books/points/scroll", "/collections/books/points/search", "/collections/books/points/delete",
         "/collections/books/points/payload", "/collections/books/points/search/batch",
         "/collections/books/points/query/batch", "/collections/books/points/recommend", "/collections/%2e%2e",
         "/collections/a%2Fb/points"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["points", "ids", "vector", "vectors", "filter", "must", "key", "match", "value", "limit",
                         "query", "payload", "batch", "id", "exact", "offset", "with_payload", "prefetch",
                         "size", "distance", "range", "has_id", "using", "order_by", "searches", "positive",
                         "negative", "strategy", "hnsw_config", "optimizers_config", "params", "m",
                         "indexing_threshold", "metadata"]) | st.text(max_size=5),
        inner, max_size=5),
    max_leaves=20,
)
# What an HTTP client can send: visible ASCII, no surrounding spaces.
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=400).map(str.strip)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), path=st.sampled_from(PATHS),
       body=json_values | st.binary(max_size=200), key=st.none() | header_values,
       bearer=st.none() | header_values | header_values.map(lambda value: ("Bearer " + value).strip()),
       use_token=st.booleans())
def test_no_request_gets_a_5xx(dataplane, token, method, path, body, key, bearer, use_token):
    headers = {}
    if use_token:
        headers["api-key"] = token
    elif key is not None:
        headers["api-key"] = key
    if bearer is not None:
        headers["authorization"] = bearer
    content = body if isinstance(body, bytes) else None
    response = httpx.request(method, dataplane.url + path, headers=headers, content=content,
                             json=None if content is not None else body, timeout=10)
    assert response.status_code < 500, (response.status_code, response.text)


def test_browsers_may_call_it_from_another_origin(dataplane, token):
    preflight = httpx.options(dataplane.url + "/", headers={
        "origin": "http://localhost:8000", "access-control-request-method": "GET",
        "access-control-request-headers": "api-key"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:8000"
    assert "api-key" in preflight.headers["access-control-allow-headers"]
    response = httpx.get(dataplane.url + "/", headers={"origin": "http://localhost:8000", "api-key": token})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:8000"
