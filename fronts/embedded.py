"""The console's reads of the data plane's embedded clusters: their collection
names, and whether their owner front is out of this host's reach."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from fronts.changelog import CONTACT_STALE_SECONDS, handshaken
from fronts.models import EmbeddedOwner, FrontInstance


def embedded_collections(cluster_id) -> list[str]:
    """The names of an `embedded` cluster's collections, sorted, as the front
    that owns its storage last reported them over the contract (keyset/wire.py's
    COLLECTIONS_PATH): the storage is on that front's host, maybe not this one.
    A cluster no front has served yet has none."""
    names = EmbeddedOwner.objects.filter(cluster_id=cluster_id).values_list("collections", flat=True).first()
    return sorted(names or [])


def embedded_owner_elsewhere(cluster_id) -> str | None:
    """The name of the front that owns the cluster's storage when it is
    running but none of its processes answers the handshake on this host (it
    runs on another): what the console asks over the handshake cannot reach
    it. None when the owner runs here, is not running, or there is none."""
    owner = EmbeddedOwner.objects.filter(cluster_id=cluster_id).values_list("front", flat=True).first()
    if owner is None:
        return None
    recent = timezone.now() - timedelta(seconds=CONTACT_STALE_SECONDS)
    instances = list(FrontInstance.objects.filter(credential__name=owner, credential__revoked_at__isnull=True,
                                                  last_contact_at__gt=recent).values_list("instance", flat=True))
    return owner if instances and not any(map(handshaken, instances)) else None
