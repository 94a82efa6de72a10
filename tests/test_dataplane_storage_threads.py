"""Embedded storage runs off the event loop (issue 20): one cluster's large
upsert does not hold up another cluster's reads on the same data plane
process. (Before, the upsert's JSON and its qdrant-edge call ran on the event
loop, and every other request of the process waited for them.)"""

import http.client
import json
import random
import threading
import time

import pytest
from qdrant_client import QdrantClient, models

from tests.conftest import make_cluster
from tests.fixtures.dataplane import MANAGE, mint

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

POINTS, DIMENSION = 5000, 128


def test_a_large_upsert_on_one_cluster_does_not_hold_up_another_clusters_reads(dataplane, owner, account):
    busy, quiet = make_cluster(account, "busy", number_of_nodes=1), make_cluster(account, "quiet", number_of_nodes=1)
    _, busy_token = mint(busy, MANAGE, by=owner)
    _, quiet_token = mint(quiet, MANAGE, by=owner)
    for token, size in ((busy_token, DIMENSION), (quiet_token, 4)):
        client = QdrantClient(url="http://127.0.0.1", port=dataplane.port, api_key=token, timeout=30)
        client.create_collection("items", vectors_config=models.VectorParams(size=size,
                                                                             distance=models.Distance.COSINE))
        client.upsert("items", [models.PointStruct(id=i, vector=[0.1] * (size - 1) + [i]) for i in range(50)])
        client.close()
    rng = random.Random(1)
    upsert = json.dumps({"points": [{"id": i, "vector": [rng.random() for _ in range(DIMENSION)]}
                                    for i in range(POINTS)]}).encode()
    count = json.dumps({"exact": True}).encode()
    upserting = {}

    def upsert_into_busy():
        connection = http.client.HTTPConnection("127.0.0.1", dataplane.port, timeout=120)
        upserting["started"] = time.perf_counter()
        connection.request("PUT", "/collections/items/points?wait=true", upsert,
                           {"api-key": busy_token, "content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        upserting["status"], upserting["ended"] = response.status, time.perf_counter()
        connection.close()

    reader = http.client.HTTPConnection("127.0.0.1", dataplane.port, timeout=120)
    latencies = []
    writer = threading.Thread(target=upsert_into_busy)
    writer.start()
    while writer.is_alive():
        sent = time.perf_counter()
        reader.request("POST", "/collections/items/points/count", count,
                       {"api-key": quiet_token, "content-type": "application/json"})
        response = reader.getresponse()
        assert response.status == 200 and json.loads(response.read())["result"] == {"count": 50}
        if "ended" not in upserting or sent < upserting["ended"]:
            latencies.append(time.perf_counter() - sent)
    writer.join()
    reader.close()

    assert upserting["status"] == 200
    took = upserting["ended"] - upserting["started"]
    # Relative, for a loaded machine: the quiet cluster's slowest read waited
    # for a small part of the upsert, not for the whole of it.
    assert len(latencies) >= 3, (latencies, took)
    assert max(latencies) < took / 3, (f"slowest count {max(latencies) * 1e3:.0f} ms during an upsert of "
                                       f"{took * 1e3:.0f} ms", sorted(latencies)[-5:])
