"""Where a cluster runs, as the Cloud API says it, and what it can be created with."""

import socket
from datetime import date

# No cluster of this console runs in a cloud provider's region: its nodes run
# on this console's host (embedded, or Qdrant processes) or wherever the team
# runs a connected one. So every cluster follows Qdrant Cloud's model for
# clusters outside its cloud: provider "hybrid", and the region names the
# environment, a host (docs/concepts/connected-clusters.md, "Where a cluster runs").
HYBRID = "hybrid"
PROVIDER_CHOICES = [(HYBRID, "Hybrid")]

# Newest first; the first is what the create form offers by default.
VERSIONS = ["v1.19.0", "v1.18.2", "v1.17.1", "v1.16.3", "v1.12.6"]

# Clusters created on or after this day have granular database API keys
# (JWT RBAC) from the start; older ones use admin keys until enabled.
GRANULAR_KEYS_SINCE = date(2025, 1, 27)


def this_host() -> str:
    """The environment of the clusters this console runs: its own host's name
    (the region field holds 32 characters)."""
    return socket.gethostname()[:32] or "localhost"
