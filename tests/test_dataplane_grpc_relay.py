"""The gRPC front's call to a node (dataplane/grpcfront.py), made on grpcio's
Cython layer, against a stand-in node in this process whose answers the test
holds: the node's refusal reaches the client with its details and trailing
metadata, a client's cancellation reaches the node, and a call in flight when
its node leaves the ready list still gets the node's answer before the front
closes the channel."""

import asyncio
import concurrent.futures
import hmac
import secrets
import socket
from hashlib import sha256

import grpc
import grpc.aio
from django.conf import settings

from dataplane.grpcfront import GrpcFront
from dataplane.keystore import ClusterEntry, KeyEntry, KeySet, Nodes
from dataplane.pipeline import Pipeline

METHOD = "/qdrant.Points/Count"


def run(coroutine):
    # In a thread of its own: after the browser tests, Playwright's sync API
    # leaves an event loop running in the main thread, where asyncio.run refuses.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Node:
    """A gRPC server standing in for a Qdrant node: answers every method with
    the request echoed, refuses, or holds the call until released."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.server = grpc.aio.server()
        node = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details):
                return grpc.unary_unary_rpc_method_handler(node.answer)

        self.server.add_generic_rpc_handlers([Handler()])
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def answer(self, request: bytes, context) -> bytes:
        self.started.set()
        if self.mode == "refuse":
            context.set_trailing_metadata((("x-node-reason", "read only"),))
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "the node says no")
        if self.mode == "hold":
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return b"node:" + request


async def front_before(node: Node) -> tuple[GrpcFront, str]:
    """A front whose key set has one `qdrant` cluster on `node` and an admin key for it."""
    token = secrets.token_urlsafe(32)
    pepper_id, pepper = next(iter(settings.API_KEY_PEPPERS.items()))
    digest = hmac.new(pepper.encode(), token.encode(), sha256).hexdigest()
    key_set = KeySet(
        generation=(1, None), database_keys={},
        clusters={"c1": ClusterEntry("c1", "1.16.3", False, b"master", "qdrant")},
        admin_keys={(int(pepper_id), digest): KeyEntry("admin", "c1", "admin", None)},
        peppers={int(pepper_id): pepper.encode()},
        nodes={"c1": Nodes(("http://127.0.0.1:1",), (f"127.0.0.1:{node.port}",), 1)},
    )
    store = type("Store", (), {"current": key_set})()
    front = GrpcFront(pipeline=Pipeline(keystore=store, engine=None, last_used=None), host="127.0.0.1",
                      port=free_port())
    await node.server.start()
    await front.start()
    return front, token


async def through_front(mode: str, scenario):
    node = Node(mode)
    front, token = await front_before(node)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{front.port}") as channel:
            call = channel.unary_unary(METHOD)(b"count me", metadata=(("api-key", token),), timeout=10)
            return await scenario(node, front, call)
    finally:
        await front.stop()
        await node.server.stop(None)


def test_a_nodes_refusal_reaches_the_client_with_its_details_and_trailing_metadata():
    async def scenario(node, front, call):
        try:
            await call
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details(), dict(error.trailing_metadata())
        return "answered"

    code, details, trailing = run(through_front("refuse", scenario))
    assert (code, details) == (grpc.StatusCode.PERMISSION_DENIED, "the node says no")
    assert trailing["x-node-reason"] == "read only"


def test_a_clients_cancellation_reaches_the_node():
    async def scenario(node, front, call):
        await asyncio.wait_for(node.started.wait(), 5)
        call.cancel()
        await asyncio.wait_for(node.cancelled.wait(), 5)  # else TimeoutError: the node still holds it
        return call.cancelled()

    assert run(through_front("hold", scenario)) is True


def test_a_call_in_flight_when_its_node_leaves_the_ready_list_gets_the_nodes_answer():
    async def scenario(node, front, call):
        await asyncio.wait_for(node.started.wait(), 5)
        front.keep_only(set())  # the node left its cluster's ready list
        assert front.channel_targets == []
        await asyncio.sleep(0.2)
        node.release.set()
        reply = await call
        await asyncio.wait_for(asyncio.gather(*front._closing), 5)  # then the channel is closed
        return reply, node.cancelled.is_set()

    assert run(through_front("hold", scenario)) == (b"node:count me", False)
