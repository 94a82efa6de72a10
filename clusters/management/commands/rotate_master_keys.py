from django.core.management.base import BaseCommand

from clusters.services import master_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypts every cluster's master key under the first key of "
        "CLUSTER_KEY_ENCRYPTION_KEYS. Run after putting a new key in front; "
        "then the old key can be removed."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Re-encrypted {master_keys_rotate()} master keys.")
