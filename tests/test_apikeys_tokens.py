"""Minting: database API keys are the JWTs qdrant-auth.md describes."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import jwt
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apikeys.models import DatabaseApiKey
from createonce.digests import token_matches
from tests.fixtures.apikeys import MANAGE, READ_ONLY, make_key


def segment(token: str, index: int) -> bytes:
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode(token: str, cluster) -> dict:
    return jwt.decode(token, cluster.master_key.encode("utf-8"), algorithms=["HS256"])


def test_a_cluster_wide_manage_key_says_m_and_carries_its_id(cluster, owner):
    key, token = make_key(cluster, by=owner, rules=MANAGE)
    assert decode(token, cluster) == {"access": "m", "jti": str(key.id)}


def test_a_cluster_wide_read_only_key_says_r(cluster):
    key, token = make_key(cluster, rules=READ_ONLY)
    assert decode(token, cluster) == {"access": "r", "jti": str(key.id)}


def test_collection_rules_become_a_list_of_collection_and_access(cluster):
    rules = [{"collection": "books", "access": "r"}, {"collection": "films.v2", "access": "rw"}]
    key, token = make_key(cluster, rules=rules)
    assert decode(token, cluster)["access"] == [
        {"collection": "books", "access": "r"},
        {"collection": "films.v2", "access": "rw"},
    ]


def test_the_header_is_serialised_alg_first_so_the_key_starts_with_eyJhb(cluster):
    _, token = make_key(cluster)
    assert segment(token, 0) == b'{"alg":"HS256","typ":"JWT"}'
    assert token.startswith("eyJhb")


def test_exp_is_whole_seconds_when_the_key_expires(cluster):
    expires_at = timezone.now() + timedelta(days=30, microseconds=654321)
    key, token = make_key(cluster, expires_at=expires_at)
    payload = json.loads(segment(token, 1))
    assert type(payload["exp"]) is int  # a float exp is a decode error (401) in Qdrant
    assert payload["exp"] == int(expires_at.timestamp())
    key.refresh_from_db()
    assert key.expires_at.timestamp() == payload["exp"]
    assert set(payload) == {"access", "jti", "exp"}


def test_a_key_that_never_expires_has_no_exp(cluster):
    _, token = make_key(cluster, expires_at=None)
    assert "exp" not in json.loads(segment(token, 1))


def test_the_key_is_signed_with_this_clusters_master_key_only(cluster, other_cluster):
    _, token = make_key(cluster)
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token, other_cluster)


def test_only_a_postfix_and_a_peppered_digest_are_stored(cluster, settings):
    key, token = make_key(cluster)
    key.refresh_from_db()
    pepper = settings.API_KEY_PEPPERS[key.pepper_id]
    assert key.postfix == token[-6:]
    assert key.digest == hmac.new(pepper.encode(), token.encode(), hashlib.sha256).hexdigest()
    assert key.pepper_id == max(settings.API_KEY_PEPPERS)
    assert token_matches(key, token)
    assert not token_matches(key, token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_a_new_pepper_digests_new_keys_and_old_keys_still_match(cluster, settings):
    old_key, old_token = make_key(cluster)
    settings.API_KEY_PEPPERS = settings.API_KEY_PEPPERS | {99: "n" * 40}
    new_key, new_token = make_key(cluster)
    assert new_key.pepper_id == 99 and old_key.pepper_id != 99
    assert token_matches(old_key, old_token) and token_matches(new_key, new_token)
    settings.API_KEY_PEPPERS = {99: "n" * 40}
    assert not token_matches(old_key, old_token)  # its pepper is gone: it matches nothing


def test_a_cluster_without_jwt_rbac_gets_no_key(legacy_cluster):
    assert not legacy_cluster.jwt_rbac
    with pytest.raises(ValidationError, match="not enabled"):
        make_key(legacy_cluster)
    assert not DatabaseApiKey.objects.exists()


@pytest.mark.parametrize(
    "rules",
    [
        [],
        [{"collection": None, "access": "m"}, {"collection": "books", "access": "r"}],  # both kinds
        [{"collection": None, "access": "rw"}],
        [{"collection": "books", "access": "m"}],
        [{"collection": "books", "access": "r"}, {"collection": "books", "access": "rw"}],
        [{"collection": f"c{i}", "access": "r"} for i in range(21)],
        [{"collection": "has space", "access": "r"}],
        [{"collection": "books", "access": "r", "payload": {}}],
    ],
)
def test_the_service_refuses_rules_qdrant_would_refuse(cluster, rules):
    with pytest.raises(ValidationError):
        make_key(cluster, rules=rules)
    assert not DatabaseApiKey.objects.exists()
