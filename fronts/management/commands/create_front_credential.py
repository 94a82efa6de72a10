"""`manage.py create_front_credential NAME`: the KEYSET_CREDENTIAL of a new front, printed once."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from fronts.credentials import front_credential_create


class Command(BaseCommand):
    help = "Makes a credential for a front (printed once, stored as a digest): give it to the front as KEYSET_CREDENTIAL."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        try:
            _front, credential = front_credential_create(name=name)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(credential)
        self.stderr.write(f"Front {name!r}: KEYSET_CREDENTIAL above, shown this once. "
                          f"Revoke it with `manage.py revoke_front_credential {name}`.")
