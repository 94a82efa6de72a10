"""Every cluster's gRPC endpoint (DATAPLANE_GRPC_PORT, 6334): the front on gRPC.

One generic handler serves every method, with no per-method code: gRPC's
side of the request pipeline (dataplane/pipeline.py), which authenticates
from the metadata exactly as REST does from the headers (`api-key`, else
`authorization: Bearer …`), then for a `qdrant` cluster forwards the raw
request bytes to one of its ready nodes' gRPC port, under the forwarding
policy (dataplane/forwarding.py), and relays the raw answer, or the node's
status and details. The node applies Qdrant's own table of access.

Refusals are Qdrant's (spec/qdrant-auth.md, gRPC): a REST 401 is
UNAUTHENTICATED, a 403 PERMISSION_DENIED, with the REST text as details.
`/qdrant.Qdrant/HealthCheck` and `/grpc.health.v1.Health/Check` are open.
Every Qdrant method is unary (qdrant_client/grpc/*_pb2_grpc.py), so only
unary calls are carried. A connected cluster that serves TLS is reached
over a secure channel verified against its CA (the key set's
`ca_certificate`; none: the system's roots). An embedded cluster's calls
are served by dataplane.grpcembedded on the same table of access
(dataplane/routes.py) and shards as REST.

The server runs on the event loop of each data plane process, beside
uvicorn, sharing that process's key set (so the console's read-your-writes
handshake covers gRPC too). With DATAPLANE_PROCESSES > 1 each process binds
the port with SO_REUSEPORT and the kernel spreads connections across them,
which is also how uvicorn's workers share the REST port's load; one separate
gRPC process would need a key set and a handshake socket of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2
from qdrant_client import grpc as pb

from dataplane import auth, forwarding, grpcembedded, routes, tls
from dataplane.pipeline import TITLE, Pipeline, Request, commit_of

logger = logging.getLogger(__name__)

HEALTH_CHECK = "/qdrant.Qdrant/HealthCheck"
GRPC_HEALTH = "/grpc.health.v1.Health/Check"
SERVING = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING).SerializeToString()

_STATUS = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}
# Codes a call may end with though no node answered it (the forwarded-requests metric leaves them out).
_NOT_ANSWERED = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# Metadata the pipeline reads: the credentials, and X-Forwarded-For (keyset/client_address.py).
_READ_BY_AUTH = forwarding.CREDENTIALS | {"x-forwarded-for"}
# Callables kept per (node, method): Qdrant has ~60 methods; more names are
# a client making them up, served without a cached callable.
_CACHED_METHODS = 1024


def health_check_reply(version: str) -> bytes:
    return pb.HealthCheckReply(title=TITLE, version=version, commit=commit_of(version)).SerializeToString()


def _auth_headers(metadata) -> list[tuple[bytes, bytes]]:
    """The metadata dataplane.auth reads, as REST headers; nothing else is re-encoded."""
    return [(key.encode("latin-1"), value.encode("utf-8", "surrogateescape"))
            for key, value in metadata if key in _READ_BY_AUTH and isinstance(value, str)]


class GrpcFront:
    def __init__(self, *, pipeline: Pipeline, host: str, port: int, reuse_port: bool = False,
                 max_message_bytes: int = 32 * 1024 * 1024, timeout: float = 60.0,
                 tls_files: tls.CertificateFiles | None = None) -> None:
        self.pipeline = pipeline
        self.keystore = pipeline.keystore
        self.host, self.port = host, port
        self.reuse_port = reuse_port
        self.max_message_bytes = max_message_bytes
        self.timeout = timeout
        self._server: grpc.aio.Server | None = None
        self._channels: dict[str, grpc.aio.Channel] = {}
        # target -> (TLS, CA) its channel was made with: a change makes a new channel.
        self._channel_tls: dict[str, tuple[bool, bytes | None]] = {}
        # (target, method) -> the channel's callable for it, made once: making
        # one per call was a measurable part of the front's cost per request.
        self._calls: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable] = {}
        self._closing: set[asyncio.Future] = set()  # channels closing in the background
        self._turn = itertools.count()
        self.tls_files = tls_files  # set: the port serves TLS only

    async def start(self) -> None:
        options = [
            ("grpc.so_reuseport", 1 if self.reuse_port else 0),
            # Body limits as on REST (DATAPLANE_MAX_BODY_BYTES).
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", -1),
        ]
        self._server = grpc.aio.server(handlers=[_Handler(self)], options=options)
        address = f"{self.host}:{self.port}"
        if self.tls_files is None:
            bound = self._server.add_insecure_port(address)
        else:
            bound = self._server.add_secure_port(address, tls.grpc_credentials(self.tls_files))
        if not bound:
            raise OSError(f"cannot listen for gRPC on {self.host}:{self.port}")
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=2)
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        self._calls.clear()

    def keep_only(self, targets) -> None:
        """Closes the channels to every node not in `targets` (it left its
        cluster's ready list, or the cluster is gone). Calls still on a channel
        get the front's timeout to finish before it is torn down."""
        for target in [target for target in self._channels if target not in targets]:
            self._close(target)

    def _close(self, target: str) -> None:
        self._calls = {key: call for key, call in self._calls.items() if key[0] != target}
        self._channel_tls.pop(target, None)
        closing = asyncio.ensure_future(self._channels.pop(target).close(grace=self.timeout))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    @property
    def channel_targets(self) -> list[str]:
        return sorted(self._channels)

    def channel(self, target: str, tls: bool = False, ca: bytes | None = None) -> grpc.aio.Channel:
        """The channel to a node: plaintext, or TLS verified against `ca` (PEM; None: the system's roots)."""
        channel = self._channels.get(target)
        if channel is not None and self._channel_tls.get(target, (False, None)) != (tls, ca):
            self._close(target)  # the same address connected again, with or without TLS or another CA
            channel = None
        if channel is None:
            options = [
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
                # A restarted node is reached again within a fraction of a second.
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
                ("grpc.enable_retries", 0),
            ]
            if tls:
                credentials = grpc.ssl_channel_credentials(root_certificates=ca)
                channel = grpc.aio.secure_channel(target, credentials, options=options)
            else:
                channel = grpc.aio.insecure_channel(target, options=options)
            self._channels[target] = channel
            self._channel_tls[target] = (tls, ca)
        return channel

    def _call(self, target: str, method: str, tls: bool = False, ca: bytes | None = None
              ) -> grpc.aio.UnaryUnaryMultiCallable:
        call = self._calls.get((target, method))
        if call is not None and self._channel_tls.get(target, (False, None)) != (tls, ca):
            call = None
        if call is None:
            call = self.channel(target, tls, ca).unary_unary(method)
            # Method names come from clients: only so many are remembered.
            if len(self._calls) < _CACHED_METHODS:
                self._calls[(target, method)] = call
        return call

    async def serve(self, method: str, message: bytes, context: grpc.aio.ServicerContext) -> bytes:
        request = Request("grpc", method)
        if method == GRPC_HEALTH:
            self.pipeline.finish(request, "OK")
            return SERVING
        request.route = routes.GRPC.get(method)
        try:
            reply = await self._serve(request, method, message, context)
        except grpc.aio.AbortError:
            code = context.code()
            self.pipeline.finish(request, code.name if code is not None else "UNKNOWN", context.details() or "")
            raise
        except BaseException:
            self.pipeline.finish(request, "INTERNAL", "Service internal error")
            raise
        self.pipeline.finish(request, "OK")
        return reply

    async def _serve(self, request: Request, method: str, message: bytes, context) -> bytes:
        metadata = context.invocation_metadata() or ()
        headers = _auth_headers(metadata)
        token = auth.key_from_headers(headers)
        denied = await self.pipeline.enter(request, token, None, _peer_ip(context.peer()), headers)
        if denied is not None:
            if method == HEALTH_CHECK:  # open to every caller, as on Qdrant
                return health_check_reply(self.pipeline.newest_version())
            await context.abort(_STATUS.get(denied.status, grpc.StatusCode.UNAUTHENTICATED), denied.body)
        if not request.cluster.forwarded:
            if method == HEALTH_CHECK:
                return health_check_reply(request.cluster.version)
            return await grpcembedded.serve(self.pipeline, request, method, message, context)
        if request.tenant is not None:
            # Bound by keyset/tenant.py on the REST shape, sent to a node over REST (dataplane/grpcembedded.py).
            nodes = self.keystore.current.nodes_of(request.cluster.id).http
            if not nodes:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "Service unavailable: no node of this cluster is ready")
            if method == HEALTH_CHECK:
                return health_check_reply(request.cluster.version)
            return await grpcembedded.serve(self.pipeline, request, method, message, context, nodes)
        return await self._forward(request, method, message, context, metadata)

    async def _forward(self, request: Request, method: str, message: bytes, context, metadata) -> bytes:
        """A `qdrant` cluster's call to one of its ready nodes, the next one
        after a failure as the forwarding policy allows."""
        targets = self.keystore.current.nodes_of(request.cluster.id).grpc
        if not targets:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "Service unavailable: no node of this cluster is ready")
        # Handed to grpcio as its own Metadata: given a list, each call checks it
        # against typing.Sequence (abc's slow path) and copies it into one.
        outgoing = grpc.aio.Metadata(*forwarding.grpc_metadata(metadata, request.node_credential()))
        remaining = context.time_remaining()
        deadline = time.monotonic() + (self.timeout if remaining is None else min(remaining, self.timeout))
        idempotent = forwarding.grpc_idempotent(method)
        plan = forwarding.attempts(targets, next(self._turn), idempotent)
        tried: list[str] = []
        last: grpc.aio.AioRpcError | None = None
        for index, (target, pause) in enumerate(plan):
            if pause:
                if deadline - time.monotonic() <= pause:
                    break
                await asyncio.sleep(pause)
            call = self._call(target, method, request.cluster.tls, request.cluster.ca_certificate)
            try:
                reply = await call(message, metadata=outgoing, timeout=max(0.001, deadline - time.monotonic()))
                if self.pipeline.metrics is not None:
                    self.pipeline.metrics.forward(request.cluster.id, target, "grpc", tried)
                return reply
            except grpc.aio.AioRpcError as error:
                last = error
                code = error.code()
                reached = not (code is grpc.StatusCode.UNAVAILABLE and any(
                    text in (error.details() or "").lower() for text in forwarding.GRPC_CONNECT_FAILED))
                if (index + 1 < len(plan) and (not reached or code in forwarding.RETRY_CODES)
                        and forwarding.try_next(reached=reached, idempotent=idempotent)):
                    tried.append(target)
                    continue
                # The node's own refusal or error (a 403, a strict mode rate limit) is an answer, as a
                # REST status is; UNAVAILABLE and DEADLINE_EXCEEDED may be the transport's, not the node's.
                if self.pipeline.metrics is not None and code not in _NOT_ANSWERED:
                    self.pipeline.metrics.forward(request.cluster.id, target, "grpc", tried)
                break
        trailing = last.trailing_metadata() if last is not None else None
        if trailing:
            context.set_trailing_metadata([(k, v) for k, v in trailing if not k.startswith("grpc-")])
        await context.abort(last.code(), last.details() or "")


def _peer_ip(peer: str | None) -> str | None:
    """`ipv4:127.0.0.1:5555` / `ipv6:[::1]:5555` -> the address."""
    if not peer or ":" not in peer:
        return None
    address = peer.split(":", 1)[1]
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0]


class _Handler(grpc.GenericRpcHandler):
    """Every method, whatever its name: raw bytes in, raw bytes out."""

    def __init__(self, front: GrpcFront) -> None:
        self.front = front
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}  # made once per method, as _calls

    def service(self, handler_call_details):
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is None:
            front = self.front

            async def behaviour(request: bytes, context) -> bytes:
                return await front.serve(method, request, context)

            handler = grpc.unary_unary_rpc_method_handler(behaviour)
            if len(self._handlers) < _CACHED_METHODS:
                self._handlers[method] = handler
        return handler
