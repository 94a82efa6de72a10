"""The console's one read of the data plane: an `embedded` cluster's collection names."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings


def embedded_collections(cluster_id) -> list[str]:
    """The names of an `embedded` cluster's collections as the data plane stores them, sorted.

    Read from the collections' records on disk (written atomically by the
    process that owns the cluster), so it needs neither a key nor a request.
    A cluster the data plane has never served has none. The console's one
    read of the data plane, here so that neither imports the other.
    """
    root = Path(settings.DATAPLANE_DATA_DIR) / "clusters" / str(cluster_id) / "collections"
    names = []
    for record in root.glob("*/collection.json"):
        try:
            names.append(json.loads(record.read_text())["name"])
        except (OSError, ValueError, KeyError):
            continue  # being written or removed right now
    return sorted(names)

