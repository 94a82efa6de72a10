"""The auth decision itself, in-process: every row of qdrant-auth.md's error table,
and a property test that no input makes it raise."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import django.conf
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from createonce.digests import current_pepper_id, token_digest
from dataplane import auth
from keyset.rights import FULL, Forbidden
from dataplane.keystore import ClusterEntry, KeyEntry, KeySet

MASTER = "master-key-of-the-cluster-0123456789abcdef"
OTHER_MASTER = "master-key-of-another-cluster-0123456789ab"
# The data plane checks a database key's digest under the configured peppers
# (createonce.digests.token_matches), as the console made it.
PEPPER_ID = current_pepper_id()
CLUSTER = str(uuid.uuid4())
OTHER = str(uuid.uuid4())


def make_key_set(*, jwt_rbac: bool = True) -> KeySet:
    return KeySet(
        generation=(1, None),
        clusters={
            CLUSTER: ClusterEntry(CLUSTER, "1.19.0", jwt_rbac, MASTER.encode()),
            OTHER: ClusterEntry(OTHER, "1.18.2", True, OTHER_MASTER.encode()),
        },
        database_keys={},
        admin_keys={},
        peppers={PEPPER_ID: django.conf.settings.API_KEY_PEPPERS[PEPPER_ID].encode()},
    )


def digest(token: str) -> str:
    return token_digest(token, PEPPER_ID)


def minted(key_set: KeySet, claims: dict | None = None, *, cluster=CLUSTER, master=MASTER, algorithm="HS256",
           expires_at=None, **extra) -> str:
    """A token as the console mints it, recorded as a live key of `cluster`."""
    key_id = str(uuid.uuid4())
    claims = {"access": "m", "jti": key_id, **(claims or {})}
    token = jwt.encode(claims, master.encode(), algorithm=algorithm, headers={"typ": "JWT"}, **extra)
    key_set.database_keys[key_id] = KeyEntry(key_id, cluster, "database", expires_at, PEPPER_ID, digest(token))
    return token


def add_admin_key(key_set: KeySet, secret: str, cluster=CLUSTER, expires_at=None) -> None:
    key_id = str(uuid.uuid4())
    key_set.admin_keys[(PEPPER_ID, digest(secret))] = KeyEntry(key_id, cluster, "admin", expires_at)


def decide(key_set, token, host=None):
    result = auth.authenticate(key_set, token, host)
    if isinstance(result, auth.Denied):
        return result.status, result.body
    return result


def headers(**values) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value if isinstance(value, bytes) else value.encode())
            for name, value in values.items()]


# Reading the key from the request.


def test_it_reads_the_api_key_header():
    assert auth.key_from_headers(headers(api_key="abc")) == "abc"


def test_it_reads_a_bearer_token():
    assert auth.key_from_headers(headers(authorization="Bearer abc")) == "abc"


def test_the_bearer_prefix_is_case_sensitive():
    assert auth.key_from_headers(headers(authorization="bearer abc")) is None


def test_api_key_wins_over_authorization():
    assert auth.key_from_headers(headers(api_key="one", authorization="Bearer two")) == "one"


def test_a_non_ascii_api_key_counts_as_absent():
    assert auth.key_from_headers(headers(api_key="clé".encode())) is None
    assert auth.key_from_headers(headers(api_key="clé".encode(), authorization="Bearer two")) == "two"


# The error table.


def test_it_rejects_a_request_without_key():
    assert decide(make_key_set(), None) == (401, "Must provide an API key or an Authorization bearer token")


def test_it_rejects_an_unknown_key():
    assert decide(make_key_set(), "not-a-key") == (401, "Invalid API key or JWT")


@pytest.mark.parametrize("algorithm", ["HS512", "HS384"])
def test_it_rejects_other_hmac_algorithms(algorithm):
    key_set = make_key_set()
    token = minted(key_set, algorithm=algorithm)
    assert decide(key_set, token) == (401, "Invalid API key or JWT")


def test_it_rejects_alg_none():
    key_set = make_key_set()
    good = minted(key_set)
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    token = header + "." + good.split(".")[1] + "."
    key_set.database_keys[jwt.decode(good, options={"verify_signature": False})["jti"]] = KeyEntry(
        "x", CLUSTER, "database", None, PEPPER_ID, digest(token))
    assert decide(key_set, token) == (401, "Invalid API key or JWT")


def test_it_rejects_rs256():
    from cryptography.hazmat.primitives.asymmetric import rsa

    key_set = make_key_set()
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = str(uuid.uuid4())
    token = jwt.encode({"access": "m", "jti": key_id}, private, algorithm="RS256")
    key_set.database_keys[key_id] = KeyEntry(key_id, CLUSTER, "database", None, PEPPER_ID, digest(token))
    assert decide(key_set, token) == (401, "Invalid API key or JWT")


def test_it_rejects_a_token_signed_with_another_key():
    key_set = make_key_set()
    token = minted(key_set, master=OTHER_MASTER)
    assert decide(key_set, token) == (403, "InvalidSignature")


def test_it_rejects_a_tampered_payload():
    key_set = make_key_set()
    token = minted(key_set, {"access": "r"})
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["access"] = "m"
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), signature])
    assert decide(key_set, forged) == (403, "InvalidSignature")


def test_it_rejects_an_expired_key():
    key_set = make_key_set()
    token = minted(key_set, {"exp": int(time.time()) - 31})
    assert decide(key_set, token) == (403, "ExpiredSignature")


def test_it_accepts_a_key_within_the_leeway():
    key_set = make_key_set()
    token = minted(key_set, {"exp": int(time.time()) - 25})
    assert isinstance(decide(key_set, token), auth.Grant)


def test_it_rejects_a_float_exp():
    key_set = make_key_set()
    token = minted(key_set, {"exp": time.time() + 3600.5})
    assert decide(key_set, token) == (401, "Invalid API key or JWT")


def test_it_rejects_a_token_without_access_claim_that_the_console_never_minted():
    key_set = make_key_set()
    token = minted(key_set)
    key_id = jwt.decode(token, options={"verify_signature": False})["jti"]
    made_with_master_key = jwt.encode({"jti": key_id}, MASTER.encode(), algorithm="HS256")
    assert decide(key_set, made_with_master_key) == (401, "Invalid API key or JWT")


def test_it_rejects_a_duplicate_collection():
    key_set = make_key_set()
    token = minted(key_set, {"access": [{"collection": "a", "access": "r"}, {"collection": "a", "access": "rw"}]})
    assert decide(key_set, token) == (401, "Invalid API key or JWT")


def test_it_rejects_the_removed_payload_restriction():
    key_set = make_key_set()
    token = minted(key_set, {"access": [{"collection": "a", "access": "r", "payload": {"user": "x"}}]})
    assert decide(key_set, token) == (401, "Invalid API key or JWT")


def test_it_rejects_a_jwt_while_rbac_is_off():
    key_set = make_key_set(jwt_rbac=False)
    token = minted(key_set)
    assert decide(key_set, token) == (401, "Invalid API key or JWT")


def test_it_rejects_a_key_it_has_not_seen():
    key_set = make_key_set()
    token = minted(key_set)
    key_set.database_keys.clear()
    assert decide(key_set, token) == (401, "Invalid API key or JWT")


def test_a_key_of_another_cluster_is_refused_by_host():
    key_set = make_key_set()
    theirs = minted(key_set, cluster=OTHER, master=OTHER_MASTER)
    assert decide(key_set, theirs).cluster.id == OTHER
    assert decide(key_set, theirs, host=CLUSTER) == (403, "InvalidSignature")


def test_an_admin_key_grants_manage_on_its_cluster_only():
    key_set = make_key_set(jwt_rbac=False)
    add_admin_key(key_set, "admin-secret-" + "s" * 40)
    grant = decide(key_set, "admin-secret-" + "s" * 40)
    assert grant.cluster.id == CLUSTER and grant.access is FULL
    assert decide(key_set, "admin-secret-" + "s" * 40, host=OTHER) == (401, "Invalid API key or JWT")


def test_an_expired_admin_key_is_refused():
    key_set = make_key_set()
    add_admin_key(key_set, "admin-secret-" + "e" * 40, expires_at=time.time() - 1)
    assert decide(key_set, "admin-secret-" + "e" * 40) == (401, "Invalid API key or JWT")


def test_a_cached_token_is_still_checked_for_expiry(monkeypatch):
    key_set = make_key_set()
    exp = int(time.time()) + 60
    token = minted(key_set, {"exp": exp})
    assert isinstance(decide(key_set, token), auth.Grant)
    assert token in key_set.tokens
    monkeypatch.setattr(time, "time", lambda: exp + 31.0)
    assert decide(key_set, token) == (403, "ExpiredSignature")


def test_a_cached_token_is_still_checked_for_revocation():
    key_set = make_key_set()
    token = minted(key_set)
    assert isinstance(decide(key_set, token), auth.Grant)
    key_set.database_keys.clear()
    assert decide(key_set, token) == (401, "Invalid API key or JWT")


# The table of access.


def grant_for(access) -> auth.Grant:
    key_set = make_key_set()
    return decide(key_set, minted(key_set, {"access": access}))


@pytest.mark.parametrize("access, check, message", [
    ("r", lambda a: a.check_global_manage(), "Global manage access is required"),
    ("r", lambda a: a.check_collection("c", write=True), "Global manage access is required"),
    ([{"collection": "c", "access": "r"}], lambda a: a.check_global_manage(), "Global access is required"),
    ([{"collection": "c", "access": "r"}], lambda a: a.check_collection("d"), "Access to collection d is required"),
    ([{"collection": "c", "access": "r"}], lambda a: a.check_collection("c", write=True),
     "Write access to collection c is required"),
])
def test_forbidden_messages_are_qdrants(access, check, message):
    with pytest.raises(Forbidden) as raised:
        check(grant_for(access).access)
    assert raised.value.message == message


# Property: whatever the token, a clean answer, never an exception.

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
claims_strategy = st.dictionaries(
    st.sampled_from(["access", "exp", "sub", "subject", "value_exists", "jti", "iat", "payload"]) | st.text(max_size=6),
    json_values | st.sampled_from(["r", "m", "rw"]) | st.lists(
        st.fixed_dictionaries({"collection": st.text(max_size=5) | json_values,
                               "access": st.sampled_from(["r", "rw", "prw", "m", 1])}), max_size=3),
    max_size=6,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims=claims_strategy, header=st.dictionaries(st.sampled_from(["alg", "typ", "kid", "cty"]), json_values),
       use_host=st.booleans(), register=st.booleans())
def test_any_signed_token_gets_a_grant_or_a_clean_refusal(claims, header, use_host, register):
    key_set = make_key_set()
    header = {"alg": "HS256", **header}
    message = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    token = message + "." + b64(hmac.new(MASTER.encode(), message.encode(), hashlib.sha256).digest())
    if register and isinstance(claims.get("jti"), str):
        key_set.database_keys[claims["jti"]] = KeyEntry(claims["jti"], CLUSTER, "database", None, PEPPER_ID,
                                                        digest(token))
    result = auth.authenticate(key_set, token, CLUSTER if use_host else None)
    if isinstance(result, auth.Denied):
        assert (result.status, result.body) in {(401, "Invalid API key or JWT"), (403, "ExpiredSignature")}
    else:
        assert register and header.get("alg") == "HS256" and result.cluster.id == CLUSTER


@settings(max_examples=400, deadline=None)
@given(token=st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
       position=st.integers(min_value=0), replacement=st.characters())
def test_any_string_or_mutated_token_gets_a_clean_refusal(token, position, replacement):
    key_set = make_key_set()
    good = minted(key_set, {"access": "r"})
    mutated = good[: position % len(good)] + replacement + good[position % len(good) + 1:]
    for candidate in (token, mutated, good + token, token + "." + token):
        result = auth.authenticate(key_set, candidate)
        if isinstance(result, auth.Denied):
            assert result.status in (401, 403)
        else:
            assert candidate == good
