"""The generic REST pass-through (dataplane/proxy.py) in front of real Qdrant
nodes: any route, the credential the caller chose and no other, hop-by-hop
headers dropped, and a failed connection retried on another node."""

import asyncio
import concurrent.futures
import dataclasses
import gzip
import http.server
import json
import os
import signal
import threading

import httpx
import jwt

from dataplane import forwarding
from dataplane.forwarding import http_request_headers as request_headers
from dataplane.forwarding import http_response_headers as response_headers
from dataplane.proxy import NodeProxy, NoNodeAnswered
from runtimes.base import Node, wait_healthy, wait_until
from tests.fixtures.qdrant import free_port_url, master, new_key, url


def run(coroutine):
    # In a thread of its own: after the browser tests, Playwright's sync API
    # leaves an event loop running in the main thread, where asyncio.run refuses.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def forward(proxy: NodeProxy, nodes, method, path, *, body=None, credential=None, headers=(), **kwargs):
    raw = b"" if body is None else json.dumps(body).encode()
    sent = [(b"content-type", b"application/json"), *headers]
    response = await proxy.forward(nodes=nodes, method=method, path=path, headers=sent, body=raw,
                                   credential=credential, **kwargs)
    return response.status, dict(response.headers), await response.read()


def call(nodes, method, path, **kwargs):
    async def go():
        proxy = NodeProxy()
        try:
            return await forward(proxy, nodes, method, path, **kwargs)
        finally:
            await proxy.aclose()
    return run(go())


def test_get_root_answers_the_nodes_own_version(qdrant, qdrant_node):
    status, _, body = call([qdrant.address(qdrant_node).http_url], "GET", "/")
    assert status == 200
    assert json.loads(body)["version"] == "1.16.3"


def test_only_the_credential_the_caller_chose_reaches_the_node(qdrant, qdrant_node):
    nodes = [qdrant.address(qdrant_node).http_url]
    key = qdrant_node.cluster.master_key
    client_sent = [(b"api-key", key.encode()), (b"authorization", f"Bearer {key}".encode()), (b"cookie", b"k=1")]

    status, _, body = call(nodes, "GET", "/collections", headers=client_sent)
    assert (status, body) == (401, b"Must provide an API key or an Authorization bearer token")

    assert call(nodes, "GET", "/collections", credential=("api-key", key))[0] == 200
    token = jwt.encode({"access": "r"}, key, algorithm="HS256")
    assert call(nodes, "GET", "/collections", credential=("authorization", f"Bearer {token}"))[0] == 200
    forged = jwt.encode({"access": "m"}, new_key(), algorithm="HS256")
    assert call(nodes, "GET", "/collections", credential=("api-key", forged))[:3:2] == (403, b"InvalidSignature")


def test_routes_the_embedded_engine_lacks_pass_through(qdrant, qdrant_node):
    nodes = [qdrant.address(qdrant_node).http_url]
    manage = ("api-key", qdrant_node.cluster.master_key)
    assert call(nodes, "PUT", "/collections/books", credential=manage,
                body={"vectors": {"size": 2, "distance": "Dot"}})[0] == 200
    points = {"points": [{"id": i, "vector": [1.0, float(i)], "payload": {"genre": "sf"}} for i in range(5)]}
    assert call(nodes, "PUT", "/collections/books/points", query=b"wait=true", credential=manage, body=points)[0] == 200

    index = call(nodes, "PUT", "/collections/books/index", query=b"wait=true", credential=manage,
                 body={"field_name": "genre", "field_schema": "keyword"})
    assert index[0] == 200, index
    patched = call(nodes, "PATCH", "/collections/books", credential=manage, body={"optimizers_config": {"indexing_threshold": 1000}})
    assert patched[0] == 200, patched
    recommended = call(nodes, "POST", "/collections/books/points/recommend", credential=manage,
                       body={"positive": [1], "limit": 3}, idempotent=True)
    assert recommended[0] == 200 and len(json.loads(recommended[2])["result"]) == 3
    assert call(nodes, "GET", "/collections/books/snapshots", credential=manage)[0] == 200
    info = json.loads(call(nodes, "GET", "/collections/books", credential=manage)[2])["result"]
    assert "genre" in info["payload_schema"]
    assert info["config"]["optimizer_config"]["indexing_threshold"] == 1000


def test_a_compressed_body_is_relayed_as_the_node_sent_it(qdrant, qdrant_node):
    nodes = [qdrant.address(qdrant_node).http_url]
    status, headers, body = call(nodes, "GET", "/collections", headers=[(b"accept-encoding", b"gzip")],
                                 credential=("api-key", qdrant_node.cluster.master_key))
    assert status == 200
    assert headers.get(b"content-encoding") == b"gzip"
    assert "collections" in json.loads(gzip.decompress(body))["result"]


def test_hop_by_hop_headers_are_not_forwarded_either_way():
    sent = [(b"connection", b"keep-alive, x-secret-hop"), (b"x-secret-hop", b"1"), (b"keep-alive", b"timeout=5"),
            (b"te", b"trailers"), (b"transfer-encoding", b"chunked"), (b"upgrade", b"h2c"),
            (b"proxy-authorization", b"Basic eA=="), (b"host", b"front"), (b"content-length", b"2"),
            (b"content-type", b"application/json"), (b"accept", b"*/*")]
    assert request_headers(sent, ("api-key", "k")) == [
        (b"content-type", b"application/json"), (b"accept", b"*/*"), (b"api-key", b"k"),
    ]
    received = [(b"connection", b"close"), (b"transfer-encoding", b"chunked"), (b"content-type", b"text/plain")]
    assert response_headers(received) == [(b"content-type", b"text/plain")]


def test_a_refused_connection_is_retried_on_the_next_node(qdrant, qdrant_node):
    nodes = [free_port_url(), qdrant.address(qdrant_node).http_url]

    async def go():
        proxy = NodeProxy()
        try:
            # Each turn starts at the next node: both orders must succeed.
            return [await forward(proxy, nodes, "POST", "/collections/nothing/points/delete", body={"points": [1]},
                                  credential=("api-key", qdrant_node.cluster.master_key)) for _ in range(2)]
        finally:
            await proxy.aclose()

    # A POST that is not idempotent: retried anyway, since it never reached a node.
    assert [status for status, _, _ in run(go())] == [404, 404]


def test_no_reachable_node_is_an_error_naming_each_node():
    nodes = [free_port_url(), free_port_url()]
    try:
        call(nodes, "GET", "/")
    except NoNodeAnswered as error:
        assert [node for node, _ in error.errors] == nodes or [node for node, _ in error.errors] == nodes[::-1]
    else:
        raise AssertionError("expected NoNodeAnswered")


class _FailsFirst(http.server.BaseHTTPRequestHandler):
    """A node that answers its first request with a 500 and every later one
    with a 200, as a node does while a peer it routes to has just died."""

    def _answer(self):
        self.server.seen += 1
        status = 500 if self.server.seen == 1 else 200
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def test_an_idempotent_request_every_node_failed_gets_another_round_after_a_pause():
    for method, path, expected in (("GET", "/collections/books", [200, 2]),
                                   ("POST", "/collections/books/points/count", [200, 2]),
                                   ("POST", "/collections/books/snapshots", [500, 1])):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FailsFirst)
        server.seen = 0
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            status, _, _ = call([f"http://127.0.0.1:{server.server_port}"], method, path,
                                idempotent=forwarding.rest_idempotent(method, path.strip("/").split("/")))
            assert [status, server.seen] == expected, (method, path)
        finally:
            server.shutdown()
            server.server_close()


def test_reads_through_the_proxy_survive_kill_9_of_a_node(qdrant, qdrant_trio):
    first = qdrant_trio[0]
    manage = ("api-key", first.cluster.master_key)
    direct = url(qdrant, first, "/collections/books")
    httpx.put(direct, headers=master(first), json={
        "vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3, "replication_factor": 2,
    }).raise_for_status()
    points = {"points": [{"id": i, "vector": [1.0, float(i)]} for i in range(30)]}
    httpx.put(direct + "/points?wait=true", headers=master(first), json=points).raise_for_status()
    nodes = [qdrant.address(node).http_url for node in qdrant_trio]
    victim = qdrant_trio[1]
    victim_pid = qdrant.pid(victim)
    killed = threading.Event()
    results = []
    failovers = []

    async def reader():
        proxy = NodeProxy()
        try:
            while len(results) < 400:
                status, _, body = await forward(proxy, nodes, "POST", "/collections/books/points/count",
                                                body={"exact": True}, credential=manage, idempotent=True)
                results.append((status, json.loads(body)["result"]["count"] if status == 200 else body))
                if len(results) == 100:
                    os.kill(victim_pid, signal.SIGKILL)
                    killed.set()
        finally:
            failovers.append(proxy.failovers)
            await proxy.aclose()

    run(reader())
    assert killed.is_set()
    assert failovers[0] > 0  # requests did meet the dead node, and went on to another
    wait_until(lambda: not qdrant.is_running(victim), timeout=5, what="the node to be gone")
    failed = [result for result in results if result != (200, 30)]
    assert failed == []


def test_a_rolling_restart_behind_the_proxy_loses_no_read_and_no_idempotent_write(qdrant, qdrant_trio):
    """As the front and the job machine will do it: each node in turn, once
    the cluster is settled, leaves the ready list, its pooled connections are
    dropped, it restarts (here with jwt_rbac turned on) and returns when healthy."""
    first = qdrant_trio[0]
    cluster = first.cluster
    manage = ("api-key", cluster.master_key)
    direct = url(qdrant, first, "/collections/books")
    httpx.put(direct, headers=master(first), json={
        "vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3, "replication_factor": 2,
    }).raise_for_status()
    points = {"points": [{"id": i, "vector": [1.0, float(i)]} for i in range(30)]}
    httpx.put(direct + "/points?wait=true", headers=master(first), json=points).raise_for_status()
    ready = [qdrant.address(node).http_url for node in qdrant_trio]
    done = threading.Event()
    loop_and_proxy = []
    reads, writes = [], []

    def client_loop():
        async def go():
            proxy = NodeProxy()
            loop_and_proxy.append((asyncio.get_running_loop(), proxy))
            i = 0
            while not done.is_set():
                i += 1
                reads.append(await forward(proxy, list(ready), "POST", "/collections/books/points/count",
                                           body={"exact": True}, credential=manage, idempotent=True))
                upsert = {"points": [{"id": i % 30, "vector": [1.0, float(i % 30)]}]}
                writes.append(await forward(proxy, list(ready), "PUT", "/collections/books/points",
                                            query=b"wait=true", body=upsert, credential=manage))
            await proxy.aclose()
        asyncio.run(go())

    # The nodes are restarted from this (the main) thread: PR_SET_PDEATHSIG
    # would stop a node whose starting thread ends.
    client = threading.Thread(target=client_loop)
    client.start()
    try:
        wait_until(lambda: len(reads) > 20, timeout=30, what="the client to run")
        enabled = dataclasses.replace(cluster, jwt_rbac=True)
        pids = []
        for index in range(cluster.size):
            node = Node(enabled, index)
            wait_until(lambda: qdrant.settled(enabled), timeout=120, interval=0.2, what="the cluster to settle")
            address = qdrant.address(node).http_url
            ready.remove(address)
            loop, proxy = loop_and_proxy[0]
            asyncio.run_coroutine_threadsafe(proxy.forget(address), loop).result(timeout=10)
            old_pid = qdrant.pid(node)
            qdrant.restart(node)
            wait_healthy(qdrant, node, timeout=120)
            pids.append((old_pid, qdrant.pid(node)))
            ready.append(address)
        wait_until(lambda: len(reads) > len(pids) * 20, timeout=30, what="more reads")
    finally:
        done.set()
        client.join(timeout=120)

    assert all(old != new for old, new in pids)
    token = jwt.encode({"access": "r"}, cluster.master_key, algorithm="HS256")
    assert all(httpx.get(address + "/collections", headers={"api-key": token}).status_code == 200 for address in ready)
    failed_reads = [(status, body[:200]) for status, _, body in reads if status != 200 or json.loads(body)["result"]["count"] != 30]
    failed_writes = [(status, body[:200]) for status, _, body in writes if status != 200]
    assert (failed_reads, failed_writes) == ([], [])
    print(f"rolling restart: {len(reads)} reads, {len(writes)} writes, 0 failed")
