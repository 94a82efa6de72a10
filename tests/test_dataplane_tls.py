"""TLS on the front (DATAPLANE_TLS_CERT_FILE, DATAPLANE_TLS_KEY_FILE): a CA
and certificates made at run time (tests/fixtures/tls.py), a real data plane
process serving them, and the official clients trusting that CA, or not."""

import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException

from apikeys.snippets import connection_snippets
from clusters.models import Cluster
from tests.test_dataplane_snippets import COLLECTION, ENDPOINT_PATTERNS, LIST_OVER_GRPC, grpc_endpoint, node_project, run
from tests.fixtures.dataplane import MANAGE, ROOT, DataPlaneProcess, free_port, mint
from tests.fixtures.tls import make_certificates

HOSTS = ["localhost", "127.0.0.1"]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"), HOSTS)


@pytest.fixture(scope="module")
def tls_plane(certificates, dataplane_process, django_db_blocker, tmp_path_factory):
    """A second data plane, on TLS, beside the plain one (whose settings it shares)."""
    env = dataplane_process.env | {
        "DATAPLANE_PORT": str(free_port()),
        "DATAPLANE_DATA_DIR": str(tmp_path_factory.mktemp("dataplane-tls")),
        "DATAPLANE_TLS_CERT_FILE": str(certificates.cert_file),
        "DATAPLANE_TLS_KEY_FILE": str(certificates.key_file),
    }
    plane = DataPlaneProcess(port=int(env["DATAPLANE_PORT"]), data_dir=Path(env["DATAPLANE_DATA_DIR"]), env=env,
                             ssl_context=ssl.create_default_context(cafile=certificates.ca_file))
    with django_db_blocker.unblock():
        plane.start()
    yield plane
    plane.stop()


@pytest.fixture
def token(tls_plane, transactional_db, cluster, owner):
    Cluster.objects.filter(id=cluster.id).update(rest_port=tls_plane.port, grpc_port=tls_plane.grpc_port)
    _, token = mint(cluster, MANAGE, by=owner)
    tls_plane.wait_until_accepted(token)
    return token


def rest_client(plane, token, ca_file=None) -> QdrantClient:
    verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
    return QdrantClient(url="https://localhost", port=plane.port, api_key=token, verify=verify,
                        check_compatibility=False, timeout=10)


def grpc_client(plane, token, ca_pem=None, https=True) -> QdrantClient:
    options = {"root_certificates": ca_pem} if ca_pem else None
    return QdrantClient(url=f"{'https' if https else 'http'}://localhost", port=plane.port, grpc_port=plane.grpc_port,
                        prefer_grpc=True, https=https, api_key=token, grpc_options=options,
                        check_compatibility=False, timeout=10)


def names(client: QdrantClient) -> list[str]:
    try:
        return sorted(c.name for c in client.get_collections().collections)
    finally:
        client.close()


def test_the_official_client_works_over_tls_on_rest_and_grpc(tls_plane, token, certificates):
    client = rest_client(tls_plane, token, certificates.ca_file)
    client.create_collection("over-tls", vectors_config={"size": 2, "distance": "Dot"})
    assert names(client) == ["over-tls"]
    assert names(grpc_client(tls_plane, token, certificates.ca_pem)) == ["over-tls"]


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_plane, token):
    with pytest.raises(ResponseHandlingException, match="CERTIFICATE_VERIFY_FAILED"):
        names(rest_client(tls_plane, token))
    with pytest.raises(grpc.RpcError) as refused:
        names(grpc_client(tls_plane, token))
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


def test_plaintext_on_the_tls_ports_gets_nothing_served(tls_plane, token, certificates):
    request = (f"PUT /collections/plain HTTP/1.1\r\nHost: localhost\r\napi-key: {token}\r\n"
               "Content-Type: application/json\r\nContent-Length: 44\r\n\r\n"
               '{"vectors": {"size": 2, "distance": "Dot"}}\n').encode()
    with socket.create_connection(("127.0.0.1", tls_plane.port), timeout=5) as sock:
        sock.sendall(request)
        answer = _read_all(sock)
    assert not answer.startswith(b"HTTP/")
    with pytest.raises(grpc.RpcError) as refused:
        names(grpc_client(tls_plane, token, https=False))
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    # The plaintext request created nothing.
    assert names(rest_client(tls_plane, token, certificates.ca_file)) == []


def test_a_certificate_replaced_on_disk_is_served_to_new_connections(tls_plane, token, certificates,
                                                                     tmp_path):
    pid = tls_plane.process.pid
    renewed = make_certificates(tmp_path, HOSTS, ca_name="Another CA")
    before = rest_client(tls_plane, token, renewed.ca_file)
    with pytest.raises(ResponseHandlingException, match="CERTIFICATE_VERIFY_FAILED"):
        names(before)
    # Replaced the way a renewal tool does it: new files renamed over the old.
    os.replace(renewed.key_file, certificates.key_file)
    os.replace(renewed.cert_file, certificates.cert_file)
    try:
        assert names(rest_client(tls_plane, token, renewed.ca_file)) == []
        assert names(grpc_client(tls_plane, token, renewed.ca_pem)) == []
        with pytest.raises(ResponseHandlingException, match="CERTIFICATE_VERIFY_FAILED"):
            names(rest_client(tls_plane, token, certificates.ca_file))
    finally:  # the module's other tests trust the first CA
        certificates.issue(certificates.cert_file, certificates.key_file, HOSTS)
    assert tls_plane.process.pid == pid and tls_plane.process.poll() is None
    assert names(rest_client(tls_plane, token, certificates.ca_file)) == []
    assert names(grpc_client(tls_plane, token, certificates.ca_pem)) == []


def test_a_replacement_that_does_not_load_leaves_the_served_certificate_in_use(tls_plane, token, certificates,
                                                                               tmp_path):
    renewed = make_certificates(tmp_path, HOSTS, ca_name="Another CA")
    good_cert = certificates.cert_file.read_bytes()
    # A new certificate whose key is not there yet: the old pair keeps serving.
    certificates.cert_file.write_bytes(renewed.cert_file.read_bytes())
    try:
        assert names(rest_client(tls_plane, token, certificates.ca_file)) == []
        assert names(grpc_client(tls_plane, token, certificates.ca_pem)) == []
    finally:
        certificates.cert_file.write_bytes(good_cert)
    assert tls_plane.process.poll() is None


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def _broken(case: str, certificates, tmp_path) -> dict:
    """Environment of a data plane given a pair it cannot serve."""
    cert, key = str(certificates.cert_file), str(certificates.key_file)
    if case == "key missing":
        return {"DATAPLANE_TLS_CERT_FILE": cert}
    if case == "no such file":
        return {"DATAPLANE_TLS_CERT_FILE": cert, "DATAPLANE_TLS_KEY_FILE": str(tmp_path / "gone.pem")}
    if case == "not PEM":
        (tmp_path / "cert.der").write_bytes(b"\x30\x82 not a certificate")
        return {"DATAPLANE_TLS_CERT_FILE": str(tmp_path / "cert.der"), "DATAPLANE_TLS_KEY_FILE": key}
    other = make_certificates(tmp_path, HOSTS)  # a key of another certificate
    return {"DATAPLANE_TLS_CERT_FILE": cert, "DATAPLANE_TLS_KEY_FILE": str(other.key_file)}


@pytest.mark.parametrize("case, message", [
    ("key missing", "DATAPLANE_TLS_CERT_FILE and DATAPLANE_TLS_KEY_FILE go together: DATAPLANE_TLS_KEY_FILE is not set."),
    ("no such file", "DATAPLANE_TLS_KEY_FILE: cannot read {tmp_path}/gone.pem: No such file or directory."),
    ("not PEM", "DATAPLANE_TLS_CERT_FILE: {tmp_path}/cert.der holds no PEM certificate."),
    ("mismatched", "DATAPLANE_TLS_KEY_FILE: {tmp_path}/server-key.pem is not the key of the certificate in {cert}."),
])
def test_a_pair_the_front_cannot_serve_stops_its_start_with_a_clear_message(case, message, certificates, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAPLANE_TLS_")}
    env |= _broken(case, certificates, tmp_path) | {"DATAPLANE_PORT": str(free_port()),
                                                   "DATAPLANE_GRPC_PORT": str(free_port())}
    started = subprocess.run([sys.executable, "-m", "dataplane"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
    assert started.returncode == 1
    expected = message.format(tmp_path=tmp_path, cert=certificates.cert_file)
    assert started.stderr.strip().splitlines()[-1] == f"The data plane cannot start: {expected}"


@pytest.fixture
def snippets(tls_plane, token, certificates) -> dict[str, str]:
    """The snippets for a new key of a cluster whose endpoint is https://localhost
    (CLUSTER_ENDPOINT_URL=https://localhost), on this test's TLS front."""
    client = rest_client(tls_plane, token, certificates.ca_file)
    client.create_collection(COLLECTION, vectors_config={"size": 2, "distance": "Dot"})
    client.close()
    rendered = connection_snippets(endpoint_url="https://localhost", rest_port=tls_plane.port,
                                   grpc_port=tls_plane.grpc_port, api_key=token)
    return {snippet.id: snippet.code for snippet in rendered}


@pytest.fixture
def trusting_env(certificates) -> dict:
    """How a user points each runtime at a private CA: curl, httpx (qdrant-client's REST),
    gRPC's C core (qdrant-client's gRPC) and Node read these."""
    ca = str(certificates.ca_file)
    return os.environ | {"CURL_CA_BUNDLE": ca, "SSL_CERT_FILE": ca, "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": ca,
                         "NODE_EXTRA_CA_CERTS": ca}


def test_the_snippets_of_an_https_endpoint_connect_over_tls_as_shown(snippets, trusting_env, tls_plane, tmp_path):
    assert f"curl -X GET 'https://localhost:{tls_plane.port}'" in snippets["curl"]
    version = json.loads(run(["bash", "-c", snippets["curl"]], env=trusting_env))
    assert version["title"] == "qdrant - vector search engine"

    listed = f"collections=[CollectionDescription(name='{COLLECTION}')]"
    assert 'url="https://localhost",' in snippets["python"]
    assert run([sys.executable, "-W", "ignore", "-c", snippets["python"]], env=trusting_env).strip() == listed
    over_grpc = snippets["python"].replace("    # grpc_port=", "    grpc_port=")
    assert run([sys.executable, "-W", "ignore", "-c", over_grpc], env=trusting_env).strip() == listed

    # Rust, Java, C#, Go: TLS on, at the gRPC port; their call made with the JavaScript gRPC client.
    endpoints = {grpc_endpoint(snippet_id, snippets[snippet_id]) for snippet_id in ENDPOINT_PATTERNS}
    assert {(e.host, e.port, e.tls) for e in endpoints} == {("localhost", tls_plane.grpc_port, True)}
    [endpoint] = endpoints
    project = node_project(tmp_path)
    (project / "list.mjs").write_text(LIST_OVER_GRPC)
    printed = run(["node", "list.mjs", endpoint.host, str(endpoint.port), "true"], cwd=project,
                  env=trusting_env | {"QDRANT_API_KEY": endpoint.api_key})
    assert json.loads(printed) == [COLLECTION]


def test_the_typescript_snippet_of_an_https_endpoint_lists_the_collections(snippets, trusting_env, tmp_path):
    project = node_project(tmp_path)
    (project / "main.ts").write_text(snippets["typescript"])
    printed = run(["npx", "tsx", "main.ts"], cwd=project, env=trusting_env)
    # The snippet prints its own error and exits 0 when the call fails: read what it printed.
    assert printed.strip() == f"List of collections: [ {{ name: '{COLLECTION}' }} ]"
