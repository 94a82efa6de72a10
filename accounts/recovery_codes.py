"""Recovery codes shown once, stored as digests, each usable once.

allauth keeps a seed from which it derives the codes, so anyone who can read
the database (and the encryption key) can read every code, and it can show
them again. Here the codes are made with `secrets` when they are first shown
and only their SHA-256 digests are kept, with which of them are used: the
plaintext exists in that one response and nowhere else. Eighty random bits a
code make a plain digest safe against guessing from a stolen table.

allauth has no hook for the class that keeps recovery codes, so
`install()` (AccountsConfig.ready) puts this one where allauth looks it up;
tests/test_second_factor.py fails if an upgrade stops looking there.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from allauth.mfa import app_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal import auth as allauth_auth
from allauth.mfa.recovery_codes.internal import flows as allauth_flows
from django.db import transaction

CODE_BYTES = 10  # 80 bits, written as 5 groups of 4 hex digits
HIDDEN = "****"  # what a page gets in place of a code it may not show

SeedRecoveryCodes = allauth_auth.RecoveryCodes  # allauth's own, for migrating its seeds (0007)


def new_code() -> str:
    raw = secrets.token_hex(CODE_BYTES)
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def digest(code: str) -> str:
    # People copy codes with or without the dashes, in either case, with spaces.
    normal = "".join(c for c in code.lower() if c in "0123456789abcdef")
    return hashlib.sha256(normal.encode()).hexdigest()


class DigestRecoveryCodes(allauth_auth.RecoveryCodes):
    """The authenticator's data: `digests` (one per code), `used_mask` (bit i
    set once code i was used) and allauth's `viewed_at`. No codes until the
    first view mints them (`mark_as_viewed`), so a page that would show them
    again has nothing to show."""

    def __init__(self, instance: Authenticator) -> None:
        super().__init__(instance)
        self.shown: list[str] | None = None  # the codes minted by this request, if any

    @classmethod
    def activate(cls, user) -> DigestRecoveryCodes:
        instance = Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.RECOVERY_CODES).first()
        if instance is None:
            instance = Authenticator.objects.create(
                user=user, type=Authenticator.Type.RECOVERY_CODES, data={"digests": [], "used_mask": 0}
            )
        return cls(instance)

    @transaction.atomic
    def mark_as_viewed(self) -> None:
        # Locked: two tabs opening the page at once must not both mint codes.
        self.instance = Authenticator.objects.select_for_update().get(pk=self.instance.pk)
        if self.did_view:
            return
        self.shown = [new_code() for _ in range(app_settings.RECOVERY_CODE_COUNT)]
        self.instance.data = {"digests": [digest(c) for c in self.shown], "used_mask": 0, "viewed_at": time.time()}
        self.instance.save(update_fields=["data"])

    def _unused(self) -> list[int]:
        return [i for i in range(len(self.instance.data.get("digests", []))) if not self._is_code_used(i)]

    def generate_codes(self) -> list[str]:
        # allauth's pages take the total from this.
        return self.shown or [HIDDEN] * len(self.instance.data.get("digests", []))

    def get_unused_codes(self) -> list[str]:
        # allauth's pages count these and mask them when they may not be shown;
        # only the request that minted the codes has them to give.
        return [self.shown[i] if self.shown else HIDDEN for i in self._unused()]

    @transaction.atomic
    def validate_code(self, code: str) -> bool:
        self.instance = Authenticator.objects.select_for_update().get(pk=self.instance.pk)
        given = digest(code)
        for i in self._unused():
            if hmac.compare_digest(given, self.instance.data["digests"][i]):
                self._mark_code_used(i)
                return True
        return False


def install() -> None:
    allauth_auth.RecoveryCodes = DigestRecoveryCodes  # Authenticator.wrap() imports it from here
    allauth_flows.RecoveryCodes = DigestRecoveryCodes  # generating and regenerating
