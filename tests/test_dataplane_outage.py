"""When the console is unreachable, the front keeps serving the key set it
loaded last, and admits no key it has not seen; back, it catches up."""

from pathlib import Path

import httpx
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test.testcases import LiveServerThread

from tests.fixtures.dataplane import MANAGE, DataPlaneProcess, contract_env, free_port, mint
from tests.fixtures.worker import wait_for


class Console:
    """A console server of this test's own (the live server's kind), to stop and start again."""

    def __init__(self, port: int):
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.thread = None

    def start(self) -> None:
        self.thread = LiveServerThread("127.0.0.1", StaticFilesHandler, port=self.port)
        self.thread.daemon = True
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error:
            raise self.thread.error

    def stop(self) -> None:
        self.thread.terminate()


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
