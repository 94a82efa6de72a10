"""The contract over TLS: the console served by gunicorn on https with a
certificate made at run time, a front on another host (127.0.0.2) given only
KEYSET_URL=https://…, its credential and KEYSET_CA_FILE (and a certificate of
its own, so it serves TLS too). A key made in the console works on its first
request through the official client; a front whose CA file does not trust the
console's certificate loads no key set, admits no key, and says why; a second
front (127.0.0.3) forwards an embedded cluster's storage to its owner over
TLS, verified against the same CA file."""

import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from fronts.changelog import keys_changed
from fronts.models import FrontInstance
from keyset import wire
from runtimes.processes import die_with_parent
from tests.fixtures.dataplane import MANAGE, ROOT, DataPlaneProcess, FrontCredentialForTests, contract_env, free_port, http_get, mint
from tests.fixtures.tls import make_certificates
from tests.fixtures.worker import _database_url, wait_for

CONSOLE_HOST = "127.0.0.1"
FRONT_HOST = "127.0.0.2"
OTHER_HOST = "127.0.0.3"  # a second front's host, for an embedded cluster's storage forwarded over TLS


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """One CA: the console's certificate (server.pem) and the front's (front.pem)."""
    made = make_certificates(tmp_path_factory.mktemp("tls"), [CONSOLE_HOST])
    made.issue(made.ca_file.parent / "front.pem", made.ca_file.parent / "front-key.pem", [FRONT_HOST])
    made.issue(made.ca_file.parent / "other-front.pem", made.ca_file.parent / "other-front-key.pem", [OTHER_HOST])
    return made


@dataclass
class ConsoleServer:
    url: str
    process: subprocess.Popen


@pytest.fixture(scope="module")
def console_over_tls(django_db_setup, django_db_blocker, certificates):
    """The console as deployed (gunicorn, threads), on the test database, serving https only."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "console.wsgi", "--bind", f"{CONSOLE_HOST}:{port}",
         "--workers", "1", "--worker-class", "gthread", "--threads", "8",
         "--certfile", str(certificates.cert_file), "--keyfile", str(certificates.key_file)],
        cwd=ROOT, env=os.environ | {"DATABASE_URL": _database_url()}, start_new_session=True,
        preexec_fn=die_with_parent, stdout=subprocess.DEVNULL,
    )
    console = ConsoleServer(url=f"https://{CONSOLE_HOST}:{port}", process=process)
    trusting = ssl.create_default_context(cafile=certificates.ca_file)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the console exited while starting"
        try:
            if http_get(console.url + wire.SNAPSHOT_PATH, timeout=1, context=trusting)[0] == 401:  # no credential
                break
        except OSError:
            assert time.monotonic() < deadline, "the console did not answer over https within 60 s"
            time.sleep(0.1)
    yield console
    process.terminate()
    process.wait(timeout=15)


def front(console, certificates, tmp_path, ca_file, name, host=FRONT_HOST, certificate="front") -> DataPlaneProcess:
    """A front on `host` with nothing of the console but its https address, a credential and a CA file
    (and a storage port, over TLS too, for the embedded clusters it owns)."""
    credential = FrontCredentialForTests(name=name)
    port = free_port(FRONT_HOST)
    env = contract_env(console, credential) | {
        "KEYSET_CA_FILE": str(ca_file),
        "DATAPLANE_TLS_CERT_FILE": str(certificates.ca_file.parent / f"{certificate}.pem"),
        "DATAPLANE_TLS_KEY_FILE": str(certificates.ca_file.parent / f"{certificate}-key.pem"),
        "DATAPLANE_HOST": host, "DATAPLANE_PORT": str(port), "DATAPLANE_STORAGE_PORT": str(free_port()),
        "DATAPLANE_DATA_DIR": str(tmp_path / name / "data"), "DATAPLANE_RUN_DIR": str(tmp_path / name / "run"),
        "DATAPLANE_POLL_SECONDS": "0.1",
    }
    plane = DataPlaneProcess(port=port, data_dir=tmp_path / name / "data", env=env, host=host,
                             ssl_context=ssl.create_default_context(cafile=certificates.ca_file),
                             log_file=tmp_path / f"{name}.log")
    plane.credential = credential
    plane.start()
    return plane


def official_client(plane, token, ca_file) -> QdrantClient:
    return QdrantClient(url=f"https://{plane.host}", port=plane.port, https=True, api_key=token,
                        verify=ssl.create_default_context(cafile=ca_file), check_compatibility=False, timeout=10)


def test_a_front_on_another_host_serves_a_key_made_a_moment_before_over_tls(
        console_over_tls, certificates, tmp_path, transactional_db, cluster, owner):
    plane = front(console_over_tls, certificates, tmp_path, certificates.ca_file, "front-tls")
    try:
        # It has told the console it is there, so the create below waits for its acknowledgement.
        wait_for(lambda: FrontInstance.objects.filter(credential__name="front-tls").exists(), timeout=10,
                 interval=0.05)
        _, token = mint(cluster, MANAGE, by=owner)
        client = official_client(plane, token, certificates.ca_file)
        try:
            assert client.get_collections().collections == []  # the first request: 200, not 401
        finally:
            client.close()
    finally:
        plane.stop()


def test_a_front_that_does_not_trust_the_consoles_certificate_loads_no_key_and_says_why(
        console_over_tls, certificates, tmp_path, transactional_db, cluster, owner):
    other_ca = make_certificates(tmp_path / "other-ca", [CONSOLE_HOST], ca_name="Another CA").ca_file
    plane = front(console_over_tls, certificates, tmp_path, other_ca, "front-untrusting")
    try:
        _, token = mint(cluster, MANAGE, by=owner)
        tried = plane.stats()[0]["failures"]
        wait_for(lambda: plane.stats()[0]["failures"] >= tried + 2, timeout=5, interval=0.05)  # asked again since
        client = official_client(plane, token, certificates.ca_file)
        try:
            with pytest.raises(UnexpectedResponse) as refused:
                client.get_collections()
        finally:
            client.close()
        assert refused.value.status_code == 401
        # Nothing was sent to a console it could not verify: the console never heard of it.
        assert not FrontInstance.objects.filter(credential__name="front-untrusting").exists()
    finally:
        plane.stop()
    said = (f"cannot load the key set from the console (the certificate of the console at {console_over_tls.url} "
            f"does not verify against KEYSET_CA_FILE ({other_ca}): unable to get local issuer certificate); "
            "admitting no key until one loads")
    assert (tmp_path / "front-untrusting.log").read_text().count(said) == 1  # said once, not at every poll


def test_a_front_forwards_an_embedded_clusters_storage_to_its_owner_over_tls(
        console_over_tls, certificates, tmp_path, transactional_db, cluster, owner):
    planes = [front(console_over_tls, certificates, tmp_path, certificates.ca_file, "front-owner"),
              front(console_over_tls, certificates, tmp_path, certificates.ca_file, "front-other", host=OTHER_HOST,
                    certificate="other-front")]
    try:
        wait_for(lambda: FrontInstance.objects.filter(credential__name__in=["front-owner", "front-other"]).count() == 2,
                 timeout=10, interval=0.05)
        keys_changed()  # each knows the other's peer token (their rows were made without the service)
        _, token = mint(cluster, MANAGE, by=owner)
        owning, other = (official_client(plane, token, certificates.ca_file) for plane in planes)
        try:
            owning.create_collection("books", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
            other.upsert("books", points=[models.PointStruct(id=1, vector=[1.0, 0.5])], wait=True)
            assert owning.count("books").count == 1
        finally:
            owning.close()
            other.close()
        assert [stats["owns"] for plane in planes for stats in plane.stats()] == [[str(cluster.id)], []]
    finally:
        for plane in planes:
            plane.stop()
