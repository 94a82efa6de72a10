"""Authenticating a request exactly as Qdrant does, behind Qdrant Cloud's front.

Facts from spec/qdrant-auth.md (Qdrant's src/common/auth): the key
comes from `api-key`, else from `Authorization: Bearer ` (case-sensitive);
admin keys grant global manage; JWTs count only when the cluster's jwt_rbac is
on and are verified with the raw UTF-8 bytes of its master key, HS256 only,
`exp` with 30 s leeway. What the Cloud front adds: the `jti` must be a live
key of that cluster, so a deleted key stops at once and a key the data plane
has not seen is never admitted; and the token must be the one the console
minted for that key (its stored HMAC digest), so a token made with the master
key but never issued - say without an `access` claim - is refused (401).

The order of checks follows the `jsonwebtoken` crate Qdrant uses, since it
decides the status: the header (base64, JSON, alg) first, then the signature
(403 InvalidSignature), then the claims (403 ExpiredSignature before any
other claim error, which is 401).

A verified token is cached in the key set snapshot it was verified against,
by its exact string; every hit still checks expiry and that the key is live.
A change of the key set replaces the snapshot and with it the cache.

Then `refusal` applies what the console adds to a key's life, per request:
a disabled key is refused like an unknown one (401), and so is the old secret
of a rolled key from its deadline on (compared to dataplane.clock); a key
with an IP allowlist is refused (403) from any other address, the client's
address being the socket peer, or what `X-Forwarded-For` says when the peer
is one of TRUSTED_PROXIES (`client_address`: the console's rule too,
keyset/client_address.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json

from dataplane import clock
from dataplane.keystore import TOKEN_CACHE_SIZE, KeyEntry, KeySet
from keyset.client_address import address as _address
from keyset.client_address import client_address  # noqa: F401 (the front's callers read it here)
from keyset.digest import matches
from keyset.rights import FULL, Access, access_from_claim

LEEWAY_SECONDS = 30
_U64_MAX = 2**64 - 1


class Denied:
    """An authentication failure: a status and Qdrant's plain-text body."""

    __slots__ = ("body", "status")

    def __init__(self, status: int, body: str):
        self.status, self.body = status, body

    def __repr__(self) -> str:
        return f"Denied({self.status}, {self.body!r})"


NO_KEY = Denied(401, "Must provide an API key or an Authorization bearer token")
INVALID = Denied(401, "Invalid API key or JWT")
EXPIRED = Denied(403, "ExpiredSignature")
BAD_SIGNATURE = Denied(403, "InvalidSignature")


class Grant:
    """Who is asking: a live key of a cluster, with the access it carries."""

    __slots__ = ("_live_in", "_live_key", "access", "cluster", "exp", "expired", "key", "value_exists")

    def __init__(self, cluster, access: Access, key: KeyEntry, exp: int | None, expired: Denied,
                 live_in: dict, live_key, value_exists: dict | None = None):
        self.cluster = cluster
        self.access = access
        self.key = key
        self.exp = exp  # the deadline: a JWT's `exp` + leeway, an admin key's expiry
        self.expired = expired  # what a request past `exp` gets
        self.value_exists = value_exists
        self._live_in, self._live_key = live_in, live_key


def node_credential(grant: Grant, token: str) -> tuple[str, str]:
    """What the front sends a `qdrant` cluster's node for this grant: a JWT as
    it came (the node applies its access claim itself), the master key in
    place of an admin key (the only full-access key a node knows)."""
    if grant.key.kind == "admin":
        return "api-key", grant.cluster.master_key.decode("utf-8")
    return "api-key", token


def key_from_headers(headers) -> str | None:
    """The `api-key` header, else `Authorization: Bearer <key>` (src/common/auth/mod.rs).

    Like actix's `HeaderValue::to_str`, a value that is not visible ASCII
    counts as absent. The first header of each name is the one read.
    """
    api_key = authorization = None
    for name, value in headers:
        if name == b"api-key" and api_key is None:
            api_key = value
        elif name == b"authorization" and authorization is None:
            authorization = value
    if api_key is not None:
        key = _visible_ascii(api_key)
        if key is not None:
            return key
    if authorization is not None:
        value = _visible_ascii(authorization)
        if value is not None and value.startswith("Bearer "):
            return value[7:]
    return None


def _visible_ascii(value: bytes) -> str | None:
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    if text.isprintable() or text.replace("\t", " ").isprintable():
        return text
    return None


def authenticate(key_set: KeySet, token: str | None, host_cluster: str | None = None) -> Grant | Denied:
    """The grant for `token`, or why it is refused.

    `host_cluster` is the cluster named by the Host header, if any; without it
    the cluster is the one the key belongs to.
    """
    if token is None:
        return NO_KEY
    grant = key_set.tokens.get(token)
    if grant is not None and (host_cluster is None or host_cluster == grant.cluster.id):
        if grant.exp is not None and grant.exp <= clock.now():
            return grant.expired
        if grant._live_in.get(grant._live_key) is grant.key:
            return grant
    return _authenticate(key_set, token, host_cluster, clock.now())


def refusal(key: KeyEntry, client_ip: str | None) -> Denied | None:
    """Why a key that authenticated is refused all the same from `client_ip`, or None."""
    if key.disabled:
        return INVALID
    if key.retires_at is not None and key.retires_at <= clock.now():
        return INVALID  # the old secret of a rolled key, past its grace window
    if key.networks and not _allowed(key.networks, client_ip):
        return Denied(403, f"Forbidden: the address {client_ip or 'unknown'} is not allowed to use this key")
    return None


def _allowed(networks: tuple, client_ip: str | None) -> bool:
    """`networks` as KeyEntry holds them: (version, network as int, netmask as int)."""
    address = _PARSED.get(client_ip, _UNPARSED)
    if address is _UNPARSED:
        parsed = _address(client_ip)
        address = None if parsed is None else (parsed.version, int(parsed))
        if len(_PARSED) >= _PARSED_SIZE:
            _PARSED.clear()
        _PARSED[client_ip] = address
    if address is None:
        return False
    version, value = address
    return any(version == v and value & mask == network for v, network, mask in networks)


# Client addresses already parsed (ipaddress costs microseconds a call): the
# socket peers, or addresses a trusted proxy named; bounded, then started over.
_PARSED: dict = {}
_PARSED_SIZE = 10_000
_UNPARSED = object()


def _authenticate(key_set: KeySet, token: str, host_cluster: str | None, now_exact: float) -> Grant | Denied:
    found = key_set.admin_key_for(token)
    if found is not None and (host_cluster is None or found[1].cluster_id == host_cluster):
        lookup_key, admin = found
        cluster = key_set.clusters.get(admin.cluster_id)
        if cluster is not None and (admin.expires_at is None or admin.expires_at > now_exact):
            # An expired admin key is refused like an unknown one: Qdrant's
            # own api_key never expires, so it has no error of its own.
            grant = Grant(cluster, FULL, admin, admin.expires_at, INVALID, key_set.admin_keys, lookup_key)
            _remember(key_set, token, grant)
            return grant
    now = int(now_exact)

    # A JWT. Its segments, split the way jsonwebtoken does (from the right).
    if not token.isascii():
        return INVALID
    message, dot, signature = token.rpartition(".")
    header_segment, dot2, payload_segment = message.rpartition(".")
    if not dot or not dot2:
        return INVALID
    payload = None
    if host_cluster is not None:
        cluster = key_set.clusters.get(host_cluster)
    else:
        # One port serves every cluster: the key names its cluster through
        # its `jti`, read before verification only to find the master key.
        payload = _json_segment(payload_segment)
        jti = payload.get("jti") if isinstance(payload, dict) else None
        key = key_set.database_keys.get(jti) if isinstance(jti, str) else None
        cluster = key_set.clusters.get(key.cluster_id) if key is not None else None
    if cluster is None or not cluster.jwt_rbac:
        return INVALID

    if not _header_ok(header_segment):
        return INVALID
    expected = base64.urlsafe_b64encode(hmac.digest(cluster.master_key, message.encode("ascii"), "sha256"))
    if not hmac.compare_digest(signature.encode("ascii"), expected.rstrip(b"=")):
        return BAD_SIGNATURE
    if payload is None:
        payload = _json_segment(payload_segment)
    if not isinstance(payload, dict):
        return INVALID
    exp = payload.get("exp")
    exp_is_int = type(exp) is int and 0 <= exp <= _U64_MAX
    if exp_is_int and exp < now - LEEWAY_SECONDS:
        return EXPIRED
    claims = _claims(payload, exp_is_int)
    if claims is None:
        return INVALID
    access, value_exists = claims

    jti = payload.get("jti")
    key = key_set.database_keys.get(jti) if isinstance(jti, str) else None
    if key is None or key.cluster_id != cluster.id or not matches(key_set.peppers, key.pepper_id, key.digest, token):
        # Not a live key of this cluster, or a token its console never
        # minted (made with the master key, e.g. without an access claim).
        return INVALID
    grant = Grant(cluster, access, key, exp + LEEWAY_SECONDS + 1 if exp_is_int else None, EXPIRED,
                  key_set.database_keys, key.id, value_exists)
    if value_exists is None:
        # A value_exists token is checked against the collection on every request.
        _remember(key_set, token, grant)
    return grant


def _remember(key_set: KeySet, token: str, grant: Grant) -> None:
    tokens = key_set.tokens
    if len(tokens) >= TOKEN_CACHE_SIZE:
        tokens.clear()
    tokens[token] = grant


_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {char: index for index, char in enumerate(_ALPHABET)}
# Unused low bits of the last character, by the length of the last group.
_SPARE_BITS = {2: 0b1111, 3: 0b11}


def _b64decode(segment: str) -> bytes:
    """base64url without padding, strictly, as the base64 crate's URL_SAFE_NO_PAD decodes:
    no padding, no characters of the other alphabet, no bits set past the data."""
    if "=" in segment or "+" in segment or "/" in segment:
        raise ValueError("not base64url without padding")
    rest = len(segment) % 4
    if rest:
        spare = _SPARE_BITS.get(rest)
        if spare is None or _VALUE.get(segment[-1], 0) & spare:
            raise ValueError("not canonical base64")
    data = segment.encode("ascii").translate(_TO_STANDARD) + b"=" * (-len(segment) % 4)
    return binascii.a2b_base64(data, strict_mode=True)


def reject_json_constant(name: str):
    """`parse_constant` for json: NaN and Infinity are not JSON, and serde_json refuses them."""
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=reject_json_constant)


def _json_segment(segment: str):
    """The JSON value in a token segment, or None when it is not base64url JSON."""
    try:
        return _DECODER.decode(_b64decode(segment).decode("utf-8"))
    except (ValueError, RecursionError):
        return None


# Headers already found valid: every key the console mints has the same one,
# so it is decoded once. Keyed by the exact segment, the answer cannot differ.
_GOOD_HEADERS: set[str] = set()


def _header_ok(segment: str) -> bool:
    if segment in _GOOD_HEADERS:
        return True
    header = _json_segment(segment)
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not _header_types_ok(header):
        return False
    if len(_GOOD_HEADERS) < 256:
        _GOOD_HEADERS.add(segment)
    return True


_HEADER_STRINGS = ("typ", "cty", "jku", "kid", "x5u", "x5t", "x5t#S256")


def _header_types_ok(header: dict) -> bool:
    for name in _HEADER_STRINGS:
        value = header.get(name)
        if value is not None and not isinstance(value, str):
            return False
    return True


def _optional_str(value) -> bool:
    return value is None or isinstance(value, str)


def _claims(payload: dict, exp_is_int: bool) -> tuple[Access, dict | None] | None:
    """Qdrant's Claims: types checked as serde would, then validated; None means 401."""
    if "exp" in payload and payload["exp"] is not None and not exp_is_int:
        return None  # a float, a string, a negative number: a decode error in Qdrant
    if not _optional_str(payload.get("sub")) or not _optional_str(payload.get("subject")):
        return None
    value_exists = payload.get("value_exists")
    if value_exists is not None and not _value_exists_ok(value_exists):
        return None
    access = access_from_claim(payload["access"]) if "access" in payload else access_from_claim()
    return None if access is None else (access, value_exists)


def _value_exists_ok(value_exists) -> bool:
    if not isinstance(value_exists, dict) or not isinstance(value_exists.get("collection"), str):
        return False
    matches = value_exists.get("matches")
    if not isinstance(matches, list):
        return False
    for match in matches:
        if not isinstance(match, dict) or not isinstance(match.get("key"), str):
            return False
        value = match.get("value")
        if not isinstance(value, (str, int)) or (isinstance(value, int) and not -(2**63) <= value < 2**63):
            return False
    return True

