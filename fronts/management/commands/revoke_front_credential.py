"""`manage.py revoke_front_credential NAME`: the front is refused from its next request."""

from django.core.management.base import BaseCommand, CommandError

from fronts.credentials import front_credential_revoke
from fronts.models import FrontCredential


class Command(BaseCommand):
    help = "Revokes a front's credential: the console refuses it at once and stops waiting for it."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        try:
            front_credential_revoke(name=name)
        except FrontCredential.DoesNotExist:
            raise CommandError(f"No live front credential is named {name!r}.") from None
        self.stdout.write(f"Revoked {name!r}.")
