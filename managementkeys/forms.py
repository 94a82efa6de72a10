import uuid

from django import forms
from django.contrib.auth import get_user_model

from accounts.models import Account, Membership
from apikeys.forms import KeyEditForm, KeyForm


class ManagementKeyForm(KeyForm):
    """The console's create form: a name and an expiry (90 days unless changed),
    as database API keys have, with the one-time nonce."""


class ManagementKeyRenameForm(KeyEditForm):
    """A management key's name, with the rules of creating one; it has no description."""

    description = None


class BootstrapForm(forms.Form):
    """What `manage.py create_management_key` is given: an account and a member of it.

    The account by name or id, the user by username or email; both must exist
    and the user must be a member, since the key acts with their permissions.
    """

    account = forms.CharField()
    user = forms.CharField()

    def clean_account(self) -> Account:
        value = self.cleaned_data["account"].strip()
        query = Account.objects.filter(name=value)
        try:
            query = query | Account.objects.filter(id=uuid.UUID(value))
        except ValueError:
            pass
        account = query.first()
        if account is None:
            raise forms.ValidationError(f"No account is named or has the id {value!r}.")
        return account

    def clean_user(self):
        value = self.cleaned_data["user"].strip()
        users = get_user_model().objects
        user = users.filter(username=value).first()
        if user is None:
            matches = list(users.filter(email__iexact=value)[:2])
            if len(matches) > 1:
                raise forms.ValidationError(f"More than one user has the email {value!r}; give the username.")
            user = matches[0] if matches else None
        if user is None:
            raise forms.ValidationError(f"No user has the username or email {value!r}.")
        if not user.is_active:
            raise forms.ValidationError(f"{user.get_username()} is not active.")
        return user

    def clean(self):
        cleaned = super().clean()
        account, user = cleaned.get("account"), cleaned.get("user")
        if account and user:
            membership = Membership.objects.filter(account=account, user=user).first()
            if membership is None:
                raise forms.ValidationError(f"{user.get_username()} is not a member of {account.name}.")
            cleaned["membership"] = membership
        return cleaned
