from django.core.management.base import BaseCommand, CommandError

from managementkeys.forms import BootstrapForm
from managementkeys.services import management_key_create


class Command(BaseCommand):
    help = (
        "Creates a management key that acts with the user's permissions in the account, for bootstrapping "
        "automation. The key is printed once, alone on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="account name or id")
        parser.add_argument("--user", required=True, help="username or email of a member of the account")

    def handle(self, *args, **options):
        form = BootstrapForm({"account": options["account"], "user": options["user"]})
        if not form.is_valid():
            raise CommandError(" ".join(message for messages in form.errors.values() for message in messages))
        account, user, membership = (form.cleaned_data[name] for name in ("account", "user", "membership"))
        key, plaintext = management_key_create(account=account, by=user)
        self.stdout.write(
            f"Created management key {key.prefix} (id {key.id}) in {account.name} (account id {account.id}); "
            f"it acts as {user.get_username()} ({membership.role}). Store it now: it is not shown again."
        )
        self.stdout.write(plaintext)
