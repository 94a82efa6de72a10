"""Several data plane processes on one port: every one sees every key, and a
cluster's collections are served by one of them, which the others forward to."""

import time
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from tests.fixtures.dataplane import MANAGE, DataPlaneProcess, free_port, mint

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


@pytest.fixture(scope="module")
def two_processes(dataplane_process, django_db_blocker, tmp_path_factory):
    port = free_port()
    env = dataplane_process.env | {
        "DATAPLANE_PORT": str(port),
        "DATAPLANE_PROCESSES": "2",
        "DATAPLANE_DATA_DIR": str(tmp_path_factory.mktemp("dataplane-two")),
    }
    plane = DataPlaneProcess(port=port, data_dir=Path(env["DATAPLANE_DATA_DIR"]), env=env)
    with django_db_blocker.unblock():
        plane.start()
    yield plane
    plane.stop()


def test_writes_through_any_process_are_read_through_any_other(two_processes, dataplane, cluster, owner):
    _, token = mint(cluster, MANAGE, by=owner)
    two_processes.wait_until_accepted(token)
    time.sleep(0.3)  # one process accepted it; each polls every 0.1 s, so now all have
    # New connections each time, so the kernel spreads them over both processes.
    for i in range(20):
        client = QdrantClient(url="http://127.0.0.1", port=two_processes.port, api_key=token,
                              check_compatibility=False)
        if i == 0:
            client.create_collection("shared", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
        client.upsert("shared", [models.PointStruct(id=i, vector=[1.0, float(i)])])
        assert client.count("shared").count == i + 1
        client.close()
    # Two processes answered (each listens for forwarded operations too).
    assert len(list((two_processes.data_dir / "run").glob("*.sock"))) == 2
