"""Explain a key: which key of the account a pasted token or admin key is, and what it may do.

What was pasted is only compared, never kept: it is digested with each
configured pepper and matched against the stored digests (as the data plane
does), within the caller's account only. Anything else - another account's
key, a token the console never minted, garbage - is "unknown", and says no
more than that.
"""

import base64
import binascii
import json
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.views.decorators.debug import sensitive_variables

from apikeys.models import AdminKey, DatabaseApiKey, IssuedKey
from createonce.digests import token_digest, token_matches

UNKNOWN = "unknown"


@dataclass
class Explanation:
    state: str  # the key's state (apikeys/states.py), or UNKNOWN
    key: IssuedKey | None = None

    @property
    def state_label(self) -> str:
        return self.key.state.label if self.key is not None else "Unknown"


@sensitive_variables("pasted")
def explain(account, pasted: str) -> Explanation:
    key = _database_key(account, pasted) or _admin_key(account, pasted)
    return Explanation(UNKNOWN) if key is None else Explanation(key.state, key)


@sensitive_variables("pasted")
def _database_key(account, pasted: str) -> DatabaseApiKey | None:
    """A JWT names its key in `jti`; the digest proves it is the token minted for it."""
    parts = pasted.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        key_id = uuid.UUID(claims["jti"])
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
        return None
    key = (
        DatabaseApiKey.objects.filter(cluster__account=account, id=key_id)
        .select_related("cluster", "created_by")
        .first()
    )
    return key if key is not None and token_matches(key, pasted) else None


@sensitive_variables("pasted")
def _admin_key(account, pasted: str) -> AdminKey | None:
    """An admin key is found by its digest under any configured pepper."""
    match = Q()
    for pepper_id in settings.API_KEY_PEPPERS:
        match |= Q(pepper_id=pepper_id, digest=token_digest(pasted, pepper_id))
    key = AdminKey.objects.filter(match, cluster__account=account).select_related("cluster", "created_by").first()
    return key if key is not None and token_matches(key, pasted) else None
