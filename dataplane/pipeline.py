"""The request pipeline: one path for every request, REST or gRPC.

    enter      authenticate the key, find the client's address, admit it
               (the key's own refusals, a stateful JWT's check)
    route      the table of access (dataplane/routes.py), by path or gRPC method
    authorize  the access the route needs, checked once per request
    execute    an embedded cluster's op, in its storage (dataplane/engine.py),
               a tenant-bound key's body bound first (dataplane/tenancy.py)
    forward    a `qdrant` cluster's request goes to its nodes instead, under
               the forwarding policy (dataplane/forwarding.py), over the
               protocol it came in (dataplane/proxy.py, dataplane/grpcfront.py);
               a tenant-bound key's request is bound there too
    finish     the outcome: called once per request, whatever happened; counts
               it in the key's usage and the front's metrics (dataplane/usage.py)

The protocols only translate: dataplane/app.py (REST, ASGI) reads headers and
bodies and writes Qdrant's JSON envelopes; dataplane/grpcfront.py reads
metadata, dataplane/grpcembedded.py converts messages to the REST bodies
the storage reads. Each step is a method here that both call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from urllib.parse import quote, urlencode

from dataplane import auth, forwarding, tenancy
from dataplane import usage as usage_module
from dataplane.engine import Engine
from dataplane.keystore import KeyStore
from dataplane.lastused import LastUsed
from dataplane.proxy import NodeProxy, NoNodeAnswered
from dataplane.routes import Route
from dataplane.storage import StorageError
from keyset.client_address import client_address
from keyset.rights import FULL, Access

logger = logging.getLogger(__name__)

TITLE = "qdrant - vector search engine"


def commit_of(version: str) -> str:
    """A stable commit id per version: there is no real build behind it."""
    return hashlib.sha1(f"qdrant v{version}".encode()).hexdigest()


class Request:
    """What the front knows of one request as it goes through the steps."""

    __slots__ = ("access", "client_ip", "cluster", "grant", "protocol", "reason", "route", "started", "status",
                 "target", "token")

    def __init__(self, protocol: str, target: str = "") -> None:
        self.protocol = protocol  # "rest" or "grpc"
        self.target = target  # the REST path or the gRPC method, for the metrics' route group
        self.started = time.perf_counter()
        self.cluster = None  # dataplane.keystore.ClusterEntry, once known
        self.grant: auth.Grant | None = None  # None: not authenticated (yet, or DATAPLANE_INSECURE_NO_AUTH)
        self.access: Access | None = None
        self.token: str | None = None
        self.client_ip: str | None = None
        self.route: Route | None = None  # None: not in the table (a forwarded route the front does not serve)
        self.status: int | str | None = None  # the HTTP status, or the gRPC code's name
        self.reason = ""  # why it was refused or failed, as the client was told

    @property
    def key_id(self) -> str | None:
        return self.grant.key.id if self.grant is not None else None

    @property
    def tenant(self):
        """A tenant-bound key's binding (keyset.tenant.Tenant), else None."""
        return self.grant.key.tenant if self.grant is not None else None

    @property
    def group(self) -> str:
        """The route's operation group (keyset.rights), "other" when not in the table."""
        return self.route.group if self.route is not None else "other"

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def node_credential(self) -> tuple[str, str]:
        """What a `qdrant` cluster's node is sent (dataplane.auth.node_credential)."""
        if self.grant is None:
            return "api-key", self.cluster.master_key.decode()
        return auth.node_credential(self.grant, self.token)


class Pipeline:
    def __init__(self, *, keystore: KeyStore, engine: Engine, last_used: LastUsed | None,
                 trusted_proxies: tuple = (), proxy: NodeProxy | None = None, usage: usage_module.Usage | None = None,
                 metrics=None) -> None:
        self.keystore = keystore
        self.engine = engine
        self.last_used = last_used
        # Pooled connections to the nodes of `qdrant` clusters (dataplane/proxy.py).
        self.proxy = proxy if proxy is not None else NodeProxy()
        # Requests per key per minute (dataplane/usage.py), reported with last-used; None: not counted.
        self.usage = usage
        # The front's Prometheus metrics (dataplane/metrics.py); None: DATAPLANE_METRICS_PORT is not set.
        self.metrics = metrics
        # Counts each request's end into both (dataplane/usage.py); None: neither is kept.
        self.counting = usage_module.Counting(usage, metrics) if usage is not None or metrics is not None else None
        self.trusted_proxies = trusted_proxies  # settings.TRUSTED_PROXIES (see keyset/client_address.py)

    async def enter(self, request: Request, token: str | None, host: str | None, peer: str | None,
                    headers) -> auth.Denied | None:
        """Authenticate, client address, admit: fills `request`, or says why it is refused.

        `host`: the cluster the Host header names, if any (REST); `headers`:
        what client_address reads (X-Forwarded-For) as (bytes, bytes)."""
        grant = auth.authenticate(self.keystore.current, token, host)
        if type(grant) is auth.Denied:
            return grant
        request.grant, request.token, request.cluster, request.access = grant, token, grant.cluster, grant.access
        request.client_ip = client_address(peer, headers, self.trusted_proxies)
        return await self.admit(grant, request.client_ip, request.protocol)

    def enter_without_key(self, request: Request, host: str | None) -> bool:
        """DATAPLANE_INSECURE_NO_AUTH (benchmarks on loopback): the Host header's
        cluster, with full access. False when it names none."""
        request.cluster = self.keystore.current.clusters.get(host) if host else None
        request.access = FULL
        return request.cluster is not None

    async def admit(self, grant: auth.Grant, client_ip: str | None, protocol: str) -> auth.Denied | None:
        """The key's last use (noted before its own rules apply, so a refused
        address shows in "last used"), the key's own refusals (disabled, a
        rolled secret past its grace, an address not allowed), then a
        `value_exists` token's stateful check."""
        if self.last_used is not None:
            self.last_used.note(grant.key, client_ip, protocol)
        refused = auth.refusal(grant.key, client_ip)
        if refused is not None:
            return refused
        if grant.value_exists is not None and not grant.cluster.forwarded:
            return await self._check_value_exists(grant.cluster.id, grant.value_exists)
        return None

    @staticmethod
    def authorize(request: Request, route: Route, name: str | None) -> None:
        """The access the route needs (raises keyset.rights.Forbidden): before
        a REST body is read, so a refused request's body is not parsed."""
        request.route = route
        request.access.check(route.needs, name)

    async def execute(self, request: Request, route: Route, name: str | None, params: dict, body):
        """An authorized route's op on an embedded cluster: a tenant-bound key's
        body is bound (keyset/tenant.py), the collections the body reads
        besides `name` are checked, then the storage serves it."""
        access = request.access
        tenant = request.tenant
        plan = None
        if tenant is not None:
            cluster_id = request.cluster.id

            async def read(collection: str, ids_request: dict) -> list:
                return await self.engine.execute(cluster_id, "retrieve", collection, {}, ids_request)

            method, segments = tenancy.op_route(route, name, params)
            plan = await tenancy.bound_request(tenant, method, segments, body, read, in_place=True)
            if plan is not None:
                body = plan.body
        if route.handler is None:  # the front's own answers
            if route.op == "version":
                version = request.cluster.version
                return {"title": TITLE, "version": version, "commit": commit_of(version)}
            return {"aliases": []}  # this engine has no aliases
        if isinstance(body, dict):
            if route.op in ("query", "recommend"):
                _check_lookups(access, body)
            elif route.op == "query_batch" and isinstance(body.get("searches"), list):
                for query in body["searches"]:
                    _check_lookups(access, query)
        try:
            result = await self.engine.execute(request.cluster.id, route.op, name, params, body)
        except StorageError as exc:
            raise tenancy.revealed(plan, exc) from None
        if (not_found := tenancy.stood_in(plan)) is not None:
            raise not_found
        if route.op == "list":
            result = {"collections": [{"name": n} for n in access.visible([c["name"] for c in result["collections"]])]}
        return result

    def finish(self, request: Request, status: int | str, reason: str = "") -> None:
        """The one place a request's outcome is known: its cluster, key,
        protocol, route group, status (an HTTP status or a gRPC code's name),
        why it failed, and how long it took."""
        request.status, request.reason = status, reason
        if self.counting is not None:
            self.counting.ended(request, status, reason)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s cluster=%s key=%s %s %s %.2f ms", request.protocol, request.group,
                         request.cluster.id if request.cluster is not None else None, request.key_id, status,
                         reason, request.elapsed() * 1e3)

    def node_reader(self, request: Request, nodes, route: tuple[str, ...] = ("points",)) -> tenancy.Reader:
        """Reads points from a node with the request's own credential (the node
        checks its access): by ids, or `("points", "scroll")`."""
        async def read(collection: str, read_request: dict) -> list | dict:
            return await self.node_request(request, nodes, "POST", ["collections", collection, *route], {},
                                           read_request)

        return read

    async def node_request(self, request: Request, nodes, method: str, segments: list[str], params: dict, body):
        """One REST request to a node, answered with Qdrant's `result`; its error as StorageError."""
        path = "/" + "/".join(quote(segment, safe="") for segment in segments)
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        try:
            response = await self.proxy.forward(
                nodes=nodes, method=method, path=path, query=urlencode(params).encode(),
                headers=[(b"content-type", b"application/json")], body=data, credential=request.node_credential(),
                idempotent=forwarding.rest_idempotent(method, segments), ca=request.cluster.ca_certificate)
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

    def newest_version(self) -> str:
        """For a key-less gRPC HealthCheck, which names no cluster: the newest version any cluster runs."""
        versions = {c.version for c in self.keystore.current.clusters.values()}

        def order(version: str):
            return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))
        return max(versions, key=order) if versions else "0.0.0"

    async def _check_value_exists(self, cluster_id: str, value_exists: dict) -> auth.Denied | None:
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


def _check_lookups(access: Access, body: dict) -> None:
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
