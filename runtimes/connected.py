"""A Qdrant the team runs elsewhere (Docker, VMs, Kubernetes), reached over
its REST API with its master key: what the console checks before it connects
one, what its health check reads, and the marker points of keys used directly.

Nothing here starts or stops a node: the team's own tooling runs them.
Every call opens its own short-lived client (Connection: close) and never
puts the master key in an error message.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import jwt

TIMEOUT_SECONDS = 5.0


class Refused(Exception):
    """A check failed; `field` names the input that caused it (url, api_key, ca_certificate)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Target:
    """Where a connected cluster listens and how to trust it."""

    url: str
    master_key: str = field(repr=False)
    ca_certificate: str = ""

    @property
    def base(self) -> str:
        return self.url.rstrip("/")


@dataclass(frozen=True)
class Peer:
    id: str
    uri: str  # its p2p URI as the cluster reports it ("" for a single node)


@dataclass(frozen=True)
class Probe:
    version: str  # as `GET /` reports it, without a leading "v"
    peers: tuple[Peer, ...]
    jwt_rbac: bool


def _verify(target: Target) -> ssl.SSLContext | bool:
    if not target.ca_certificate.strip():
        return True
    try:
        return ssl.create_default_context(cadata=target.ca_certificate)
    except (ssl.SSLError, ValueError) as exc:
        raise Refused("ca_certificate", f"This is not a PEM CA certificate ({exc.__class__.__name__}).") from None


def client(target: Target, timeout: float = TIMEOUT_SECONDS) -> httpx.Client:
    return httpx.Client(base_url=target.base, verify=_verify(target), timeout=timeout, trust_env=False,
                        headers={"Connection": "close"})


def _request(http: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response:
    """One request; a failure to reach or trust the server is Refused with the field to blame."""
    try:
        return http.request(method, path, **kwargs)
    except httpx.ConnectError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
            raise Refused("ca_certificate", "The server's TLS certificate is not trusted: give the CA "
                          "certificate (PEM) that signed it.") from None
        if "SSL" in str(exc) or "TLS" in str(exc):
            raise Refused("url", f"TLS failed with this server: {exc}") from None
        raise Refused("url", f"Could not connect to {http.base_url}: {exc}") from None
    except httpx.TimeoutException:
        raise Refused("url", f"{http.base_url} did not answer within {TIMEOUT_SECONDS:g} s.") from None
    except httpx.HTTPError as exc:
        raise Refused("url", f"Could not talk to {http.base_url}: {exc.__class__.__name__}.") from None


def _json(response: httpx.Response, what: str) -> dict:
    try:
        body = response.json()
        if isinstance(body, dict):
            return body
    except ValueError:
        pass
    raise Refused("url", f"The server answered {what} with something that is not Qdrant's JSON.")


def signed_probe_token(master_key: str) -> str:
    """A short-lived read-only JWT signed with the master key: accepted only where jwt_rbac is on."""
    return jwt.encode({"access": "r", "exp": int(time.time()) + 60}, master_key.encode(), algorithm="HS256")


def probe(target: Target) -> Probe:
    """Checks a Qdrant before it is connected, in the order a user fixes things:
    the URL and TLS, that it is Qdrant (`GET /`), the master key, the peers
    (`GET /cluster`) and whether it accepts a JWT signed with the key."""
    scheme = urlsplit(target.url).scheme
    if scheme not in ("http", "https") or not urlsplit(target.url).hostname:
        raise Refused("url", "Give the URL as http(s)://host:port, e.g. https://qdrant.example.com:6333.")
    if target.ca_certificate.strip() and scheme != "https":
        raise Refused("ca_certificate", "A CA certificate is only used with an https:// URL.")
    with client(target) as http:
        root = _json(_request(http, "GET", "/"), "GET /")
        if "version" not in root or "qdrant" not in str(root.get("title", "")):
            raise Refused("url", "This server does not answer GET / as Qdrant does.")
        keyed = {"api-key": target.master_key}
        answer = _request(http, "GET", "/cluster", headers=keyed)
        if answer.status_code in (401, 403):
            raise Refused("api_key", "The cluster refused this master key (service.api_key).")
        if answer.status_code != 200:
            raise Refused("url", f"GET /cluster answered {answer.status_code}.")
        result = _json(answer, "GET /cluster").get("result") or {}
        peers = tuple(Peer(id=str(peer_id), uri=str(info.get("uri", "")))
                      for peer_id, info in sorted((result.get("peers") or {}).items()))
        bearer = {"Authorization": "Bearer " + signed_probe_token(target.master_key)}
        jwt_rbac = _request(http, "GET", "/collections", headers=bearer).status_code == 200
    return Probe(version=str(root["version"]), peers=peers or (Peer(id="", uri=""),), jwt_rbac=jwt_rbac)


def accepts_jwt(target: Target) -> bool:
    with client(target) as http:
        bearer = {"Authorization": "Bearer " + signed_probe_token(target.master_key)}
        return _request(http, "GET", "/collections", headers=bearer).status_code == 200


def collections(target: Target, timeout: float = 2.0) -> list[str]:
    with client(target, timeout) as http:
        response = _request(http, "GET", "/collections", headers={"api-key": target.master_key})
        if response.status_code != 200:
            raise Refused("api_key" if response.status_code in (401, 403) else "url",
                          f"GET /collections answered {response.status_code}")
        try:
            return sorted(str(c["name"]) for c in response.json()["result"]["collections"])
        except (ValueError, KeyError, TypeError):
            raise Refused("url", "GET /collections answered something that is not a collection list") from None


@dataclass(frozen=True)
class Health:
    """What the health check saw: a peer by id that is not ready (peer id -> why), or an error."""

    version: str = ""
    peers: tuple[Peer, ...] = ()
    not_ready: dict[str, str] = field(default_factory=dict)
    error: str = ""


def health(target: Target) -> Health:
    """Readiness, peers and version of a connected cluster, through the URL
    it was connected with: `/readyz` of the node that answers, and a write to
    the console's collection (a replica on every node); when that write
    fails, the peers whose p2p port does not answer are the nodes not ready."""
    try:
        with client(target) as http:
            root = _json(_request(http, "GET", "/"), "GET /")
            ready = _request(http, "GET", "/readyz")
            info = _request(http, "GET", "/cluster", headers={"api-key": target.master_key})
            if info.status_code != 200:
                return Health(error=f"GET /cluster answered {info.status_code}")
            result = _json(info, "GET /cluster").get("result") or {}
            peers = tuple(Peer(id=str(p), uri=str(v.get("uri", "")))
                          for p, v in sorted((result.get("peers") or {}).items())) or (Peer(id="", uri=""),)
            not_ready = {}
            if ready.status_code != 200:
                not_ready[str(result.get("peer_id", ""))] = f"/readyz answered {ready.status_code}"
            failed_write = _heartbeat(http, target)
            if failed_write:
                # Some node did not take a write: find which one.
                not_ready |= _unreachable_peers(peers) or {"": f"a write to every node failed: {failed_write}"}
            return Health(version=str(root.get("version", "")), peers=peers, not_ready=not_ready)
    except Refused as exc:
        return Health(error=exc.message)


# A point of the marker collection that no key's condition matches (keys'
# markers carry their UUID4 id), rewritten by every health check.
HEARTBEAT_ID = "00000000-0000-0000-0000-000000000000"


def _heartbeat(http: httpx.Client, target: Target) -> str:
    """Writes to the marker collection, which has a replica on every node and
    a write consistency of all of them: "" when every node took it, else
    Qdrant's error (which does not say which node failed)."""
    response = http.put(f"/collections/{MARKER_COLLECTION}/points?wait=true", headers={"api-key": target.master_key},
                        json={"points": [{"id": HEARTBEAT_ID, "vector": {}, "payload": {MARKER_FIELD: "heartbeat"}}]})
    if response.status_code == 200:
        return ""
    try:
        return str(response.json()["status"]["error"])[:200]
    except (ValueError, KeyError, TypeError):
        return f"answered {response.status_code}"


def _unreachable_peers(peers: tuple[Peer, ...]) -> dict[str, str]:
    """Peers whose p2p port refuses a TCP connection from here (Qdrant's REST
    API reports no per-peer liveness; its p2p URIs are the only addresses)."""
    found = {}
    for peer in peers:
        parts = urlsplit(peer.uri)
        if not parts.hostname or not parts.port:
            continue
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=2).close()
        except OSError as exc:
            found[peer.id] = f"its p2p port does not answer ({exc.strerror or exc.__class__.__name__})"
    return found


# -- markers of keys used directly (spec/qdrant-auth.md, `value_exists`) -------

# The console's own collection on a connected cluster: one point per live
# key, matched by the `value_exists` claim of that key's JWT.
MARKER_COLLECTION = "qdrant_console_key_markers"
MARKER_FIELD = "key"


def value_exists_claim(key_id: str) -> dict:
    return {"collection": MARKER_COLLECTION, "matches": [{"key": MARKER_FIELD, "value": key_id}]}


def _ok(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise Refused("url", f"{what} answered {response.status_code}: {response.text[:200]}")


def markers_prepare(target: Target, *, replicas: int) -> None:
    """Creates the marker collection if missing: one shard with a replica on
    every node and a write consistency of every replica (so a write or delete
    acknowledged has reached them all, and no replica still holds a marker the
    console deleted), no vectors, and a keyword index on the matched field so
    Qdrant's per-request scroll stays cheap. Safe to repeat."""
    keyed = {"api-key": target.master_key}
    with client(target, timeout=30) as http:
        exists = _request(http, "GET", f"/collections/{MARKER_COLLECTION}/exists", headers=keyed)
        _ok(exists, "GET …/exists")
        if not exists.json()["result"]["exists"]:
            _ok(_request(http, "PUT", f"/collections/{MARKER_COLLECTION}", headers=keyed, json={
                "vectors": {}, "shard_number": 1, "replication_factor": replicas,
                "write_consistency_factor": replicas,
            }), "Creating the marker collection")
        _ok(_request(http, "PUT", f"/collections/{MARKER_COLLECTION}/index?wait=true", headers=keyed,
                     json={"field_name": MARKER_FIELD, "field_schema": "keyword"}), "Indexing the marker field")
        _replicas_active(http, keyed, replicas)


def _replicas_active(http: httpx.Client, keyed: dict, replicas: int, timeout: float = 15.0) -> None:
    """Waits until every replica of the new collection is Active: a write of
    every replica made before (the first marker) would fail."""
    deadline = time.monotonic() + timeout
    while True:
        info = _request(http, "GET", f"/collections/{MARKER_COLLECTION}/cluster", headers=keyed)
        if info.status_code == 200:
            result = info.json().get("result") or {}
            shards = result.get("local_shards", []) + result.get("remote_shards", [])
            if len(shards) >= replicas and all(shard.get("state") == "Active" for shard in shards):
                return
        if time.monotonic() > deadline:
            raise Refused("url", f"The console's collection on the cluster did not get {replicas} active replicas "
                                 f"within {timeout:g} s.")
        time.sleep(0.1)


def _point_id(key_id: str) -> str:
    return key_id  # a key's id is a UUID, which Qdrant takes as a point id


def marker_put(target: Target, key_id: str) -> None:
    with client(target) as http:
        _ok(_request(http, "PUT", f"/collections/{MARKER_COLLECTION}/points?wait=true&ordering=strong",
                     headers={"api-key": target.master_key},
                     json={"points": [{"id": _point_id(key_id), "vector": {}, "payload": {MARKER_FIELD: key_id}}]}),
            "Writing a key's marker")


def marker_delete(target: Target, key_ids: list[str]) -> None:
    if not key_ids:
        return
    with client(target) as http:
        _ok(_request(http, "POST", f"/collections/{MARKER_COLLECTION}/points/delete?wait=true&ordering=strong",
                     headers={"api-key": target.master_key},
                     json={"points": [_point_id(k) for k in key_ids]}),
            "Deleting a key's marker")


def markers_present(target: Target) -> list[str]:
    """The key ids that have a marker now (the heartbeat is not a key)."""
    found, offset = [], None
    with client(target) as http:
        while True:
            body = {"limit": 1000, "with_payload": [MARKER_FIELD], "with_vector": False}
            if offset is not None:
                body["offset"] = offset
            response = _request(http, "POST", f"/collections/{MARKER_COLLECTION}/points/scroll",
                                headers={"api-key": target.master_key}, json=body)
            _ok(response, "Reading the markers")
            result = response.json()["result"]
            found += [str(p["payload"].get(MARKER_FIELD)) for p in result["points"] if p["id"] != HEARTBEAT_ID]
            offset = result.get("next_page_offset")
            if offset is None:
                return found
