"""Every cluster's gRPC endpoint (DATAPLANE_GRPC_PORT, 6334): the front on gRPC.

One generic handler serves every method, with no per-method code: it
authenticates from the metadata exactly as REST does from the headers
(dataplane.auth: `api-key`, else `authorization: Bearer …`), then for a
`qdrant` cluster forwards the raw request bytes to one of its ready nodes'
gRPC port and relays the raw answer, or the node's status and details.
The node applies Qdrant's own table of access: a JWT goes as it came, an
admin key is replaced by the master key (dataplane.auth.node_credential).

Refusals are Qdrant's (spec/qdrant-auth.md, gRPC): a REST 401 is
UNAUTHENTICATED, a 403 PERMISSION_DENIED, with the REST text as details.
`/qdrant.Qdrant/HealthCheck` and `/grpc.health.v1.Health/Check` are open.
Every Qdrant method is unary (qdrant_client/grpc/*_pb2_grpc.py), so only
unary calls are carried. A connected cluster that serves TLS is reached
over a secure channel verified against its CA (the key set's
`ca_certificate`; none: the system's roots). An embedded cluster's calls are served by
dataplane.grpcembedded on the same table of access and shards as REST.

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

from dataplane import auth, grpcembedded, tls, usage
from dataplane.app import TITLE, DataPlane, commit_of
from dataplane.keystore import KeyStore

logger = logging.getLogger(__name__)

HEALTH_CHECK = "/qdrant.Qdrant/HealthCheck"
GRPC_HEALTH = "/grpc.health.v1.Health/Check"
SERVING = health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING).SerializeToString()

_STATUS = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}
# Metadata a node must not get from the client: credentials (the front sends
# the one it chose) and what the transport sets per hop.
_CREDENTIALS = frozenset({"api-key", "authorization"})
_NOT_FORWARDED = _CREDENTIALS | {"user-agent", "te", "content-type", "host"}
_READ_BY_AUTH = _CREDENTIALS | {"x-forwarded-for"}
_PER_HOP_PREFIXES = ("grpc-", ":")
# Callables kept per (node, method): Qdrant has ~60 methods; more names are
# a client making them up, served without a cached callable.
_CACHED_METHODS = 1024
# Qdrant methods that may go to another node after the first may have
# received them: reads, and writes with the same effect applied twice. Not
# these, which would act twice (a second snapshot, an alias swap replayed).
_NOT_IDEMPOTENT = frozenset({
    "/qdrant.Collections/UpdateAliases", "/qdrant.Collections/UpdateCollectionClusterSetup",
    "/qdrant.Collections/CreateShardKey", "/qdrant.Collections/DeleteShardKey",
    "/qdrant.Snapshots/Create", "/qdrant.Snapshots/CreateFull",
})
_IDEMPOTENT_SERVICES = ("/qdrant.Points/", "/qdrant.Collections/", "/qdrant.Snapshots/", "/qdrant.Qdrant/")
# A node that just restarted may answer for a replica it has not loaded yet.
_RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL})
_CONNECT_FAILED = ("failed to connect", "connection refused", "connect failed")


def idempotent(method: str) -> bool:
    return method.startswith(_IDEMPOTENT_SERVICES) and method not in _NOT_IDEMPOTENT


def _string(field: int, value: str) -> bytes:
    data = value.encode("utf-8")
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def health_check_reply(version: str) -> bytes:
    """qdrant.HealthCheckReply{title, version, commit}, encoded by hand: three strings."""
    return _string(1, TITLE) + _string(2, version) + _string(3, commit_of(version))


def _auth_headers(metadata) -> list[tuple[bytes, bytes]]:
    """The metadata dataplane.auth reads (the credentials, and X-Forwarded-For
    for auth.client_address), as REST headers; nothing else is re-encoded."""
    return [(key.encode("latin-1"), value.encode("utf-8", "surrogateescape"))
            for key, value in metadata if key in _READ_BY_AUTH and isinstance(value, str)]


class GrpcFront:
    def __init__(self, *, keystore: KeyStore, plane: DataPlane, host: str, port: int,
                 reuse_port: bool = False, max_message_bytes: int = 32 * 1024 * 1024,
                 timeout: float = 60.0, trusted_proxies: tuple = (),
                 tls_files: tls.CertificateFiles | None = None) -> None:
        self.keystore = keystore
        self.plane = plane  # what REST runs on: admission after authentication, embedded clusters' ops
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
        self.trusted_proxies = trusted_proxies  # settings.TRUSTED_PROXIES (see auth.client_address)
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

    def _version(self) -> str:
        """For a key-less HealthCheck, which names no cluster: the newest version any cluster runs."""
        versions = {c.version for c in self.keystore.current.clusters.values()}

        def order(version: str):
            return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))
        return max(versions, key=order) if versions else "0.0.0"

    async def serve(self, method: str, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if method == GRPC_HEALTH:
            return SERVING
        metadata = context.invocation_metadata() or ()
        headers = _auth_headers(metadata)
        token = auth.key_from_headers(headers)
        key_set = self.keystore.current
        grant = auth.authenticate(key_set, token)
        if type(grant) is auth.Denied:
            if method == HEALTH_CHECK:
                return health_check_reply(self._version())
            await context.abort(_STATUS.get(grant.status, grpc.StatusCode.UNAUTHENTICATED), grant.body)
        usage.granted.set(grant)
        client_ip = auth.client_address(_peer_ip(context.peer()), headers, self.trusted_proxies)
        denied = await self.plane.admit(grant, client_ip, "grpc")
        if denied is not None:
            if method == HEALTH_CHECK:
                return health_check_reply(self._version())
            await context.abort(_STATUS.get(denied.status, grpc.StatusCode.UNAUTHENTICATED), denied.body)
        cluster = grant.cluster
        if not cluster.forwarded:
            if method == HEALTH_CHECK:
                return health_check_reply(cluster.version)
            return await grpcembedded.serve(self.plane, method, request, grant, context)
        credential = auth.node_credential(grant, token)
        if grant.key.tenant is not None:
            # Bound by keyset/tenant.py on the REST shape, sent to a node over REST (dataplane/grpcembedded.py).
            nodes = key_set.nodes_of(cluster.id).http
            if not nodes:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "Service unavailable: no node of this cluster is ready")
            if method == HEALTH_CHECK:
                return health_check_reply(cluster.version)
            return await grpcembedded.serve(self.plane, method, request, grant, context, nodes, credential)
        targets = key_set.nodes_of(cluster.id).grpc
        if not targets:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "Service unavailable: no node of this cluster is ready")
        outgoing = [(k, v) for k, v in metadata if k not in _NOT_FORWARDED and not k.startswith(_PER_HOP_PREFIXES)]
        outgoing.append(credential)
        remaining = context.time_remaining()
        deadline = time.monotonic() + (self.timeout if remaining is None else min(remaining, self.timeout))
        retry = idempotent(method)
        start = next(self._turn)
        last: grpc.aio.AioRpcError | None = None
        for offset in range(len(targets)):
            target = targets[(start + offset) % len(targets)]
            call = self._call(target, method, cluster.tls, cluster.ca_certificate)
            try:
                reply = await call(request, metadata=outgoing, timeout=max(0.001, deadline - time.monotonic()))
                if self.plane.metrics is not None:
                    self.plane.metrics.forward(cluster.id, target, "grpc",
                                               [targets[(start + n) % len(targets)] for n in range(offset)])
                return reply
            except grpc.aio.AioRpcError as error:
                last = error
                code = error.code()
                more = offset + 1 < len(targets)
                connect_failed = code is grpc.StatusCode.UNAVAILABLE and any(
                    text in (error.details() or "").lower() for text in _CONNECT_FAILED)
                if more and (connect_failed or (retry and code in _RETRY_CODES)):
                    continue
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
                started = time.perf_counter()
                failed = True
                try:
                    reply = await front.serve(method, request, context)
                    failed = False
                    return reply
                finally:
                    usage.grpc_ended(front.plane.usage, front.plane.metrics, method, context, started, failed)

            handler = grpc.unary_unary_rpc_method_handler(behaviour)
            if len(self._handlers) < _CACHED_METHODS:
                self._handlers[method] = handler
        return handler
