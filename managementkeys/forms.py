import uuid

from django import forms
from django.contrib.auth import get_user_model

from accounts.models import Account, Membership
from accounts.roles import PERMISSIONS, permission_groups
from apikeys.forms import SERVICE_FIELDS, KeyEditForm, KeyForm
from apikeys.key_policy import policy_of
from apikeys.policy import MANAGEMENT

ALL_CLUSTERS, CHOSEN_CLUSTERS = "all", "chosen"
# management_key_create's field names, where the create form shows their errors.
MANAGEMENT_SERVICE_FIELDS = SERVICE_FIELDS | {"cluster_ids": "clusters", "created_by": None}


class ManagementKeyForm(KeyForm):
    """The console's create form: a name and an expiry (90 days unless changed)
    and allowed addresses, as database API keys have, with the one-time nonce;
    and the key's scope: which of the creator's permissions (all of them
    ticked to start with) and which clusters (every one, or some).

    Only the permissions `held` are offered; the service checks again, since
    a role can change between the GET and the POST.
    """

    permissions = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "Choose at least one permission.",
            "invalid_choice": "%(value)s is not a permission you hold.",
        },
    )
    cluster_scope = forms.ChoiceField(
        label="Clusters",
        choices=[(ALL_CLUSTERS, "Every cluster of the account, present and future"),
                 (CHOSEN_CLUSTERS, "Only the clusters chosen below")],
        initial=ALL_CLUSTERS,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose every cluster or some.", "invalid_choice": "Choose every cluster or some."},
    )
    clusters = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                         error_messages={"invalid_choice": "Choose clusters of this account."})

    policy_kind = MANAGEMENT

    def __init__(self, *args, held: frozenset[str], account: Account, **kwargs):
        super().__init__(*args, policy=policy_of(account), **kwargs)
        offered = [p for p in PERMISSIONS if p in held]
        self.fields["permissions"].choices = [(p, p) for p in offered]
        self.fields["permissions"].initial = offered
        self.fields["clusters"].choices = [(str(c.id), c.name) for c in account.clusters.order_by("name")]

    def clean(self):
        cleaned = super().clean()
        chosen = cleaned.get("clusters") or []
        if cleaned.get("cluster_scope") == CHOSEN_CLUSTERS:
            if not chosen and "clusters" not in self.errors:
                self.add_error("clusters", "Choose at least one cluster, or let the key touch every cluster.")
            cleaned["cluster_ids"] = chosen
        else:
            cleaned["cluster_ids"] = []
        return cleaned

    def permission_groups(self) -> list[dict]:
        """The offered permissions by category, each with its words and whether it is ticked (`held`)."""
        return permission_groups(set(self["permissions"].value() or []),
                                 offered={value for value, _ in self.fields["permissions"].choices})

    def cluster_options(self) -> list[dict]:
        ticked = set(self["clusters"].value() or [])
        return [{"value": value, "name": name, "checked": value in ticked}
                for value, name in self.fields["clusters"].choices]


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
