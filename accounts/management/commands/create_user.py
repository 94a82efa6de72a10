"""`manage.py create_user USERNAME EMAIL [--account NAME]`: the first user of a
console whose sign-up is by invitation (SIGNUP=invite), or anyone an operator
adds by hand. The address counts as verified (the operator vouches for it);
the password is asked twice, or read from standard input when it is not a
terminal, never from the command line (it would stay in the shell history)."""

import getpass
import sys

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.signin import account_create


class Command(BaseCommand):
    help = "Creates a user with a verified email address and, with --account, a new account they own."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("email")
        parser.add_argument("--account", help="also create this account, owned by the new user")

    def handle(self, *args, username, email, account=None, **options):
        password = self._password()
        user = get_user_model()(username=username, email=email)
        try:
            user.full_clean(exclude=["password"])
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if EmailAddress.objects.filter(email__iexact=email).exists():
            raise CommandError(f"{email} already belongs to a user.")
        with transaction.atomic():
            user.set_password(password)
            user.save()
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            if account:
                try:
                    account_create(name=account, by=user)
                except ValidationError as error:
                    raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(f"Created user {username}" + (f", owner of {account}" if account else ""))

    def _password(self) -> str:
        if not sys.stdin.isatty():
            return sys.stdin.readline().rstrip("\n")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        return first
