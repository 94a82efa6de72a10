"""When the console is unreachable, the front keeps serving the key set it
loaded last, and admits no key it has not seen; back, it catches up."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from keyset.wire import SNAPSHOT_PATH
from runtimes.processes import die_with_parent
from tests.fixtures.dataplane import MANAGE, ROOT, DataPlaneProcess, contract_env, free_port, http_get, mint
from tests.fixtures.worker import _database_url, wait_for


class Console:
    """A console web server process of this test's own on the test database, to stop and start again."""

    def __init__(self, port: int):
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.process = None

    def start(self) -> None:
        env = os.environ | {"DATABASE_URL": _database_url()}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        # Up when the contract answers (401: this probe has no credential).
        wait_for(lambda: self._up() and http_get(self.url + SNAPSHOT_PATH, timeout=2)[0] == 401, timeout=60)

    def _up(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def test_it_keeps_serving_the_last_key_set_while_the_console_is_down(
        dataplane, front_credential, cluster, owner, tmp_path, settings):
    settings.DATAPLANE_CONFIRM_SECONDS = 0  # nothing of this test's front is waited for
    _, known = mint(cluster, MANAGE, by=owner)
    console = Console(free_port())
    console.start()
    port = free_port()
    env = contract_env(console, front_credential) | {
        "DATAPLANE_PORT": str(port), "DATAPLANE_GRPC_PORT": str(free_port()),
        "DATAPLANE_DATA_DIR": str(tmp_path / "data"), "DATAPLANE_RUN_DIR": str(tmp_path / "run"),
        "DATAPLANE_POLL_SECONDS": "0.1"}
    plane = DataPlaneProcess(port=port, data_dir=Path(env["DATAPLANE_DATA_DIR"]), env=env)
    plane.start()
    try:
        plane.wait_until_accepted(known)
        httpx.put(f"{plane.url}/collections/books", headers={"api-key": known},
                  json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
        console.stop()
        _, unseen = mint(cluster, MANAGE, by=owner)
        wait_for(lambda: plane.stats()[0]["failures"] >= 2, timeout=5)  # it cannot reach the console now
        response = httpx.get(f"{plane.url}/collections/books/exists", headers={"api-key": known})
        assert response.json()["result"] == {"exists": True}
        response = httpx.get(f"{plane.url}/collections", headers={"api-key": unseen})
        assert (response.status_code, response.text) == (401, "Invalid API key or JWT")
        assert plane.process.poll() is None

        console.start()  # back on the same address: the front catches up
        plane.wait_until_accepted(unseen)
    finally:
        plane.stop()
        console.stop()
