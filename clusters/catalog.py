"""What a cluster can be created with: providers, their regions, versions."""

from datetime import date

PROVIDERS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "aws": (
        "AWS",
        [
            ("us-east-1", "US East (N. Virginia)"),
            ("us-west-2", "US West (Oregon)"),
            ("eu-central-1", "Europe (Frankfurt)"),
            ("eu-west-1", "Europe (Ireland)"),
            ("ap-southeast-1", "Asia Pacific (Singapore)"),
        ],
    ),
    "gcp": (
        "Google Cloud",
        [
            ("us-east4", "N. Virginia"),
            ("europe-west3", "Frankfurt"),
            ("asia-south1", "Mumbai"),
        ],
    ),
    "azure": (
        "Azure",
        [
            ("eastus", "East US"),
            ("germanywestcentral", "Germany West Central"),
        ],
    ),
}

# Clusters that do not run in a cloud region of ours follow Qdrant Cloud's
# model for Hybrid Cloud: provider "hybrid", and the region names the
# environment (docs/concepts/connected-clusters.md, "Where a cluster runs").
HYBRID = "hybrid"
PROVIDER_CHOICES = [(k, v[0]) for k, v in PROVIDERS.items()] + [(HYBRID, "Hybrid (runs outside a cloud region)")]

# Newest first; the first is what the create form offers by default.
VERSIONS = ["v1.19.0", "v1.18.2", "v1.17.1", "v1.16.3", "v1.12.6"]

# Clusters created on or after this day have granular database API keys
# (JWT RBAC) from the start; older ones use admin keys until enabled.
GRANULAR_KEYS_SINCE = date(2025, 1, 27)


def region_label(provider: str, region: str) -> str:
    for region_id, label in PROVIDERS.get(provider, ("", []))[1]:
        if region_id == region:
            return label
    return region


def provider_label(provider: str) -> str:
    if provider == HYBRID:
        return "Hybrid"
    return PROVIDERS.get(provider, (provider, []))[0]
