"""Minting database API keys as the JWTs Qdrant verifies and admin keys as
random secrets (both are stored as createonce/digests.py digests them).

The token format follows spec/qdrant-auth.md to the letter: HS256
over the raw UTF-8 bytes of the cluster's master key, a header serialised
alg first (so every key starts with "eyJhb"), an explicit `access` claim, an
integer `exp` only when the key expires, and the key's id in `jti`.
"""

import secrets

import jwt
from django.views.decorators.debug import sensitive_variables

from apikeys.models import DatabaseApiKey
from clusters.runtime import runtime_for

# Qdrant rejects every other algorithm as "not a JWT".
ALGORITHM = "HS256"

# Random bytes in an admin key. Lists show the last 6 characters (36 bits),
# so 320 bits keeps more than 256 of them secret.
ADMIN_KEY_BYTES = 40


def access_claim(rules: list[dict]) -> str | list[dict]:
    """Qdrant Cloud's access rules as the `access` claim.

    Always explicit: Qdrant reads a missing `access` as global manage.
    """
    if len(rules) == 1 and rules[0]["collection"] is None:
        return rules[0]["access"]  # "m" or "r"
    return [{"collection": rule["collection"], "access": rule["access"]} for rule in rules]


def claims_for(key: DatabaseApiKey) -> dict:
    claims = {"access": access_claim(key.rules), "jti": str(key.id)}
    if key.expires_at is not None:
        # Qdrant reads a float `exp` as a decode error (401): whole seconds only.
        claims["exp"] = int(key.expires_at.timestamp())
    return claims


@sensitive_variables("master_key")
def mint_jwt(cluster, key: DatabaseApiKey) -> str:
    master_key = cluster.master_key
    # sort_headers puts "alg" before "typ": {"alg":"HS256","typ":"JWT"} is
    # what makes the token start with "eyJhb". PyJWT sorts by default; say so
    # here so a change of that default cannot change the prefix unnoticed.
    # The runtime may add a claim: a cluster reached directly checks each
    # key's `value_exists` condition itself (clusters/connected.py).
    claims = claims_for(key) | runtime_for(cluster).key_claims(cluster, str(key.id))
    return jwt.encode(
        claims,
        master_key.encode("utf-8"),
        algorithm=ALGORITHM,
        headers={"typ": "JWT"},
        sort_headers=True,
    )


def new_admin_key() -> str:
    """An admin key: URL-safe random text, never a JWT (it has no dots), so the
    data plane and Qdrant both read it as a plain API key."""
    return secrets.token_urlsafe(ADMIN_KEY_BYTES)
