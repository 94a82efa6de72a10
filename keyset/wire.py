"""The contract's wire: how a front asks the console for the key set, over HTTP(S) and JSON.

The console serves (fronts/views.py); the fronts ask (dataplane/console.py).
Every request carries `Authorization: Bearer <KEYSET_CREDENTIAL>` (made by
`manage.py create_front_credential`), `X-Front-Instance` (which process of
which front: the console lists it and waits for it) and `X-Front-Applied`
(the last change it applied: the acknowledgement read-your-writes waits for).

- GET SNAPSHOT_PATH: the whole key set. `{"epoch": [token, pruned_below],
  "recent": [change ids, newest first], "peppers": {id: pepper},
  "clusters": [CLUSTER...], "database_keys": [DATABASE_KEY...],
  "admin_keys": [ADMIN_KEY...], "nodes": [NODE...], "front": name,
  "peer_token": token, "peers": [digest...]}`: `front` is the asking
  front's credential name and `peer_token` its own secret for storage
  operations it forwards to another front (below); `peers` the
  `peer_digest` of every live front's token (a revocation or a new front is
  a change that names nothing: every front loads a snapshot).
- GET CHANGES_PATH?after=N&also=i,j: the ordered stream after change N (and
  the ids in `also`, holes below N not committed when last read):
  `{"epoch": ..., "changes": [CHANGE...], "nodes": [...]}` and, unless the
  front must load a snapshot anyway (more than MAX_BEHIND new, or a change
  that names nothing), the rows of what they name as they stand now:
  `"clusters"` (named clusters; one missing is deleted), `"database_keys"`
  and `"admin_keys"` (of those clusters, and the keys named; one missing is
  no longer live).
  With `wait=S` (a long-poll, up to MAX_WAIT_SECONDS) the console answers
  only once there is something to say: a change after N or among `also`,
  change N gone from the log (pruned or flushed), the nodes no longer those
  whose `nodes_digest` the front sent as `nodes=`, or S seconds passed. A
  console with all its long-polls busy answers at once (the front then
  polls). A front learns of a change as soon as it commits.
- POST CLAIM_PATH `{"cluster": id, "address": STORAGE_ADDRESS or ""}`: the
  asking front claims an `embedded` cluster's storage, the first time it
  needs it; the console answers the owner, `{"front": name, "address": ...}`
  (the asker, unless another front owned it first; the owner's own claim
  updates its address). A new owner is a change of the cluster's row.
- POST COLLECTIONS_PATH `{"cluster": id, "names": [...]}`: the owner reports
  the cluster's collection names (on opening its storage, and when they
  change); 409 from a front that does not own it.
- Between fronts, no console: a front that does not own an embedded
  cluster sends the storage operation it admitted to the owner's
  STORAGE_ADDRESS, `tcp://host:port` or `tls://host:port` (TLS verified
  against KEYSET_CA_FILE, else the system's CAs): one JSON line
  `{"cluster", "op", "name", "params", "body", "peer": its peer token}`, one
  line back, `{"ok": true, "result": ...}` or `{"ok": false, "status": ...,
  "error": ...}` (Qdrant's status and message). The owner refuses a token
  whose `peer_digest` is not among its snapshot's `peers` (dataplane/engine.py).
- POST ACK_PATH `{"applied": N}`: sent as soon as a change is applied.
- POST LAST_USED_PATH `{"uses": [[kind, key id, when, ip, protocol], ...],
  "usage": [USAGE...]}`: each key's latest use, and the requests counted
  since the last report (keyset/usage.py's ROW; a bare list of uses is
  accepted from fronts that count none).

Rows are JSON arrays (ids as strings, times as seconds since the epoch), of
these fields; a cluster's master key is null when the console cannot decrypt it.
A cluster whose nodes are reached elsewhere (runtime "connected", through the
front) says whether they serve TLS (`tls`) and the CA certificate (PEM) to
verify them with (`ca_certificate`; null: the system's trust store). Neither
is secret; a front of an older version reads the first five fields only.
An embedded cluster's `owner` (the front credential's name holding its
storage, null: none yet) and `owner_address` (its STORAGE_ADDRESS, "" when
it takes no operation from other hosts) come last.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

SNAPSHOT_PATH = "/contract/v1/snapshot"
CHANGES_PATH = "/contract/v1/changes"
ACK_PATH = "/contract/v1/ack"
LAST_USED_PATH = "/contract/v1/last-used"
CLAIM_PATH = "/contract/v1/claim"
COLLECTIONS_PATH = "/contract/v1/collections"

INSTANCE_HEADER = "X-Front-Instance"
APPLIED_HEADER = "X-Front-Applied"

CLUSTER = ("id", "version", "jwt_rbac", "master_key", "runtime", "tls", "ca_certificate", "owner", "owner_address")
# What the front checks per request besides the secret, at the end of each key's row.
LIFECYCLE = ("disabled", "retires_at", "allowed_networks")
# `tenant`: a tenant-bound key's binding, keyset.tenant.tenant_to_wire's list, or null.
DATABASE_KEY = ("id", "cluster_id", "expires_at", "pepper_id", "digest", "tenant", *LIFECYCLE)
ADMIN_KEY = ("id", "cluster_id", "pepper_id", "digest", "expires_at", *LIFECYCLE)
NODE = ("cluster_id", "index", "ready", "http_url", "grpc_target")
CHANGE = ("id", "kind", "cluster_id", "key_id")

# A key's last use is written at most once per this many seconds per address and protocol (NetBox's rule).
LAST_USED_INTERVAL_SECONDS = 60

# More new changes than this: a snapshot is cheaper than catching up.
MAX_BEHIND = 1000

# The longest a console holds GET CHANGES_PATH?wait=.
MAX_WAIT_SECONDS = 60.0


def nodes_digest(rows) -> str:
    """A short digest of NODE rows as the wire carries them: a long-poll
    answers when the console's differ from the front's."""
    text = json.dumps(plain(list(rows)), separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def peer_digest(token: str) -> str:
    """What the fronts hold of another front's peer token: its SHA-256 (the
    token is a 256-bit HMAC output, so no pepper is needed against guessing)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def plain(value):
    """A row (or a value in one) as JSON holds it."""
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def credential_parts(credential: str) -> tuple[str, str] | None:
    """(credential id, secret) of `<id>.<secret>`; None when it is not of that shape."""
    ident, dot, secret = credential.partition(".")
    if not dot or not ident or not secret:
        return None
    return ident, secret
