from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import Membership
from accounts.roles import Role
from accounts.services import MAX_SECRET_LENGTH, may_grant


def role_choices(granter: Membership) -> list[tuple[str, str]]:
    return [(role.value, role.label) for role in Role if may_grant(granter, role)]


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254, error_messages={"required": "Give the address to send the invitation to."})
    role = forms.ChoiceField()

    def __init__(self, *args, granter: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(granter)
        self.fields["role"].initial = Role.VIEWER.value


class RoleForm(forms.Form):
    role = forms.ChoiceField()

    def __init__(self, *args, granter: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(granter)


class InvitationSecretForm(forms.Form):
    # Filled from the link's fragment by static/accounts/invitation.js.
    secret = forms.CharField(
        widget=forms.HiddenInput(attrs={"data-invitation-secret": ""}),
        max_length=MAX_SECRET_LENGTH,
        error_messages={"required": "Open the page with the link from the invitation email."},
    )


class SignUpForm(UserCreationForm):
    """A new user joining by invitation: a username and a password; the
    email is the invited address."""

    secret = InvitationSecretForm.base_fields["secret"]

    class Meta(UserCreationForm.Meta):
        fields = ("username",)
