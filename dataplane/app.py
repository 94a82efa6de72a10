"""The data plane's ASGI application: Qdrant's REST API behind Qdrant Cloud's front.

Plain ASGI on uvicorn (httptools, uvloop), no framework: the routes are few
and fixed, and the request path is what the benchmark measures.

Every request but the health routes is authenticated first (dataplane.auth),
then routed: `ROUTES` below is the table of access, pairing each route with
the access it needs (checked by dataplane.access, with Qdrant's messages) and
the storage operation (dataplane.storage) that serves it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import time
from urllib.parse import parse_qsl, quote, unquote, urlencode

from dataplane import auth, tenancy, usage
from dataplane.access import FULL, Forbidden
from dataplane.control import ControlServer
from dataplane.engine import Engine
from dataplane.keystore import KeyStore
from dataplane.lastused import LastUsed
from dataplane.proxy import NodeProxy, NoNodeAnswered
from dataplane.usage import Usage
from dataplane.metrics import Metrics
from dataplane.storage import StorageError

logger = logging.getLogger(__name__)

TITLE = "qdrant - vector search engine"
HEALTH = {
    "/healthz": b"healthz check passed",
    "/livez": b"healthz check passed",
    "/readyz": b"all shards are ready",
}
_UUID = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_JSON = [(b"content-type", b"application/json")]

# (method, route) -> (storage op or handler name, access): access is
# "read"/"write" on the collection in the path, "manage" cluster-wide,
# "any" for every key (the handler filters).
ROUTES: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {
    ("GET", ()): ("version", "any"),
    ("GET", ("collections",)): ("list", "any"),
    ("GET", ("aliases",)): ("aliases", "any"),
    ("GET", ("collections", "*")): ("info", "read"),
    ("PUT", ("collections", "*")): ("create", "manage"),
    ("PATCH", ("collections", "*")): ("update_collection", "manage"),
    ("DELETE", ("collections", "*")): ("delete_collection", "manage"),
    ("GET", ("collections", "*", "exists")): ("exists", "read"),
    ("GET", ("collections", "*", "aliases")): ("collection_aliases", "any"),
    ("PUT", ("collections", "*", "points")): ("upsert", "write"),
    ("POST", ("collections", "*", "points")): ("retrieve", "read"),
    ("GET", ("collections", "*", "points", "*")): ("get_point", "read"),
    ("POST", ("collections", "*", "points", "delete")): ("delete_points", "write"),
    ("POST", ("collections", "*", "points", "query")): ("query", "read"),
    ("POST", ("collections", "*", "points", "search")): ("search", "read"),
    ("POST", ("collections", "*", "points", "query", "batch")): ("query_batch", "read"),
    ("POST", ("collections", "*", "points", "search", "batch")): ("search_batch", "read"),
    ("POST", ("collections", "*", "points", "recommend")): ("recommend", "read"),
    ("POST", ("collections", "*", "points", "scroll")): ("scroll", "read"),
    ("POST", ("collections", "*", "points", "count")): ("count", "read"),
    ("POST", ("collections", "*", "points", "payload")): ("set_payload", "write"),
    ("PUT", ("collections", "*", "points", "payload")): ("overwrite_payload", "write"),
    ("POST", ("collections", "*", "points", "payload", "delete")): ("delete_payload", "write"),
    ("PUT", ("collections", "*", "index")): ("create_index", "write"),
    ("DELETE", ("collections", "*", "index", "*")): ("delete_index", "write"),
}
_FIXED = {"collections", "aliases", "exists", "points", "delete", "query", "search", "scroll", "count", "payload",
          "index", "batch", "recommend"}


def commit_of(version: str) -> str:
    """A stable commit id per version: there is no real build behind it."""
    return hashlib.sha1(f"qdrant v{version}".encode()).hexdigest()


def match_route(method: str, segments: list[str]) -> tuple[str, str, list[str]] | None:
    """The route for these decoded path segments, with the values of its `*` parts."""
    if segments == [""]:
        segments = []
    pattern = tuple(s if s in _FIXED else "*" for s in segments)
    candidates = [pattern]
    # A collection may be named like a fixed word ("points", "count" ...).
    if len(segments) >= 2 and pattern[1] != "*":
        candidates.append((pattern[0], "*", *pattern[2:]))
    if len(segments) == 4 and pattern[3] != "*":
        candidates.append((*candidates[-1][:3], "*"))
    for candidate in candidates:
        route = ROUTES.get((method, candidate))
        if route is not None:
            return route[0], route[1], [s for s, p in zip(segments, candidate, strict=True) if p == "*"]
    return None


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
        # Requests per key per minute (dataplane/usage.py), reported with last-used; None: not counted.
        self.usage = usage
        # The front's Prometheus metrics (dataplane/metrics.py); None: DATAPLANE_METRICS_PORT is not set.
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
        self._nodes_seen = None
        self._watch_nodes: asyncio.Task | None = None
        self._watch_deleted: asyncio.Task | None = None
        self.grpc = None  # dataplane.grpcfront.GrpcFront, started with the process when set
        # settings.TRUSTED_PROXIES, read once (see auth.client_address).
        self.trusted_proxies = trusted_proxies

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
                except Exception as exc:
                    logger.exception("data plane failed to start")
                    await self.control.stop()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.control.stop()
                for task in (self._watch_nodes, self._watch_deleted):
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
        started = time.perf_counter()
        method = scope["method"]
        path = scope["path"]
        health = HEALTH.get(path)
        if health is not None and method in ("GET", "HEAD"):
            # HEAD is how load balancers probe: the same status and headers, no body.
            headers = [*_TEXT, (b"content-length", str(len(health)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            return await send({"type": "http.response.body", "body": health if method == "GET" else b""})

        tally = None
        if self.usage is not None or self.metrics is not None:
            tally = usage.Tally(send, self.usage, self.metrics, path, started)
            send = tally.send
        headers = scope["headers"]
        host, origin, preflight = scan_headers(headers)
        if origin is not None:
            send = _with_cors(send, origin)
            if preflight and method == "OPTIONS":
                # A browser asks before it sends the key: no key to check yet.
                return await _respond(send, 200, b"", _preflight_headers(headers))
        if self.auth_enabled:
            token = auth.key_from_headers(headers)
            grant = auth.authenticate(self.keystore.current, token, host)
            if type(grant) is auth.Denied:
                return await _respond(send, grant.status, grant.body.encode(), _TEXT)
            if tally is not None:
                tally.granted(grant)
            client = scope.get("client")
            client_ip = auth.client_address(client[0] if client else None, headers, self.trusted_proxies)
            denied = await self.admit(grant, client_ip, "rest")
            if denied is not None:
                return await _respond(send, denied.status, denied.body.encode(), _TEXT)
            cluster, access, tenant = grant.cluster, grant.access, grant.key.tenant
            if cluster.forwarded:
                return await self._forward(scope, receive, send, cluster, auth.node_credential(grant, token), started,
                                           tenant)
        else:
            cluster = self.keystore.current.clusters.get(host) if host else None
            access, tenant = FULL, None
            if cluster is None:
                return await _error(send, 404, "Not found: name the cluster in the Host header", started)
            if cluster.forwarded:
                return await self._forward(scope, receive, send, cluster, ("api-key", cluster.master_key.decode()),
                                           started)

        segments = path_segments(scope)
        route = match_route(method, segments) if segments is not None else None
        if route is None:
            return await _error(send, 404, f"Not found: no route {method} {path}", started)
        op, needs, values = route
        name = values[0] if values else None
        try:
            if op == "version":
                body = json.dumps({"title": TITLE, "version": cluster.version, "commit": commit_of(cluster.version)},
                                  separators=(",", ":"))
                return await _respond(send, 200, body.encode(), _JSON)
            access.check(needs, name)  # before the body is read: a refused request's body is not parsed
            body = await self._read_json(scope, receive)
            params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if op == "get_point":
                params["id"] = values[1]
            elif op == "delete_index":
                params["field"] = values[1]
            result = await self.operate(cluster, access, op, needs, name, params, body, tenant)
            return await _result(send, result, started)
        except Forbidden as exc:
            return await _error(send, 403, f"Forbidden: {exc.message}", started)
        except StorageError as exc:
            return await _error(send, exc.status, exc.message, started)

    async def admit(self, grant: auth.Grant, client_ip: str | None, protocol: str) -> auth.Denied | None:
        """After authentication, REST and gRPC alike: the key's last use (noted
        before its own rules apply, so a refused address shows in "last used"),
        the key's own refusals (disabled, a rolled secret past its grace, an
        address not allowed), then a `value_exists` token's stateful check."""
        self.last_used.note(grant.key, client_ip, protocol)
        refused = auth.refusal(grant.key, client_ip)
        if refused is not None:
            return refused
        if grant.value_exists is not None and not grant.cluster.forwarded:
            return await self._check_value_exists(grant.cluster.id, grant.value_exists)
        return None

    async def operate(self, cluster, access, op: str, needs: str, name: str | None, params: dict, body,
                      tenant=None):
        """One operation of the table of access on an embedded cluster, for REST
        and gRPC alike: the check of `needs` (raises Forbidden), a tenant-bound
        key's binding (keyset/tenant.py), then the storage op."""
        access.check(needs, name)
        if tenant is not None:
            async def read(collection: str, request: dict) -> list:
                return await self.engine.execute(cluster.id, "retrieve", collection, {}, request)

            method, segments = tenancy.op_route(ROUTES, op, name, params)
            body, _ = await tenancy.bound_body(tenant, method, segments, body, read)
        if op in ("aliases", "collection_aliases"):
            return {"aliases": []}
        if op in ("query", "recommend") and isinstance(body, dict):
            _check_lookups(access, body)
        elif op == "query_batch" and isinstance(body, dict) and isinstance(body.get("searches"), list):
            for query in body["searches"]:
                _check_lookups(access, query)
        result = await self.engine.execute(cluster.id, op, name, params, body)
        if op == "list":
            names = access.visible([c["name"] for c in result["collections"]])
            result = {"collections": [{"name": n} for n in names]}
        return result

    async def _forward(self, scope, receive, send, cluster, credential: tuple[str, str], started: float,
                       tenant=None) -> None:
        """A `qdrant` cluster's request, any route, to one of its ready nodes,
        which applies Qdrant's own table of access to `credential`; a
        tenant-bound key's request is bound first (keyset/tenant.py)."""
        nodes = self.keystore.current.nodes_of(cluster.id).http
        if not nodes:
            return await _error(send, 503, "Service unavailable: no node of this cluster is ready", started)
        try:
            body = await self._read_body(scope, receive)
        except StorageError as exc:
            return await _error(send, exc.status, exc.message, started)
        raw_path = (scope.get("raw_path") or scope["path"].encode("utf-8")).split(b"?", 1)[0]
        # Origin stays here: the front answers CORS itself (_with_cors), once.
        headers = [(name, value) for name, value in scope["headers"] if name != b"origin"]
        if tenant is not None:
            try:
                body, headers = await self._bind_forwarded(scope, nodes, credential, tenant, body, headers)
            except Forbidden as exc:
                return await _error(send, 403, f"Forbidden: {exc.message}", started)
            except StorageError as exc:
                return await _error(send, exc.status, exc.message, started)
        try:
            response = await self.proxy.forward(
                nodes=nodes, method=scope["method"], path=raw_path.decode("latin-1"),
                query=scope.get("query_string", b""), headers=headers, body=body, credential=credential,
                idempotent=idempotent(scope["method"], path_segments(scope)), ca=cluster.ca_certificate,
            )
        except NoNodeAnswered as exc:
            logger.warning("cluster %s: no node answered %s %s (%s)", cluster.id, scope["method"], scope["path"], exc)
            return await _error(send, 503, "Service unavailable: no node of this cluster answered", started)
        if self.metrics is not None:
            self.metrics.forward(cluster.id, response.node, "rest", response.failed)
        # uvicorn adds a Date of its own: one is enough.
        response.headers = [(name, value) for name, value in response.headers if name.lower() != b"date"]
        await response.send_to(send)

    async def _bind_forwarded(self, scope, nodes, credential, tenant, body: bytes, headers: list):
        """A tenant-bound key's request to a node: its body bound, re-encoded."""
        segments = path_segments(scope)
        if segments is None:
            raise StorageError(404, f"Not found: no route {scope['method']} {scope['path']}")
        parsed = None
        if body.strip():
            try:
                parsed = json.loads(body, parse_constant=auth.reject_json_constant)
            except (ValueError, RecursionError) as exc:
                raise StorageError(400, f"Format error in JSON body: {exc}") from None
        bound, changed = await tenancy.bound_body(tenant, scope["method"], segments, parsed,
                                                  self._node_reader(nodes, credential), node=True)
        if not changed or bound is None:
            return body, headers
        headers = [(name, value) for name, value in headers if name != b"content-type"]
        headers.append((b"content-type", b"application/json"))
        return json.dumps(bound, separators=(",", ":")).encode(), headers

    def _node_reader(self, nodes, credential) -> tenancy.Reader:
        """Reads points from a node with the key's own credential (the node checks its access)."""
        async def read(collection: str, request: dict) -> list:
            return await self.node_request(nodes, credential, "POST", ["collections", collection, "points"], {},
                                           request)

        return read

    async def node_request(self, nodes, credential, method: str, segments: list[str], params: dict, body):
        """One REST request to a node, answered with Qdrant's `result`; its error as StorageError."""
        path = "/" + "/".join(quote(segment, safe="") for segment in segments)
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        try:
            response = await self.proxy.forward(
                nodes=nodes, method=method, path=path, query=urlencode(params).encode(),
                headers=[(b"content-type", b"application/json")], body=data, credential=credential,
                idempotent=idempotent(method, segments))
        except NoNodeAnswered as exc:
            raise StorageError(503, "Service unavailable: no node of this cluster answered") from exc
        raw = await response.read()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if response.status != 200 or not isinstance(answer, dict):
            error = answer.get("status", {}).get("error") if isinstance(answer, dict) else None
            raise StorageError(response.status if response.status != 200 else 502,
                               error or raw.decode("utf-8", "replace")[:500])
        return answer.get("result")

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
                    self.engine.remove_deleted(existing=key_set.cluster_ids, deleted=key_set.deleted)
                    seen = state
                except Exception:  # the next poll tries again; serving goes on
                    logger.exception("removing the storage of deleted clusters failed")
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

    async def _check_value_exists(self, cluster_id: str, value_exists: dict):
        """Qdrant's stateful JWT: valid only while a point matching every pair exists."""
        collection = value_exists["collection"]
        conditions = [{"key": m["key"], "match": {"value": m["value"]}} for m in value_exists["matches"]]
        try:
            result = await self.engine.execute(cluster_id, "count", collection, {},
                                               {"filter": {"must": conditions}, "exact": True})
        except StorageError as exc:
            if exc.status == 404:
                return auth.Denied(403, "Invalid JWT, stateful validation failed")
            return auth.Denied(401, "Invalid JWT, stateful validation failed")
        if not result["count"]:
            return auth.Denied(401, "Invalid JWT, stateful validation failed")
        return None


def idempotent(method: str, segments: list[str] | None) -> bool:
    """Whether a request may go to another node after the first may have received it.

    By method, and for POST: Qdrant's point reads (query, search, scroll,
    count, recommend, facet ...) and point writes, whose effect is the same
    when applied twice (they name their points). Other POSTs (snapshots,
    aliases, cluster operations) are retried only when their connection failed.
    """
    if method != "POST":
        return method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
    if not segments or len(segments) < 3 or segments[0] != "collections":
        return False
    return segments[2] in ("points", "facet")


def _check_lookups(access, body: dict) -> None:
    """Collections a query reads through lookup_from must be covered too (qdrant-auth.md)."""
    stack = [body]
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        lookup = item.get("lookup_from")
        if isinstance(lookup, dict) and isinstance(lookup.get("collection"), str):
            access.check_collection(lookup["collection"])
        prefetch = item.get("prefetch")
        stack.extend(prefetch if isinstance(prefetch, list) else [prefetch])


def _too_large(size: int, limit: int) -> StorageError:
    return StorageError(413, f"Payload too large: {size} bytes is larger than allowed (limit: {limit} bytes)")


async def _respond(send, status: int, body: bytes, headers) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _result(send, result, started: float) -> None:
    envelope = {"result": result, "status": "ok", "time": time.perf_counter() - started}
    try:
        body = json.dumps(envelope, separators=(",", ":"), allow_nan=False)
    except ValueError:  # an infinite score: JSON has no such number; serde_json writes null
        body = json.dumps(_finite(envelope), separators=(",", ":"))
    await _respond(send, 200, body.encode(), _JSON)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


async def _error(send, status: int, message: str, started: float) -> None:
    body = json.dumps({"status": {"error": message}, "time": time.perf_counter() - started}, separators=(",", ":"))
    await _respond(send, status, body.encode(), _JSON)


def build_application() -> DataPlane:
    import os

    from dataplane import settings, tls
    from dataplane.grpcfront import GrpcFront
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
    plane = DataPlane(
        keystore=keystore, usage=counts, metrics=metrics, metrics_writer=writer,
        engine=Engine(settings.DATAPLANE_DATA_DIR, settings.DATAPLANE_RUN_DIR, epoch=lambda: keystore.current.epoch),
        last_used=LastUsed(client=client, flush_seconds=settings.DATAPLANE_LAST_USED_FLUSH_SECONDS, usage=counts),
        max_body_bytes=settings.DATAPLANE_MAX_BODY_BYTES,
        auth_enabled=not settings.DATAPLANE_INSECURE_NO_AUTH,
        trusted_proxies=settings.TRUSTED_PROXIES,
    )
    plane.grpc = GrpcFront(keystore=plane.keystore, plane=plane, host=settings.DATAPLANE_HOST,
                           trusted_proxies=settings.TRUSTED_PROXIES,
                           port=settings.DATAPLANE_GRPC_PORT, reuse_port=settings.DATAPLANE_PROCESSES > 1,
                           max_message_bytes=settings.DATAPLANE_MAX_BODY_BYTES, tls_files=tls.from_environ())
    return plane
