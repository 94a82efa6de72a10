"""The digest check of a key's secret, the same on both sides of the contract.

The console stores a key as HMAC-SHA256(pepper, secret) with the pepper's id
(never the secret); the front finds admin keys by that digest and checks that
a database key's JWT is the very one the console minted. Peppers are passed
in (the console reads API_KEY_PEPPERS, the front gets them in the snapshot),
so this module needs no settings.
"""

from __future__ import annotations

import hashlib
import hmac


def digest(pepper: bytes, token: str) -> str:
    return hmac.new(pepper, token.encode("utf-8"), hashlib.sha256).hexdigest()


def matches(peppers: dict[int, bytes], pepper_id: int | None, stored: str | None, token: str) -> bool:
    """Whether `token` digests to `stored` under pepper `pepper_id`, in constant
    time. A digest under a pepper that is no longer configured matches nothing."""
    pepper = peppers.get(pepper_id) if pepper_id is not None else None
    if stored is None or pepper is None:
        return False
    return hmac.compare_digest(digest(pepper, token), stored)
