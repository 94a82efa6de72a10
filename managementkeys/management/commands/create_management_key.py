from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apikeys.models import parse_networks
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
        parser.add_argument("--name", default="bootstrap", help="what lists call the key (default: bootstrap)")
        parser.add_argument(
            "--expires-in-days", type=int, default=None, help="days until the key expires (default: never)"
        )
        parser.add_argument("--permission", action="append", dest="permissions", metavar="PERMISSION",
                            help="a permission string the key holds, repeated (default: all the user holds)")
        parser.add_argument("--cluster", action="append", dest="cluster_ids", metavar="CLUSTER_ID",
                            help="a cluster id the key may touch, repeated (default: every cluster)")
        parser.add_argument("--allowed-network", action="append", dest="networks", metavar="CIDR",
                            help="a network the key may be used from, repeated (default: anywhere)")

    def handle(self, *args, **options):
        form = BootstrapForm({"account": options["account"], "user": options["user"]})
        if not form.is_valid():
            raise CommandError(" ".join(message for messages in form.errors.values() for message in messages))
        account, user, membership = (form.cleaned_data[name] for name in ("account", "user", "membership"))
        days = options["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=days) if days is not None else None
        try:
            key, plaintext = management_key_create(
                account=account, by=user, name=options["name"], expires_at=expires_at,
                permissions=options["permissions"], cluster_ids=options["cluster_ids"],
                allowed_networks=parse_networks(",".join(options["networks"] or [])),
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(
            f"Created management key {key.name} ({key.prefix}…, id {key.id}) in {account.name} (account id {account.id}); "
            f"it acts as {user.get_username()} ({membership.get_role_display()}). Store it now: it is not shown again."
        )
        self.stdout.write(plaintext)
