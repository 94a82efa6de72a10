from allauth.account import forms as allauth_forms
from allauth.core import context
from allauth.mfa.base import forms as mfa_forms
from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import AnyRole, CustomRole, Membership
from accounts.roles import PERMISSIONS, Role
from accounts.services import MAX_ROLE_NAME, MAX_SECRET_LENGTH, may_grant
from createonce.forms import NonceForm


def role_value(role: AnyRole) -> str:
    """A role as a form's choice: a system role by its name, a custom role by its id."""
    return str(role.id) if isinstance(role, CustomRole) else role.value


class RoleChoiceField(forms.ChoiceField):
    """The roles `granter` may hand out in their account, system roles first,
    in two groups; cleans to the Role or CustomRole chosen."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_choice": "Pick one of the roles listed."})
        super().__init__(*args, **kwargs)

    def offer(self, granter: Membership) -> None:
        self.custom_roles = {str(r.id): r for r in granter.account.custom_roles.all() if may_grant(granter, r)}
        system = [(role.value, role.label) for role in Role if may_grant(granter, role)]
        custom = [(value, role.name) for value, role in self.custom_roles.items()]
        self.choices = [("System roles", system)] + ([("Custom roles", custom)] if custom else [])

    def clean(self, value):
        value = super().clean(value)
        return self.custom_roles[value] if value in self.custom_roles else Role(value)


class InviteForm(NonceForm):
    email = forms.EmailField(max_length=254, error_messages={"required": "Give the address to send the invitation to."})
    role = RoleChoiceField()

    def __init__(self, *args, granter: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].offer(granter)
        self.fields["role"].initial = Role.VIEWER.value


class RoleForm(forms.Form):
    role = RoleChoiceField()

    def __init__(self, *args, granter: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].offer(granter)


class CustomRoleForm(forms.Form):
    """A custom role's name, description and permissions; the template draws
    the permissions grouped by category (accounts.roles.permission_groups)."""

    name = forms.CharField(
        max_length=MAX_ROLE_NAME, error_messages={"required": "Give the role a name."}, strip=False
    )
    description = forms.CharField(max_length=255, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    permissions = forms.MultipleChoiceField(
        choices=[(value, value) for value in PERMISSIONS],
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "Pick at least one permission.",
            "invalid_choice": "%(value)s is not a permission.",
        },
    )


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


class LoginForm(allauth_forms.LoginForm):
    """allauth's login, with the field named `username` as the console's login
    page always had it (scripts and password managers post that name)."""

    def add_prefix(self, field_name):
        return super().add_prefix("username" if field_name == "login" else field_name)


class _SecondFactorThrottle:
    """Wrong second-factor codes count with django-axes as failed logins of
    the user (settings: LOGIN_FAILURE_LIMIT), and a locked user can try no
    code at all: one throttle for every way in."""

    def clean_code(self):
        from axes.handlers.proxy import AxesProxyHandler

        from accounts.login_throttle import lockout_message

        request = context.request
        credentials = {"username": self.user.get_username()}
        if AxesProxyHandler.is_locked(request, credentials):
            raise forms.ValidationError(lockout_message(request, self.user.get_username()))
        try:
            return super().clean_code()
        except forms.ValidationError:
            AxesProxyHandler.user_login_failed(sender=type(self), credentials=credentials, request=request)
            raise


class SecondFactorForm(_SecondFactorThrottle, mfa_forms.AuthenticateForm):
    pass


class SecondFactorReauthForm(_SecondFactorThrottle, mfa_forms.ReauthenticateForm):
    pass


class AccountCreateForm(forms.Form):
    name = forms.CharField(max_length=128, error_messages={"required": "Give the account a name."})
