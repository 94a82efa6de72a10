"""The console's one read of the data plane: an `embedded` cluster's collection names."""

from __future__ import annotations

from fronts.models import EmbeddedOwner


def embedded_collections(cluster_id) -> list[str]:
    """The names of an `embedded` cluster's collections, sorted, as the front
    that owns its storage last reported them over the contract (keyset/wire.py's
    COLLECTIONS_PATH): the storage is on that front's host, maybe not this one.
    A cluster no front has served yet has none."""
    names = EmbeddedOwner.objects.filter(cluster_id=cluster_id).values_list("collections", flat=True).first()
    return sorted(names or [])
