"""GET changes?wait= (a long-poll, keyset/wire.py): the console answers a
front as soon as there is a change to tell, holds it otherwise (noting its
contact, so key writes keep waiting for it), lets a revocation through at
once, and never holds more long-polls than KEYSET_LONG_POLLS per process."""

import io
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection

from fronts.changelog import keys_changed
from fronts.credentials import front_credential_revoke
from fronts.models import FrontInstance, KeySetChange
from fronts.rows import node_rows
from keyset import wire
from tests.fixtures.apikeys import make_key
from tests.fixtures.dataplane import MANAGE, DataPlaneProcess, contract_env, free_port, http_get, mint
from tests.fixtures.dataplane import FrontCredentialForTests


@pytest.fixture
def credential(transactional_db, settings):
    settings.DATAPLANE_CONFIRM_SECONDS = 0
    out = io.StringIO()
    call_command("create_front_credential", "edge-1", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def wait_for_changes(client, credential, after, seconds, nodes=None):
    headers = {"Authorization": f"Bearer {credential}", wire.INSTANCE_HEADER: "edge-host:/run/1.keyset"}
    params = {"after": str(after), "wait": str(seconds), "nodes": nodes or wire.nodes_digest(node_rows())}
    started = time.monotonic()
    response = client.get(wire.CHANGES_PATH, params, headers=headers)
    return response, time.monotonic() - started


def later(seconds, do):
    def run():
        time.sleep(seconds)
        try:
            do()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def newest() -> int:
    return KeySetChange.objects.order_by("-id").values_list("id", flat=True).first()


def test_it_answers_as_soon_as_a_key_changes(client, credential, cluster, owner):
    keys_changed(cluster=cluster)
    after = newest()
    writer = later(0.5, lambda: make_key(cluster, by=owner))
    response, took = wait_for_changes(client, credential, after, 20)
    writer.join()
    assert response.status_code == 200
    assert 0.4 < took < 5
    assert [change[0] for change in response.json()["changes"]][-1] > after
    assert len(response.json()["database_keys"]) == 1


def test_with_nothing_to_tell_it_holds_the_front_and_keeps_its_contact_fresh(client, credential, cluster):
    keys_changed(cluster=cluster)
    after = newest()
    response, took = wait_for_changes(client, credential, after, 5)
    assert response.status_code == 200 and took >= 5
    assert [change[0] for change in response.json()["changes"]] == [after]
    process = FrontInstance.objects.get()
    assert time.time() - process.last_contact_at.timestamp() < 3  # noted while it waited, so it is waited for


def test_nodes_other_than_the_front_s_are_told_at_once(client, credential, cluster):
    keys_changed(cluster=cluster)
    response, took = wait_for_changes(client, credential, newest(), 20, nodes="what-the-front-holds")
    assert response.status_code == 200 and took < 3


def test_a_revocation_ends_the_wait_with_401(client, credential, cluster):
    keys_changed(cluster=cluster)
    revoker = later(0.5, lambda: front_credential_revoke(name="edge-1"))
    response, took = wait_for_changes(client, credential, newest(), 20)
    revoker.join()
    assert response.status_code == 401 and took < 5


def test_past_the_limit_it_answers_at_once(client, credential, cluster, settings):
    settings.KEYSET_LONG_POLLS = 0
    keys_changed(cluster=cluster)
    response, took = wait_for_changes(client, credential, newest(), 20)
    assert response.status_code == 200 and took < 3


@pytest.mark.parametrize("wait", ["-1", "61", "nan", "soon"])
def test_a_wait_that_is_no_number_of_seconds_is_400(client, credential, wait):
    headers = {"Authorization": f"Bearer {credential}"}
    response = client.get(wire.CHANGES_PATH, {"after": "0", "wait": wait}, headers=headers)
    assert response.status_code == 400 and "wait" in response.json()["error"]


def test_a_front_on_another_host_learns_of_a_key_at_once_without_the_handshake(
        live_server, transactional_db, settings, cluster, owner, tmp_path):
    """Polling every 30 s, not asked over any socket, not waited for: only the long-poll can carry the key."""
    settings.DATAPLANE_CONFIRM_SECONDS = 0
    front_credential = FrontCredentialForTests(name="far-away")
    port = free_port("127.0.0.2")
    env = contract_env(live_server, front_credential) | {
        "DATAPLANE_HOST": "127.0.0.2", "DATAPLANE_PORT": str(port), "DATAPLANE_POLL_SECONDS": "30",
        "DATAPLANE_RELOAD_SECONDS": "600", "DATAPLANE_LONG_POLL_SECONDS": "25",
        "DATAPLANE_DATA_DIR": str(tmp_path / "data"), "DATAPLANE_RUN_DIR": str(tmp_path / "run"),
    }
    front = DataPlaneProcess(port=port, data_dir=tmp_path / "data", env=env, host="127.0.0.2")
    front.start()
    try:
        time.sleep(1)  # its long-poll is held
        _, token = mint(cluster, MANAGE, by=owner)
        started = time.monotonic()
        while http_get(front.url + "/", {"api-key": token})[0] != 200:
            assert time.monotonic() - started < 5, "the front did not learn of the key"
            time.sleep(0.05)
    finally:
        front.stop()
