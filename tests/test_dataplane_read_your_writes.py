"""Read-your-writes: once the console has answered a create, every data plane
process admits the key; once it has answered a delete, none does.

The data planes here poll every 30 s, so only the console's handshake
(fronts/changelog.py) can make a key work on its first request. Each trial goes
through the real data plane over a new TCP connection, which any of its
processes may accept.
"""

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from apikeys.models import AdminKey
from fronts import changelog
from fronts.changelog import confirm
from keyset.handshake import REFRESH, ask_all, socket_path
from tests.fixtures.apikeys import admin_create_url, admin_form_data, admin_key_url
from tests.fixtures.dataplane import MANAGE, DataPlaneProcess, free_port, http_get, mint
from tests.test_api_support import api_as, key_body, post_json, url

# A few rounds here; `BENCH_ONLY=ryw make bench` (bench/read_your_writes.py) runs 100.
TRIALS = int(os.environ.get("READ_YOUR_WRITES_TRIALS", "5"))
# Polling only, and slowly: what carries a change here is the handshake (or Redis).
SLOW_POLL = {"DATAPLANE_POLL_SECONDS": "30", "DATAPLANE_RELOAD_SECONDS": "600", "DATAPLANE_LONG_POLL_SECONDS": "0"}


def start_plane(base: DataPlaneProcess, data_dir: Path, **env) -> DataPlaneProcess:
    port = free_port()
    # Redis only when asked for: a plane that inherited REDIS_URL would be
    # woken (and query) whenever its subscription (re)connects.
    inherited = {name: value for name, value in base.env.items() if name != "REDIS_URL"}
    env = inherited | SLOW_POLL | {"DATAPLANE_PORT": str(port), "DATAPLANE_DATA_DIR": str(data_dir)} | env
    plane = DataPlaneProcess(port=port, data_dir=data_dir, env=env)
    plane.start()
    return plane


@pytest.fixture(scope="module", params=["1-process", "4-processes", "1-process-redis", "4-processes-redis"])
def plane(request, dataplane_process, django_db_blocker, tmp_path_factory):
    processes = request.param.split("-")[0]
    extra = {"DATAPLANE_PROCESSES": processes}
    if request.param.endswith("redis"):
        extra["REDIS_URL"] = request.getfixturevalue("redis_url")
    with django_db_blocker.unblock():
        plane = start_plane(dataplane_process, tmp_path_factory.mktemp("dataplane-ryw"), **extra)
    plane.processes = int(processes)
    yield plane
    plane.stop()


@pytest.fixture
def console_broker(plane, settings, monkeypatch):
    """The console publishes on the plane's Redis when the plane has one (the embedded defaults otherwise)."""
    settings.REDIS_URL = plane.env.get("REDIS_URL")
    monkeypatch.setattr(changelog, "_redis", None)


def first_request(plane: DataPlaneProcess, token: str) -> int:
    return http_get(plane.url + "/", {"api-key": token})[0]


def test_a_database_key_works_on_its_first_request_and_is_dead_right_after_delete(
        plane, console_broker, dataplane, cluster, owner, account):
    api = api_as(owner, account)
    applied = sum(s["loads"] + s["applies"] for s in plane.stats())
    wrong = []
    for trial in range(TRIALS):
        response = post_json(api, url("database-api-keys", account), key_body(cluster))
        assert response.status_code == 200 and "Warning" not in response
        body = response.json()["databaseApiKey"]
        if (status := first_request(plane, body["key"])) != 200:
            wrong.append((trial, "after create", status))
        response = api.delete(url("database-api-key", account, database_api_key_id=body["id"]))
        assert response.status_code == 200 and "Warning" not in response
        if (status := first_request(plane, body["key"])) != 401:
            wrong.append((trial, "after delete", status))
    assert wrong == []
    # Every process caught up with every change: all of them confirmed, not just the one that answered.
    stats = plane.stats()
    assert sum(s["loads"] + s["applies"] for s in stats) - applied >= 2 * TRIALS * plane.processes
    # ... by applying the change, not by loading the whole key set.
    assert sum(s["changes"] for s in stats) >= 2 * TRIALS * plane.processes


def test_an_admin_key_works_on_its_first_request_and_is_dead_right_after_delete(
        plane, console_broker, dataplane, legacy_cluster, owner, client_of):
    console = client_of(owner)
    wrong = []
    for trial in range(TRIALS):
        form = admin_form_data()
        page = console.post(admin_create_url(legacy_cluster), form).content.decode()
        assert "data-propagation-warning" not in page
        secret = re.search(r"<code class=\"secret\" data-secret>([^<]+)</code>", page).group(1)
        if (status := first_request(plane, secret)) != 200:
            wrong.append((trial, "after create", status))
        key = AdminKey.objects.get(nonce=form["nonce"])
        response = console.post(admin_key_url(key, "delete"), follow=True)
        assert "It no longer opens" in response.content.decode()
        if (status := first_request(plane, secret)) != 401:
            wrong.append((trial, "after delete", status))
    assert wrong == []


@pytest.fixture
def stopped_plane(dataplane_process, dataplane, django_db_blocker, tmp_path):
    """A data plane process frozen with SIGSTOP: its socket takes the connection, nobody answers."""
    with django_db_blocker.unblock():
        plane = start_plane(dataplane_process, tmp_path / "data")
    os.kill(plane.process.pid, signal.SIGSTOP)
    yield plane
    os.kill(plane.process.pid, signal.SIGCONT)
    plane.stop()


def test_a_process_that_does_not_confirm_delays_the_answer_by_the_bound_only_and_is_reported(
        stopped_plane, settings, cluster, owner, account, caplog):
    settings.DATAPLANE_CONFIRM_SECONDS = 0.5
    api = api_as(owner, account)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="fronts.changelog"):
        response = post_json(api, url("database-api-keys", account), key_body(cluster))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response["Warning"] == '199 - "The change is saved, but may take a moment to reach 1 data plane process."'
    assert set(response.json()) == {"databaseApiKey"}  # the body keeps Qdrant Cloud's shape
    assert f"process(es) {stopped_plane.process.pid} did not confirm within 0.5 s" in caplog.text
    assert elapsed < 0.5 + 2.0  # the bound, and not much more: nothing hangs
    token = response.json()["databaseApiKey"]["key"]

    # Once it runs again it takes the change (the handshake it had queued reloads it).
    os.kill(stopped_plane.process.pid, signal.SIGCONT)
    stopped_plane.wait_until_accepted(token)
    os.kill(stopped_plane.process.pid, signal.SIGSTOP)

    response = api.delete(url("database-api-key", account, database_api_key_id=response.json()["databaseApiKey"]["id"]))
    assert response.status_code == 200
    assert response.json() == {}
    assert response["Warning"].startswith('199 - "The change is saved, but may take a moment')


def test_the_console_pages_say_when_a_process_has_not_confirmed(stopped_plane, settings, legacy_cluster, owner,
                                                               client_of):
    settings.DATAPLANE_CONFIRM_SECONDS = 0.2
    console = client_of(owner)
    form = admin_form_data()
    page = console.post(admin_create_url(legacy_cluster), form).content.decode()
    # The stopped process, and any other that had not confirmed within the bound on a loaded machine.
    assert re.search(r"may take a moment to reach \d+ data plane process(es)?\. Its first requests may be refused\.",
                     page)
    key = AdminKey.objects.get(nonce=form["nonce"])
    page = console.post(admin_key_url(key, "delete"), follow=True).content.decode()
    # The stopped process, and any other that had not confirmed within the bound on a loaded machine.
    assert "Deleted the admin key" in page
    assert re.search(r"may take a moment to reach \d+ data plane process", page)
    assert "It no longer opens" not in page


def test_a_dead_processes_socket_is_skipped_and_a_live_one_that_refuses_is_lagging(tmp_path):
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                            check=True)
    dead_pid = int(exited.stdout)
    sockets = []
    for pid in (dead_pid, os.getpid()):  # bound, never listening: every connection is refused
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(socket_path(tmp_path, pid)))
        sockets.append(sock)
    try:
        outcome = confirm(run_dir=tmp_path, timeout=1)
    finally:
        for sock in sockets:
            sock.close()
    assert (outcome.confirmed, outcome.lagging, outcome.gone) == (0, [str(os.getpid())], [str(dead_pid)])


def test_a_process_killed_with_sigkill_is_skipped_without_waiting(dataplane_process, dataplane, settings, cluster,
                                                                  owner, account, django_db_blocker, tmp_path):
    with django_db_blocker.unblock():
        plane = start_plane(dataplane_process, tmp_path / "data")
    os.kill(plane.process.pid, signal.SIGKILL)
    plane.process.wait()
    assert socket_path(plane.run_dir, plane.process.pid).exists()  # left behind, refusing connections
    settings.DATAPLANE_CONFIRM_SECONDS = 5
    started = time.monotonic()
    response = post_json(api_as(owner, account), url("database-api-keys", account), key_body(cluster))
    assert time.monotonic() - started < 5  # it did not wait for the dead process
    assert response.status_code == 200 and "Warning" not in response
    # The running data plane has it, as always.
    assert first_request(dataplane, response.json()["databaseApiKey"]["key"]) == 200


def test_a_flood_of_unknown_tokens_never_reaches_the_console(dataplane_process, dataplane, cluster, owner,
                                                             django_db_blocker, tmp_path):
    _, token = mint(cluster, MANAGE, by=owner)
    key_id = token.split(".")[1]  # any JWT-shaped string will do below; this one names a live key's cluster
    with django_db_blocker.unblock():
        plane = start_plane(dataplane_process, tmp_path / "data")
    try:
        before = plane.stats()[0]["contract_requests"]
        garbage = [f"not-a-key-{i}" for i in range(500)]
        garbage += [f"eyJhbGciOiJIUzI1NiJ9.{key_id}.forged{i}" for i in range(500)]
        garbage += [token[:-4] + f"{i:04d}" for i in range(500)]  # a live key's token with a wrong signature
        statuses = set()
        with httpx.Client(base_url=plane.url) as client:
            for bad in garbage:
                statuses.add(client.get("/collections", headers={"api-key": bad}).status_code)
            assert statuses <= {401, 403}
            assert plane.stats()[0]["contract_requests"] == before
            assert client.get("/collections", headers={"api-key": token}).status_code == 200
        # The counter does count: one handshake asks the console for changes.
        ask_all(run_dir=plane.run_dir, request=REFRESH, timeout=5)
        assert plane.stats()[0]["contract_requests"] > before
    finally:
        plane.stop()
