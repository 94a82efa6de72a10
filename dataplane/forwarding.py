"""The forwarding policy: what reaches a `qdrant` cluster's node, and when a
request may go to another node. One place for both protocols; the transports
(dataplane/proxy.py for REST, dataplane/grpcfront.py for gRPC) only apply it.

- Credentials: the client's never pass; the front adds the one it chose
  (dataplane.auth.node_credential: a JWT as it came, the master key in place
  of an admin key).
- REST headers: hop-by-hop ones (RFC 9110 §7.6.1: Connection and the headers
  it names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*)
  pass neither way; nor cookies, Host and Content-Length (the transport sets
  them), Expect (the front has read the whole body: no 100 Continue from a
  node) or Origin (the front answers CORS itself, once).
- gRPC metadata: what the transport sets per hop (user-agent, te,
  content-type, host, `grpc-*`, pseudo-headers) does not pass.
- Failover: a request that never reached a node (the connection failed) goes
  to the next one; one that may have reached it goes on only when it is
  idempotent, and then also when the node answered with a server error (a
  node that just restarted may answer for a replica it has not loaded yet,
  "Local shard 2 not found", before its peers stop routing to it).
  An idempotent request that failed on every ready node gets another round
  after a pause, within its deadline: just after a node goes away its peers
  may still route a shard's read to the replica it held ("1 of 1 read
  operations failed ... Connection refused") until consensus marks that
  replica dead, so every ready node fails the same read for a moment.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

CREDENTIALS = frozenset({"api-key", "authorization"})

HTTP_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
    b"te", b"trailer", b"transfer-encoding", b"upgrade",
})
HTTP_NOT_FORWARDED = frozenset({name.encode() for name in CREDENTIALS}
                               | {b"cookie", b"host", b"content-length", b"expect", b"origin"})
GRPC_NOT_FORWARDED = CREDENTIALS | {"user-agent", "te", "content-type", "host"}
GRPC_PER_HOP_PREFIXES = ("grpc-", ":")

# Answers after which an idempotent request goes to the next node.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL})
# gRPC reports a connection that could not be made as UNAVAILABLE with one of these.
GRPC_CONNECT_FAILED = ("failed to connect", "connection refused", "connect failed")

# Pauses before the second and third rounds over the nodes (idempotent requests only).
RETRY_PAUSES = (0.1, 0.4)

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Qdrant's gRPC methods that would act twice (a second snapshot, an alias swap replayed).
_GRPC_NOT_IDEMPOTENT = frozenset({
    "/qdrant.Collections/UpdateAliases", "/qdrant.Collections/UpdateCollectionClusterSetup",
    "/qdrant.Collections/CreateShardKey", "/qdrant.Collections/DeleteShardKey",
    "/qdrant.Snapshots/Create", "/qdrant.Snapshots/CreateFull",
})
_GRPC_IDEMPOTENT_SERVICES = ("/qdrant.Points/", "/qdrant.Collections/", "/qdrant.Snapshots/", "/qdrant.Qdrant/")


def rest_idempotent(method: str, segments: list[str] | None) -> bool:
    """By method, and for POST: Qdrant's point reads (query, search, scroll,
    count, recommend, facet ...) and point writes, whose effect is the same
    when applied twice (they name their points). Other POSTs (snapshots,
    aliases, cluster operations) are not."""
    if method != "POST":
        return method in _IDEMPOTENT_METHODS
    if not segments or len(segments) < 3 or segments[0] != "collections":
        return False
    return segments[2] in ("points", "facet")


def grpc_idempotent(method: str) -> bool:
    """Reads, and writes with the same effect applied twice, as for REST."""
    return method.startswith(_GRPC_IDEMPOTENT_SERVICES) and method not in _GRPC_NOT_IDEMPOTENT


def attempts(nodes: Sequence[str], start: int, idempotent: bool) -> list[tuple[str, float]]:
    """(node, pause before trying it), in the order a request tries them:
    every node once from the `start`-th (nodes take turns), then, for an
    idempotent request, again after each of RETRY_PAUSES."""
    order = [nodes[(start + n) % len(nodes)] for n in range(len(nodes))]
    pauses = (0.0, *RETRY_PAUSES) if idempotent else (0.0,)
    return [(node, pause if n == 0 else 0.0) for pause in pauses for n, node in enumerate(order)]


def try_next(*, reached: bool, idempotent: bool) -> bool:
    """Whether a request that failed on one node goes to the next: always when
    it never reached the node, else only when it is idempotent."""
    return not reached or idempotent


def http_connection_tokens(headers) -> set[bytes]:
    tokens = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(token.strip().lower() for token in value.split(b",") if token.strip())
    return tokens


def http_request_headers(headers, credential: tuple[str, str] | None) -> list[tuple[bytes, bytes]]:
    """The headers to send to a node: the client's, minus what does not pass,
    plus the one credential the front chose."""
    named = http_connection_tokens(headers)
    kept = [(name, value) for name, value in headers
            if (lowered := name.lower()) not in HTTP_HOP_BY_HOP and lowered not in HTTP_NOT_FORWARDED
            and lowered not in named]
    if credential is not None:
        name, value = credential
        if name.lower() not in CREDENTIALS:
            raise ValueError(f"not a credential Qdrant reads: {name}")
        kept.append((name.lower().encode(), value.encode()))
    return kept


def http_response_headers(headers) -> list[tuple[bytes, bytes]]:
    """A node's answer, minus hop-by-hop headers and its Date (the front's server adds one)."""
    named = http_connection_tokens(headers)
    return [(name, value) for name, value in headers
            if (lowered := name.lower()) not in HTTP_HOP_BY_HOP and lowered not in named and lowered != b"date"]


def grpc_metadata(metadata, credential: tuple[str, str]) -> list[tuple[str, str]]:
    """The metadata to send to a node: the client's, minus what does not pass, plus the credential."""
    kept = [(key, value) for key, value in metadata
            if key not in GRPC_NOT_FORWARDED and not key.startswith(GRPC_PER_HOP_PREFIXES)]
    kept.append(credential)
    return kept
