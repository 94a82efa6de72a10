"""A generic REST pass-through to a cluster's real Qdrant nodes.

Any method, path, query and body goes to one of the ready nodes the caller
names, with no per-route code: the node applies Qdrant's own table of access
to the credential it is given. What the front decides stays with the caller:
which nodes are ready, and which credential to send (a JWT as it came, or the
master key in place of an admin key). This module only carries the request.

- One pooled HTTP/1.1 client per node, so `forget(node)` can drop a node's
  idle connections before it is stopped (Qdrant's graceful shutdown otherwise
  waits up to 5 s for them).
- Hop-by-hop headers (RFC 9110 §7.6.1: Connection and the headers it names,
  Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*) are not
  forwarded either way; neither are the client's credentials or cookies: only
  the one credential header the caller passes reaches the node.
- A request whose connection failed (refused, reset before any response) is
  retried on the next node; one that may have reached a node is retried only
  when it is idempotent (by method, or as the caller says: Qdrant's
  `POST …/points/query` is a read), and so is an idempotent request answered
  with a 5xx while another node is left to try.
- The response body is relayed as the node sent it (no decompression), in
  chunks, so a snapshot download does not sit in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
    b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
# Credentials and what the transport sets itself; the caller's credential is added back.
_NOT_FORWARDED = frozenset({b"api-key", b"authorization", b"cookie", b"host", b"content-length"})
_CLIENT_DEFAULTS = frozenset({b"accept-encoding", b"user-agent", b"accept"})
CREDENTIAL_HEADERS = frozenset({"api-key", "authorization"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})


class NoNodeAnswered(Exception):
    """Every node was tried and none could be reached."""

    def __init__(self, errors: list[tuple[str, Exception]]) -> None:
        super().__init__("; ".join(f"{node}: {type(error).__name__}" for node, error in errors) or "no ready node")
        self.errors = errors


def _connection_tokens(headers: Headers) -> set[bytes]:
    tokens = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return tokens


def request_headers(headers: Headers, credential: tuple[str, str] | None) -> Headers:
    """The headers to send to a node: the client's, minus hop-by-hop headers,
    credentials and cookies, plus the one credential the caller chose."""
    named = _connection_tokens(headers)
    kept = [(name, value) for name, value in headers
            if (lowered := name.lower()) not in HOP_BY_HOP and lowered not in _NOT_FORWARDED and lowered not in named]
    if credential is not None:
        name, value = credential
        if name.lower() not in CREDENTIAL_HEADERS:
            raise ValueError(f"not a credential Qdrant reads: {name}")
        kept.append((name.lower().encode(), value.encode()))
    return kept


def response_headers(headers: Headers) -> Headers:
    named = _connection_tokens(headers)
    return [(name, value) for name, value in headers
            if (lowered := name.lower()) not in HOP_BY_HOP and lowered not in named]


@dataclass
class ProxyResponse:
    status: int
    headers: Headers
    node: str
    _response: httpx.Response

    async def body(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        finally:
            await self._response.aclose()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.body()])

    async def aclose(self) -> None:
        await self._response.aclose()

    async def send_to(self, send) -> None:
        """Relays the response to an ASGI `send`."""
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        async for chunk in self.body():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


class NodeProxy:
    def __init__(self, *, connect_timeout: float = 1.0, timeout: float = 60.0, max_connections: int = 64) -> None:
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._turn = itertools.count()
        self.failovers = 0  # requests sent to another node after a failed connection

    def _client(self, node: str) -> httpx.AsyncClient:
        client = self._clients.get(node)
        if client is None:
            client = self._clients[node] = httpx.AsyncClient(
                base_url=node, timeout=self._timeout, limits=self._limits, trust_env=False, follow_redirects=False,
            )
        return client

    async def forget(self, node: str) -> None:
        """Closes the pooled connections to a node (before it is stopped)."""
        client = self._clients.pop(node, None)
        if client is not None:
            await client.aclose()

    async def aclose(self) -> None:
        for node in list(self._clients):
            await self.forget(node)

    async def forward(self, *, nodes: Sequence[str], method: str, path: str, query: bytes = b"",
                      headers: Headers = (), body: bytes = b"", credential: tuple[str, str] | None = None,
                      idempotent: bool | None = None) -> ProxyResponse:
        """Sends the request to one of `nodes` (base URLs, e.g.
        `http://127.0.0.1:6333`), taking them in turn, and returns the first
        response any node gives, whatever its status. Raises NoNodeAnswered."""
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT_METHODS
        outgoing = request_headers(list(headers), credential)
        sent_names = {name.lower() for name, _ in outgoing}
        # The raw path as the client sent it (percent-escapes kept), so the
        # node routes exactly what the front authorised.
        target = path + ("?" + query.decode("latin-1") if query else "")
        start = next(self._turn)
        errors: list[tuple[str, Exception]] = []
        for offset in range(len(nodes)):
            node = nodes[(start + offset) % len(nodes)]
            if offset:
                self.failovers += 1
            client = self._client(node)
            request = client.build_request(method, target, headers=outgoing, content=body)
            for name in _CLIENT_DEFAULTS - sent_names:
                # httpx adds these by itself; a node asked for gzip by us would
                # compress a body we relay raw to a client that never asked.
                request.headers.pop(name.decode(), None)
            try:
                response = await client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                errors.append((node, error))  # never reached the node: safe to send elsewhere
                continue
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as error:
                # The node went away mid-request: it may have acted on it.
                errors.append((node, error))
                if idempotent:
                    continue
                raise NoNodeAnswered(errors) from error
            if idempotent and response.status_code in RETRY_STATUSES and offset + 1 < len(nodes):
                # A node that just restarted may answer a read for a replica it
                # has not loaded yet ("Local shard 2 not found", 500) before
                # its peers stop routing to it: another node will answer.
                await response.aclose()
                errors.append((node, httpx.HTTPStatusError(str(response.status_code), request=request,
                                                           response=response)))
                continue
            return ProxyResponse(status=response.status_code, headers=response_headers(response.headers.raw),
                                 node=node, _response=response)
        raise NoNodeAnswered(errors)
