"""A node step of an embedded cluster's rolling restart restarts the cluster's
storage in the running data plane (clusters/embedded.py): the process that
holds it open closes its shards and loads them back from disk, and the step
ends when the data plane says so, not after a set time."""

import os
import socket
import time

import pytest
from qdrant_client import QdrantClient, models

from clusters.embedded import storage_restart
from keyset.handshake import socket_path
from tests.fixtures.dataplane import MANAGE, mint

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


def restarts(dataplane) -> int:
    return sum(stats["restarts"] for stats in dataplane.stats())


def test_a_restart_reloads_the_storage_and_keeps_the_data(dataplane, cluster):
    _, token = mint(cluster, MANAGE)
    client = QdrantClient(url="http://127.0.0.1", port=dataplane.port, api_key=token, check_compatibility=False)
    client.create_collection("kept", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert("kept", points=[models.PointStruct(id=1, vector=[1.0, 0.0])], wait=True)
    before = restarts(dataplane)

    storage_restart(cluster.id, renew=lambda: None)

    assert restarts(dataplane) == before + 1
    # Served again at once, from what the shards wrote to disk.
    assert client.count("kept", exact=True).count == 1
    assert client.retrieve("kept", ids=[1])[0].id == 1


def test_a_cluster_no_process_holds_open_restarts_at_once(dataplane, cluster, other_cluster):
    before = restarts(dataplane)
    started = time.monotonic()
    storage_restart(other_cluster.id, renew=lambda: None)
    assert time.monotonic() - started < 2 and restarts(dataplane) == before


def test_a_data_plane_that_does_not_answer_fails_the_step(cluster, settings, tmp_path):
    # A process that accepts the question and never answers (hung, or stopped
    # by a debugger): the step says which one, once its time is up.
    settings.DATAPLANE_RUN_DIR = tmp_path
    settings.CLUSTER_NODE_TIMEOUT_SECONDS = 0.1
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(socket_path(tmp_path, os.getpid())))
    silent.listen()
    try:
        with pytest.raises(TimeoutError, match=f"process {os.getpid()}.* did not report the cluster restarted"):
            storage_restart(cluster.id, renew=lambda: None)
    finally:
        silent.close()
