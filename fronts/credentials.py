"""A front's credential: made, revoked, checked; and what each front process last told the console."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.debug import sensitive_variables

from createonce.digests import current_pepper_id, peppers, token_digest
from fronts.changelog import keys_changed
from fronts.models import FrontCredential, FrontInstance
from keyset.digest import matches
from keyset.wire import credential_parts

SECRET_BYTES = 32
# A process's contact is written at most this often unless it applied something new.
CONTACT_WRITE_SECONDS = 1.0


@sensitive_variables("secret", "credential")
@transaction.atomic
def front_credential_create(*, name: str) -> tuple[FrontCredential, str]:
    """A new credential: the row (its digest only) and the text to give the front, shown once."""
    front = FrontCredential(id=uuid.uuid4(), name=name, pepper_id=current_pepper_id())
    secret = secrets.token_urlsafe(SECRET_BYTES)
    credential = f"{front.id.hex}.{secret}"
    front.digest = token_digest(credential, front.pepper_id)
    front.full_clean()
    front.save(force_insert=True)
    keys_changed()  # every front learns its peer token's digest (front_peer_token)
    return front, credential


@transaction.atomic
def front_credential_revoke(*, name: str) -> FrontCredential:
    """Refuses the credential from now on; its processes are no longer waited for."""
    front = FrontCredential.objects.select_for_update().get(name=name, revoked_at__isnull=True)
    front.revoked_at = timezone.now()
    front.save(update_fields=["revoked_at"])
    front.instances.all().delete()
    # A change that names nothing: every front loads a snapshot, in which its
    # peer token's digest is gone, so an owner refuses its storage operations.
    # The wake-up also ends its own long-poll now (refused at once).
    keys_changed()
    return front


@sensitive_variables("token")
def front_peer_token(front: FrontCredential) -> str:
    """The secret `front` shows other fronts with the storage operations it
    forwards to them (keyset/wire.py): derived from the console's SECRET_KEY
    and the credential's id, so nothing is stored, and sent to that front
    alone; the others get its keyset.wire.peer_digest."""
    return salted_hmac("fronts.peer-token", front.id.hex, algorithm="sha256").hexdigest()


@sensitive_variables("credential")
def front_for(credential: str) -> FrontCredential | None:
    """The live credential this text is, found by its id and checked by its digest; None otherwise."""
    parts = credential_parts(credential)
    if parts is None:
        return None
    try:
        ident = uuid.UUID(hex=parts[0])
    except ValueError:
        return None
    front = FrontCredential.objects.filter(id=ident, revoked_at__isnull=True).first()
    if front is None or not matches(peppers(), front.pepper_id, front.digest, credential):
        return None
    return front


def front_contact(*, front: FrontCredential, instance: str, address: str | None, applied: int | None) -> None:
    """Notes that a process of `front` spoke: a write only when it applied
    something new or its last noted contact is older than CONTACT_WRITE_SECONDS."""
    now = timezone.now()
    values = {"address": address, "last_contact_at": now}
    if applied is not None:
        values["applied_sequence"] = applied
    stale = FrontInstance.objects.filter(credential=front, instance=instance).exclude(
        last_contact_at__gt=now - timedelta(seconds=CONTACT_WRITE_SECONDS),
        applied_sequence__gte=applied if applied is not None else 0,
    )
    if not stale.update(**values):
        try:
            FrontInstance.objects.get_or_create(credential=front, instance=instance, defaults=values)
        except IntegrityError:
            pass  # the credential was deleted meanwhile (runall makes its own anew): nothing to note


def front_instances_prune(*, before) -> int:
    """Forgets the processes not heard from since `before` (each restart of a front is a new one)."""
    deleted, _ = FrontInstance.objects.filter(last_contact_at__lt=before).delete()
    return deleted
