"""With REDIS_URL set, a key change reaches the data plane through Redis:
polling is slowed to 30 s here, so only the published message can be in time."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from apikeys.services import database_key_delete
from tests.fixtures.dataplane import MANAGE, DataPlaneProcess, free_port, mint


@pytest.fixture(scope="module")
def redis_url():
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait()


@pytest.fixture(scope="module")
def redis_dataplane(redis_url, dataplane_process, django_db_blocker, tmp_path_factory):
    port = free_port()
    env = dataplane_process.env | {
        "REDIS_URL": redis_url,
        "DATAPLANE_PORT": str(port),
        "DATAPLANE_POLL_SECONDS": "30",
        "DATAPLANE_DATA_DIR": str(tmp_path_factory.mktemp("dataplane-redis")),
    }
    plane = DataPlaneProcess(port=port, data_dir=Path(env["DATAPLANE_DATA_DIR"]), env=env)
    with django_db_blocker.unblock():
        plane.start()
    yield plane
    plane.stop()


@pytest.fixture
def publishing(redis_url, settings, monkeypatch):
    """The console side publishes on this Redis."""
    from dataplane import notify

    settings.REDIS_URL = redis_url
    monkeypatch.setattr(notify, "_redis", None)


def test_a_new_and_a_deleted_key_take_effect_within_a_second_through_redis(
        redis_dataplane, publishing, dataplane, cluster, owner):
    key, token = mint(cluster, MANAGE, by=owner)
    assert redis_dataplane.wait_until_accepted(token, timeout=1.0) < 1.0
    database_key_delete(key=key, by=owner)
    _, status = redis_dataplane.wait_until_refused(token, timeout=1.0)
    assert status == 401
