"""What the console may read from the data plane."""

import json
from pathlib import Path

from django.conf import settings


def live_collections(cluster) -> list[str]:
    """The names of the cluster's collections as the data plane stores them, sorted.

    Read from the collections' records on disk (written atomically by the
    process that owns the cluster), so it needs neither a key nor a request.
    A cluster the data plane has never served has none.
    """
    root = Path(settings.DATAPLANE_DATA_DIR) / "clusters" / str(cluster.id) / "collections"
    names = []
    for record in root.glob("*/collection.json"):
        try:
            names.append(json.loads(record.read_text())["name"])
        except (OSError, ValueError, KeyError):
            continue  # being written or removed right now
    return sorted(names)
