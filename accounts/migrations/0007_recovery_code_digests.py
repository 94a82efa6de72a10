"""Recovery codes kept by allauth as an encrypted seed become the digests of
the codes still unused (accounts/recovery_codes.py): users keep the codes
they wrote down, and the seed leaves the database."""

import time

from django.db import migrations


def seeds_to_digests(apps, schema_editor):
    from accounts.recovery_codes import SeedRecoveryCodes, digest

    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.filter(type="recovery_codes"):
        if "digests" in authenticator.data:
            continue
        codes = SeedRecoveryCodes(authenticator).get_unused_codes()
        viewed_at = authenticator.data.get("viewed_at") or time.time()  # never shown again
        authenticator.data = {"digests": [digest(c) for c in codes], "used_mask": 0, "viewed_at": viewed_at}
        authenticator.save(update_fields=["data"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_verified_emails"), ("mfa", "0003_authenticator_type_uniq")]

    operations = [migrations.RunPython(seeds_to_digests)]
