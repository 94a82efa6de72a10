"""A generic REST pass-through to a cluster's real Qdrant nodes.

Any method, path, query and body goes to one of the ready nodes the caller
names, with no per-route code: the node applies Qdrant's own table of access
to the credential it is given. What the front decides stays with the caller:
which nodes are ready, and which credential to send (a JWT as it came, or the
master key in place of an admin key). This module only carries the request.

- A pool of keep-alive HTTP/1.1 connections per node. When a node leaves the
  ready list (its supervisor reports it down or restarting) or its cluster is
  gone, `keep_only` closes its idle connections at once and one in use when it
  comes back, so the front holds no socket to a node that is not serving.
  The client is a small one of
  our own (asyncio Protocol + httptools' parser, one write per request):
  httpx's pool served ~170 requests/s at 32 concurrent requests here, a
  fraction of what one node answers.
- What passes to a node and when a request goes to the next node is the
  forwarding policy (dataplane/forwarding.py); this module applies it.
- The response body is relayed as the node sent it (no decompression), in
  chunks, so a snapshot download does not sit in memory.
- A node at an https URL (a connected cluster's) is reached over TLS, its
  certificate verified against the CA the caller gives (PEM) or, with none,
  the system's trust store. One TLS context per CA, made once.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from dataplane import forwarding

Headers = list[tuple[bytes, bytes]]


class ConnectFailed(OSError):
    """The connection to the node could not be made: the request never reached it."""


class ConnectionBroken(OSError):
    """The connection failed after the request was sent: the node may have acted on it."""


class NodeStatus(Exception):
    """A node answered with a 5xx that was retried elsewhere."""


class NoNodeAnswered(Exception):
    """Every node was tried and none could be reached. `errors`: each node
    once, in the order first tried, with its last error (an idempotent
    request tries every node more than once)."""

    def __init__(self, errors: list[tuple[str, Exception]]) -> None:
        errors = list(dict(errors).items())
        super().__init__("; ".join(f"{node}: {type(error).__name__}" for node, error in errors) or "no ready node")
        self.errors = errors


# A response body larger than this is read from the node only as the client takes it.
_HIGH_WATER = 1 << 20


class _Connection(asyncio.Protocol):
    """One keep-alive connection to a node, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._reset()

    def _reset(self) -> None:
        self.head: asyncio.Future | None = None
        self.headers: Headers = []
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.done = False
        self.error: BaseException | None = None
        self.wake = asyncio.Event()
        self.paused = False
        self.keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.done:
            self._fail(ConnectionBroken(str(exc) if exc else "the node closed the connection"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(ConnectionBroken(f"bad response: {error}"))
            self.transport.close()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        if self.head is not None and not self.head.done():
            self.head.set_result(self._parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        self.chunks.append(bytes(body))
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self.wake.set()

    def on_message_complete(self) -> None:
        self.done = True
        self.wake.set()

    def _fail(self, error: BaseException) -> None:
        self.error = error
        if self.head is not None and not self.head.done():
            self.head.set_exception(error)
        self.wake.set()

    async def request(self, data: bytes, timeout: float) -> int:
        self._reset()
        loop = asyncio.get_running_loop()
        self.head = loop.create_future()
        self.transport.write(data)
        # One timer on the loop rather than asyncio.wait_for, which wraps the
        # wait in a second future and callbacks: it was the largest of the
        # front's own Python costs per forwarded request (cProfile under load).
        timer = loop.call_later(timeout, self._no_answer, timeout)
        try:
            return await self.head
        finally:
            timer.cancel()

    def _no_answer(self, timeout: float) -> None:
        self._fail(ConnectionBroken(f"no answer within {timeout:g} s"))
        self.transport.close()

    async def body(self) -> AsyncIterator[bytes]:
        while True:
            while self.chunks:
                chunk = self.chunks.popleft()
                self.buffered -= len(chunk)
                if self.paused and self.buffered <= _HIGH_WATER // 2:
                    self.paused = False
                    self.transport.resume_reading()
                yield chunk
            if self.done:
                return
            if self.error is not None:
                raise self.error
            self.wake.clear()
            await self.wake.wait()


class _Pool:
    def __init__(self, node: str, *, connect_timeout: float, max_idle: int,
                 tls: ssl.SSLContext | None = None) -> None:
        url = urlsplit(node)
        self.host, self.port = url.hostname, url.port or (443 if tls else 80)
        self.tls = tls
        self.authority = f"{self.host}:{self.port}".encode()
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.idle: deque[_Connection] = deque()
        self.closed = False  # forgotten: a connection still in use is closed when it comes back

    async def take(self) -> _Connection:
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed and not connection.transport.is_closing():
                return connection
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(_Connection, self.host, self.port, ssl=self.tls,
                                       server_hostname=self.host if self.tls else None), self.connect_timeout)
        except (OSError, TimeoutError) as error:
            raise ConnectFailed(f"{type(error).__name__}: {error}") from error
        return connection

    def give_back(self, connection: _Connection) -> None:
        if (connection.done and connection.keep_alive and not connection.closed and not self.closed
                and len(self.idle) < self.max_idle):
            self.idle.append(connection)
        elif connection.transport is not None:
            connection.transport.close()

    def close(self) -> None:
        self.closed = True
        while self.idle:
            self.idle.pop().transport.close()


@dataclass
class ProxyResponse:
    status: int
    headers: Headers
    node: str
    _connection: _Connection = field(repr=False)
    _pool: _Pool = field(repr=False)
    _released: bool = field(default=False, repr=False)
    failed: tuple[str, ...] = ()  # nodes tried first that did not answer (the front's failover metrics)

    async def body(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._connection.body():
                yield chunk
        finally:
            self._release()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.body()])

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._pool.give_back(self._connection)

    async def aclose(self) -> None:
        self._release()

    async def send_to(self, send) -> None:
        """Relays the response to an ASGI `send`."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        connection = self._connection
        if connection.done:  # all of it came with the head, as most answers do: one message
            body = b"".join(connection.chunks)
            connection.chunks.clear()
            self._release()
            await send({"type": "http.response.body", "body": body})
            return
        async for chunk in self.body():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _encode(method: str, target: str, authority: bytes, headers: Headers, body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1"), b"host: " + authority]
    lines += [name + b": " + value for name, value in headers]
    if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(b"content-length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class NodeProxy:
    def __init__(self, *, connect_timeout: float = 1.0, timeout: float = 60.0, max_connections: int = 64) -> None:
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._max_idle = max_connections
        self._pools: dict[str, _Pool] = {}
        self._tls: dict[bytes | None, ssl.SSLContext] = {}  # by CA certificate (None: the system's)
        self._turn = itertools.count()
        self.failovers = 0  # requests sent to another node after a failed connection

    def _context(self, node: str, ca: bytes | None) -> ssl.SSLContext | None:
        """The TLS context for a node at an https URL (raises ssl.SSLError for a CA that does not load)."""
        if not node.startswith("https://"):
            return None
        context = self._tls.get(ca)
        if context is None:
            context = ssl.create_default_context(cadata=ca.decode("utf-8") if ca else None)
            self._tls[ca] = context
        return context

    def _pool(self, node: str, ca: bytes | None = None) -> _Pool:
        pool = self._pools.get(node)
        tls = self._context(node, ca)
        if pool is not None and pool.tls is not tls:  # the same URL connected again with another CA
            pool.close()
            pool = None
        if pool is None:
            pool = self._pools[node] = _Pool(node, connect_timeout=self._connect_timeout, max_idle=self._max_idle,
                                             tls=tls)
        return pool

    async def forget(self, node: str) -> None:
        """Closes the pooled connections to a node: the idle ones now, one in use when it comes back."""
        pool = self._pools.pop(node, None)
        if pool is not None:
            pool.close()

    async def aclose(self) -> None:
        for node in list(self._pools):
            await self.forget(node)

    async def keep_only(self, nodes) -> None:
        """Closes the pooled connections to every node not in `nodes` (those
        that left the ready list, or whose cluster is gone: a node about to
        restart is not kept waiting for them, and a deleted cluster's nodes
        hold no socket of the front's)."""
        for node in [node for node in self._pools if node not in nodes]:
            await self.forget(node)

    def idle_connections(self) -> dict[str, int]:
        """Node -> idle pooled connections to it (for the control socket's stats)."""
        return {node: len(pool.idle) for node, pool in self._pools.items()}

    async def forward(self, *, nodes: Sequence[str], method: str, path: str, query: bytes = b"",
                      headers: Headers = (), body: bytes = b"", credential: tuple[str, str] | None = None,
                      idempotent: bool | None = None, ca: bytes | None = None) -> ProxyResponse:
        """Sends the request to one of `nodes` (base URLs, e.g.
        `http://127.0.0.1:6333`), taking them in turn, and returns the first
        response any node gives, whatever its status. Nodes at https URLs are
        verified against `ca` (PEM; None: the system's trust store). Raises NoNodeAnswered."""
        method = method.upper()
        if idempotent is None:
            idempotent = forwarding.rest_idempotent(method, None)
        outgoing = forwarding.http_request_headers(list(headers), credential)
        # The raw path as the client sent it (percent-escapes kept), so the
        # node routes exactly what the front authorised.
        target = path + ("?" + query.decode("latin-1") if query else "")
        plan = forwarding.attempts(nodes, next(self._turn), idempotent)
        deadline = asyncio.get_running_loop().time() + self._timeout
        errors: list[tuple[str, Exception]] = []
        for index, (node, pause) in enumerate(plan):
            if pause:
                if deadline - asyncio.get_running_loop().time() <= pause:
                    break
                await asyncio.sleep(pause)
            if index:
                self.failovers += 1
            last = index + 1 == len(plan)
            try:
                pool = self._pool(node, ca)
            except ssl.SSLError as error:  # the CA does not load: no node can be verified
                raise NoNodeAnswered([(node, error)]) from error
            data = _encode(method, target, pool.authority, outgoing, body)
            try:
                connection = await pool.take()
            except ConnectFailed as error:
                errors.append((node, error))
                if not last and forwarding.try_next(reached=False, idempotent=idempotent):
                    continue
                raise NoNodeAnswered(errors) from error
            try:
                status = await connection.request(data, self._timeout)
            except ConnectionBroken as error:
                connection.transport.close()
                errors.append((node, error))
                # The node went away mid-request: it may have acted on it.
                if not last and forwarding.try_next(reached=True, idempotent=idempotent):
                    continue
                raise NoNodeAnswered(errors) from error
            if method == "HEAD":
                connection.done, connection.keep_alive = True, False  # no body follows
            if (status in forwarding.RETRY_STATUSES and not last
                    and forwarding.try_next(reached=True, idempotent=idempotent)):
                connection.transport.close()
                errors.append((node, NodeStatus(str(status))))
                continue
            headers = forwarding.http_response_headers(connection.headers)
            return ProxyResponse(status=status, headers=headers, node=node,
                                 failed=tuple(failed for failed, _ in errors), _connection=connection, _pool=pool)
        raise NoNodeAnswered(errors)
