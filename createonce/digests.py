"""What is kept of a secret shown once: its HMAC-SHA256 digest under a pepper
(API_KEY_PEPPERS), named by its id so the peppers can rotate. Database API
keys, admin keys, management keys and invitations are all stored this way,
and the fronts match keys the same way (keyset/digest.py)."""

from typing import Protocol

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from keyset.digest import digest, matches


def current_pepper_id() -> int:
    return max(settings.API_KEY_PEPPERS)


@sensitive_variables("token", "pepper")
def token_digest(token: str, pepper_id: int) -> str:
    return digest(settings.API_KEY_PEPPERS[pepper_id].encode("utf-8"), token)


class Digested(Protocol):
    """What is stored of a key instead of the key: database API keys, admin keys,
    management keys and the data plane's copies of them."""

    @property
    def pepper_id(self) -> int | None: ...

    @property
    def digest(self) -> str | None: ...


@sensitive_variables("token")
def token_matches(key: Digested, token: str) -> bool:
    """Whether `token` is the one `key` was minted as, in constant time.

    A key digested under a pepper that is no longer configured matches nothing.
    """
    return matches(peppers(), key.pepper_id, key.digest, token)


def peppers() -> dict[int, bytes]:
    """API_KEY_PEPPERS as keyset.digest takes them (and the snapshot sends them to the fronts)."""
    return {int(i): pepper.encode("utf-8") for i, pepper in settings.API_KEY_PEPPERS.items()}
