"""The data plane's ASGI application: Qdrant's REST API behind Qdrant Cloud's front.

Plain ASGI on uvicorn (httptools, uvloop), no framework: the routes are few
and fixed, and the request path is what the benchmark measures.

This module is REST's side of the request pipeline (dataplane/pipeline.py):
it reads headers, paths and bodies, answers the health routes and CORS, and
writes Qdrant's JSON envelopes; the steps themselves (authenticate, admit,
the table of access, storage, forwarding) are the pipeline's, shared with
gRPC. It also runs the process's lifespan: the key store, the storage, the
gRPC front and the watchers that close what is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from urllib.parse import parse_qsl, unquote

from dataplane import auth, forwarding, routes, tenancy
from dataplane.control import ControlServer
from dataplane.engine import Engine
from dataplane.grpcfront import GrpcFront
from dataplane.keystore import KeyStore
from dataplane.lastused import LastUsed
from dataplane.metrics import Metrics
from dataplane.owners import Owners
from dataplane.pipeline import Pipeline, Request
from dataplane.proxy import NodeProxy, NoNodeAnswered
from dataplane.storage import StorageError
from dataplane.usage import REASON_BYTES, REASONED, Usage, reason_of
from keyset.rights import Forbidden

logger = logging.getLogger(__name__)

HEALTH = {
    "/healthz": b"healthz check passed",
    "/livez": b"healthz check passed",
    "/readyz": b"all shards are ready",
}
_UUID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_PARSE_IN_THREAD_BYTES = 64 * 1024


def _float(text: str) -> float:
    return float(text)


# A large body (an upsert's vectors) is parsed in a worker thread. json's C
# parser holds the GIL from start to end, which would stall the event loop
# all the same (2 s for 5,000 points of dimension 128 on a loaded machine);
# a Python function per float lets the loop take its turn between them, for
# a slower parse (about 1.3x) that no other request waits for.
_LARGE_BODY = json.JSONDecoder(parse_constant=auth.reject_json_constant, parse_float=_float)
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_JSON = [(b"content-type", b"application/json")]

def path_segments(scope) -> list[str] | None:
    """Percent-decoded segments of the raw path, so an encoded "/" stays inside its segment."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    raw = raw.split(b"?", 1)[0]
    if not raw.startswith(b"/"):
        return None
    try:
        return [unquote(part.decode("ascii"), errors="strict") for part in raw[1:].split(b"/")]
    except (UnicodeDecodeError, UnicodeEncodeError):
        return None


def scan_headers(headers) -> tuple[str | None, bytes | None, bool]:
    """The cluster id in the Host header's first label (if it is one), the
    Origin, and whether this is a CORS preflight."""
    cluster = origin = None
    preflight = False
    for name, value in headers:
        if name == b"host":
            label = value.split(b".", 1)[0].split(b":", 1)[0].lower()
            if len(label) == 36:
                text = label.decode("ascii", "replace")
                if _UUID.match(text):
                    cluster = text
        elif name == b"origin":
            origin = value
        elif name == b"access-control-request-method":
            preflight = True
    return cluster, origin, preflight


def _with_cors(send, origin: bytes):
    """Qdrant answers browsers from any origin (service.enable_cors, on by default)."""

    async def cors_send(message):
        if message["type"] == "http.response.start":
            message["headers"] = [*message["headers"], (b"access-control-allow-origin", origin), (b"vary", b"Origin")]
        await send(message)

    return cors_send


def _preflight_headers(headers) -> list[tuple[bytes, bytes]]:
    requested = [value for name, value in headers if name == b"access-control-request-headers"]
    return [
        (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        (b"access-control-allow-headers", requested[0] if requested else b"api-key, authorization, content-type"),
        (b"access-control-max-age", b"3600"),
    ]


class DataPlane:
    def __init__(self, *, keystore: KeyStore, engine: Engine, last_used: LastUsed, max_body_bytes: int,
                 auth_enabled: bool = True, run_dir=None, trusted_proxies: tuple = (), usage: Usage | None = None,
                 metrics: Metrics | None = None, metrics_writer=None):
        self.keystore = keystore
        # Requests per key per minute (dataplane/usage.py) and the front's
        # Prometheus metrics (dataplane/metrics.py), counted by Pipeline.finish.
        self.usage = usage
        self.metrics = metrics
        self._metrics_writer = metrics_writer
        self.engine = engine
        self.control = ControlServer(keystore=keystore, engine=engine, run_dir=run_dir or engine.run_dir,
                                     last_used=last_used, front=self)
        self.last_used = last_used
        self.max_body_bytes = max_body_bytes
        self.auth_enabled = auth_enabled
        # Pooled connections to the nodes of `qdrant` clusters (dataplane/proxy.py).
        self.proxy = NodeProxy()
        self.pipeline = Pipeline(keystore=keystore, engine=engine, last_used=last_used,
                                 trusted_proxies=trusted_proxies, proxy=self.proxy, usage=usage, metrics=metrics)
        self._nodes_seen = None
        self._watch_nodes: asyncio.Task | None = None
        self._watch_deleted: asyncio.Task | None = None
        self._watch_owned: asyncio.Task | None = None
        self.grpc: GrpcFront | None = None  # started with the process when set

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    # Before the first load: a change committed while this
                    # process loads is confirmed by it too (its refresh waits
                    # for the load, then applies what came after it).
                    await self.control.start()
                    await asyncio.to_thread(self.keystore.start)
                    await self.engine.start()
                    if self.usage is not None:
                        self.usage.loop = asyncio.get_running_loop()  # where the counts change (usage.Usage)
                    self.last_used.start()
                    if self._metrics_writer is not None:
                        self._metrics_writer.start()
                    if self.grpc is not None:
                        await self.grpc.start()
                    self._watch_nodes = asyncio.create_task(self._close_left_nodes())
                    self._watch_deleted = asyncio.create_task(self._remove_deleted_clusters())
                    if self.engine.owners is not None:
                        self._watch_owned = asyncio.create_task(self._keep_owned())
                except Exception as exc:
                    logger.exception("data plane failed to start")
                    await self.control.stop()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.control.stop()
                for task in (self._watch_nodes, self._watch_deleted, self._watch_owned):
                    if task is not None:
                        task.cancel()
                if self.grpc is not None:
                    await self.grpc.stop()
                await self.proxy.aclose()
                self.keystore.stop()
                await self.engine.stop()
                await asyncio.to_thread(self.last_used.stop)
                if self._metrics_writer is not None:
                    self._metrics_writer.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope, receive, send) -> None:
        method = scope["method"]
        health = HEALTH.get(scope["path"])
        if health is not None and method in ("GET", "HEAD"):
            # HEAD is how load balancers probe: the same status and headers, no body.
            headers = [*_TEXT, (b"content-length", str(len(health)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            return await send({"type": "http.response.body", "body": health if method == "GET" else b""})
        request = Request("rest", scope["path"])
        status, reason = 500, "Service internal error"
        try:
            status, reason = await self._serve(request, scope, receive, send)
        finally:
            self.pipeline.finish(request, status, reason)

    async def _serve(self, request: Request, scope, receive, send) -> tuple[int, str]:
        """One REST request through the pipeline; its status and, when refused or failed, why."""
        method = scope["method"]
        headers = scope["headers"]
        host, origin, preflight = scan_headers(headers)
        if origin is not None:
            send = _with_cors(send, origin)
            if preflight and method == "OPTIONS":
                # A browser asks before it sends the key: no key to check yet.
                return await _respond(send, 200, b"", _preflight_headers(headers)), ""
        if self.auth_enabled:
            token = auth.key_from_headers(headers)
            client = scope.get("client")
            denied = await self.pipeline.enter(request, token, host, client[0] if client else None, headers)
            if denied is not None:
                return await _respond(send, denied.status, denied.body.encode(), _TEXT), denied.body
        elif not self.pipeline.enter_without_key(request, host):
            return await _error(send, 404, "Not found: name the cluster in the Host header", request)
        segments = path_segments(scope)
        matched = routes.match_rest(method, segments) if segments is not None else None
        if request.cluster.forwarded:
            request.route = matched[0] if matched is not None else None
            return await self._forward(request, scope, receive, send, segments)
        if matched is None:
            return await _error(send, 404, f"Not found: no route {method} {scope['path']}", request)
        route, values = matched
        name = values[0] if values else None
        try:
            self.pipeline.authorize(request, route, name)
            body = await self._read_json(scope, receive)
            params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            params.update(zip(route.values[1:], values[1:], strict=True))
            result = await self.pipeline.execute(request, route, name, params, body)
        except Forbidden as exc:
            return await _error(send, 403, f"Forbidden: {exc.message}", request)
        except StorageError as exc:
            return await _error(send, exc.status, exc.message, request)
        if route.op == "version":  # Qdrant answers `/` without the envelope
            return await _respond(send, 200, json.dumps(result, separators=(",", ":")).encode(), _JSON), ""
        return await _result(send, result, request), ""

    async def _forward(self, request: Request, scope, receive, send, segments) -> tuple[int, str]:
        """A `qdrant` cluster's request, any route, to one of its ready nodes,
        which applies Qdrant's own table of access to the front's credential."""
        nodes = self.keystore.current.nodes_of(request.cluster.id).http
        if not nodes:
            return await _error(send, 503, "Service unavailable: no node of this cluster is ready", request)
        try:
            body = await self._read_body(scope, receive)
        except StorageError as exc:
            return await _error(send, exc.status, exc.message, request)
        raw_path = (scope.get("raw_path") or scope["path"].encode("utf-8")).split(b"?", 1)[0]
        headers = scope["headers"]
        plan = None
        if request.tenant is not None:
            try:
                body, headers, plan = await self._bind_forwarded(request, scope, segments, nodes, body, headers)
            except Forbidden as exc:
                return await _error(send, 403, f"Forbidden: {exc.message}", request)
            except StorageError as exc:
                return await _error(send, exc.status, exc.message, request)
        try:
            response = await self.proxy.forward(
                nodes=nodes, method=scope["method"], path=raw_path.decode("latin-1"),
                query=scope.get("query_string", b""), headers=headers, body=body,
                credential=request.node_credential(),
                idempotent=forwarding.rest_idempotent(scope["method"], segments),
                ca=request.cluster.ca_certificate,
            )
        except NoNodeAnswered as exc:
            logger.warning("cluster %s: no node answered %s %s (%s)", request.cluster.id, scope["method"],
                           scope["path"], exc)
            return await _error(send, 503, "Service unavailable: no node of this cluster answered", request)
        if self.metrics is not None:
            self.metrics.forward(request.cluster.id, response.node, "rest", response.failed)
        if plan is not None and plan.hidden:
            return await self._send_revealed(request, send, response, plan, body)
        if plan is not None and plan.lookup is not None and response.status == 200:
            return await self._send_looked_up(request, send, nodes, response, plan.lookup)
        if response.status not in REASONED or (self.usage is None and self.metrics is None):
            await response.send_to(send)
            return response.status, ""
        head = bytearray()

        async def noting_send(message):  # the node's refusal (or rate limit) is counted with its reason
            # The body's start, whether it came in one message or in chunks (an empty last one ends them).
            if message["type"] == "http.response.body" and len(head) < REASON_BYTES:
                head.extend(message.get("body", b"")[:REASON_BYTES - len(head)])
            await send(message)

        await response.send_to(noting_send)
        encoding = next((value for name, value in response.headers if name == b"content-encoding"), b"")
        return response.status, reason_of(response.status, bytes(head), encoding)

    async def _bind_forwarded(self, request: Request, scope, segments, nodes, body: bytes, headers):
        """A tenant-bound key's request to a node: its body bound (keyset/tenant.py), re-encoded."""
        if segments is None:
            raise StorageError(404, f"Not found: no route {scope['method']} {scope['path']}")
        parsed = None
        if body.strip():
            try:
                parsed = json.loads(body, parse_constant=auth.reject_json_constant)
            except (ValueError, RecursionError) as exc:
                raise StorageError(400, f"Format error in JSON body: {exc}") from None
        plan = await tenancy.bound_request(request.tenant, scope["method"], segments, parsed,
                                           self.pipeline.node_reader(request, nodes), node=True, in_place=True,
                                           lookups=True)
        if plan is None or not plan.changed or plan.body is None:
            return body, headers, plan
        # The answer to stand-ins or a lookup is read and rewritten: asked uncompressed.
        read = plan.hidden or plan.lookup is not None
        dropped = (b"content-type", b"accept-encoding") if read else (b"content-type",)
        headers = [(name, value) for name, value in headers if name not in dropped]
        headers.append((b"content-type", b"application/json"))
        return json.dumps(plan.body, separators=(",", ":")).encode(), headers, plan

    async def _send_revealed(self, request: Request, send, response, plan, sent: bytes) -> tuple[int, str]:
        """The node's answer to a body with stand-ins for another tenant's example
        ids (keyset.tenant.Plan.finish): its error naming the ids the request named."""
        answer = await response.read()
        if response.status == 200:
            not_found = tenancy.stood_in(plan)
            return await _error(send, not_found.status, not_found.message, request)
        text = plan.reveal(answer.decode("utf-8", "replace"), sent=sent.decode())
        return await _respond(send, response.status, text.encode(), _JSON), ""

    async def _send_looked_up(self, request: Request, send, nodes, response, lookup) -> tuple[int, str]:
        """A tenant-bound key's groups answer, its with_lookup run as the tenant's
        read (dataplane/tenancy.py), in the node's own envelope."""
        try:
            answer = json.loads(await response.read())
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return await _error(send, 502, "Bad gateway: the node's answer is not Qdrant's JSON", request)
        try:
            answer["result"] = await tenancy.looked_up(request.tenant, lookup, answer.get("result"),
                                                       self.pipeline.node_reader(request, nodes, ("points", "scroll")))
        except StorageError as exc:
            return await _error(send, exc.status, exc.message, request)
        return await _respond(send, 200, json.dumps(answer, separators=(",", ":")).encode(), _JSON), ""

    async def _close_left_nodes(self) -> None:
        """Whenever the ready lists change (the key store replaces them whole),
        closes the pooled connections and gRPC channels to every node that
        left them, or whose cluster is gone."""
        while True:
            nodes = self.keystore.current.nodes
            if nodes is not self._nodes_seen:
                self._nodes_seen = nodes
                try:
                    await self.proxy.keep_only({url for entry in nodes.values() for url in entry.http})
                    if self.grpc is not None:
                        self.grpc.keep_only({target for entry in nodes.values() for target in entry.grpc})
                except Exception:  # the next change tries again; serving goes on
                    logger.exception("closing the connections to nodes that left failed")
            await asyncio.sleep(self.keystore.poll_seconds)

    async def _remove_deleted_clusters(self) -> None:
        """Whenever the key set changes, removes the storage of embedded clusters
        that were deleted (dataplane/engine.py). In the event loop, where the
        storage is served: no request runs on a shard while it closes."""
        seen = (None, None)
        while True:
            key_set = self.keystore.current
            state = (key_set.cluster_ids, key_set.deleted)
            if key_set.loaded_at and (state[0] is not seen[0] or state[1] is not seen[1]):
                try:
                    await self.engine.remove_deleted(existing=key_set.cluster_ids, deleted=key_set.deleted)
                    seen = state
                except Exception:  # the next poll tries again; serving goes on
                    logger.exception("removing the storage of deleted clusters failed")
            await asyncio.sleep(self.keystore.poll_seconds)

    async def _keep_owned(self) -> None:
        """Whenever the key set's clusters change, tells the console where this
        front's storage is for the clusters it owns under another address, and
        claims those on its disk that nobody owns (dataplane/owners.py's
        announce, dataplane/engine.py's adopt)."""
        seen = None
        while True:
            clusters = self.keystore.current.clusters
            if clusters is not seen:
                seen = clusters
                try:
                    await self.engine.owners.announce()
                    await self.engine.adopt()
                except Exception:  # the next change tries again; serving goes on
                    logger.exception("keeping this front's embedded clusters on record failed")
            await asyncio.sleep(self.keystore.poll_seconds)

    def node_connections(self) -> dict:
        """What the front holds open to nodes, for the control socket's stats."""
        return {"http_idle": self.proxy.idle_connections(),
                "grpc_channels": self.grpc.channel_targets if self.grpc is not None else []}

    async def _read_json(self, scope, receive):
        if scope["method"] in ("GET", "DELETE"):
            return None
        raw = await self._read_body(scope, receive)
        if not raw.strip():
            return None
        try:
            if len(raw) > _PARSE_IN_THREAD_BYTES:
                return await asyncio.to_thread(_LARGE_BODY.decode, raw.decode("utf-8"))
            return json.loads(raw, parse_constant=auth.reject_json_constant)
        except (ValueError, RecursionError) as exc:
            raise StorageError(400, f"Format error in JSON body: {exc}") from None

    async def _read_body(self, scope, receive) -> bytes:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise StorageError(400, "Bad request: invalid Content-Length") from None
                if length > self.max_body_bytes:
                    raise _too_large(length, self.max_body_bytes)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise StorageError(400, "Bad request: the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(size, self.max_body_bytes)
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        return b"".join(chunks)


def _too_large(size: int, limit: int) -> StorageError:
    return StorageError(413, f"Payload too large: {size} bytes is larger than allowed (limit: {limit} bytes)")


async def _respond(send, status: int, body: bytes, headers) -> int:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
    return status


async def _result(send, result, request: Request) -> int:
    envelope = {"result": result, "status": "ok", "time": request.elapsed()}
    try:
        body = json.dumps(envelope, separators=(",", ":"), allow_nan=False)
    except ValueError:  # an infinite score: JSON has no such number; serde_json writes null
        body = json.dumps(_finite(envelope), separators=(",", ":"))
    return await _respond(send, 200, body.encode(), _JSON)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


async def _error(send, status: int, message: str, request: Request) -> tuple[int, str]:
    body = json.dumps({"status": {"error": message}, "time": request.elapsed()}, separators=(",", ":"))
    return await _respond(send, status, body.encode(), _JSON), message


def build_application() -> DataPlane:
    import os
    import ssl

    from dataplane import settings, tls
    from dataplane.keyset_client import KeysetClient, instance_name
    from keyset.handshake import socket_path

    client = KeysetClient(url=settings.KEYSET_URL, credential=settings.KEYSET_CREDENTIAL,
                          ca_file=settings.KEYSET_CA_FILE,
                          instance=instance_name(socket_path(settings.DATAPLANE_RUN_DIR, os.getpid())))
    keystore = KeyStore(client=client, poll_seconds=settings.DATAPLANE_POLL_SECONDS,
                        reload_seconds=settings.DATAPLANE_RELOAD_SECONDS, redis_url=settings.REDIS_URL,
                        long_poll_seconds=settings.DATAPLANE_LONG_POLL_SECONDS)
    counts = Usage() if settings.DATAPLANE_COUNT_USAGE else None
    metrics = writer = None
    if settings.DATAPLANE_METRICS_PORT:
        from dataplane.metrics import Writer, directory_of

        metrics = Metrics()
        writer = Writer(metrics=metrics, keystore=keystore, directory=directory_of(
            settings.DATAPLANE_RUN_DIR, os.getpid() if settings.DATAPLANE_PROCESSES == 1 else os.getppid()))
    tls_files = tls.configured()
    # Other fronts reach this one's storage over TLS when it serves TLS, verified as the console is.
    scheme = "tls" if tls_files else "tcp"
    storage_address = f"{scheme}://{settings.DATAPLANE_STORAGE_ADDRESS}" if settings.DATAPLANE_STORAGE_ADDRESS else ""
    engine = Engine(
        settings.DATAPLANE_DATA_DIR, settings.DATAPLANE_RUN_DIR, epoch=lambda: keystore.current.epoch,
        owners=Owners(keystore=keystore, address=storage_address),
        listen=(settings.DATAPLANE_HOST, settings.DATAPLANE_STORAGE_PORT) if settings.DATAPLANE_STORAGE_PORT else None,
        server_ssl=tls.ReloadingContext(tls_files) if tls_files else None,
        client_ssl=ssl.create_default_context(cafile=settings.KEYSET_CA_FILE),
        # An op's body as JSON with its ASCII escapes (up to 6 bytes a character), and room for the rest.
        peer_line_limit=6 * settings.DATAPLANE_MAX_BODY_BYTES + 65536,
        storage_processes=settings.DATAPLANE_STORAGE_PROCESSES,
    )
    plane = DataPlane(
        keystore=keystore, usage=counts, metrics=metrics, metrics_writer=writer, engine=engine,
        last_used=LastUsed(client=client, flush_seconds=settings.DATAPLANE_LAST_USED_FLUSH_SECONDS, usage=counts),
        max_body_bytes=settings.DATAPLANE_MAX_BODY_BYTES,
        auth_enabled=not settings.DATAPLANE_INSECURE_NO_AUTH,
        trusted_proxies=settings.TRUSTED_PROXIES,
    )
    plane.grpc = GrpcFront(pipeline=plane.pipeline, host=settings.DATAPLANE_HOST,
                           port=settings.DATAPLANE_GRPC_PORT, reuse_port=settings.DATAPLANE_PROCESSES > 1,
                           max_message_bytes=settings.DATAPLANE_MAX_BODY_BYTES, tls_files=tls_files)
    return plane
