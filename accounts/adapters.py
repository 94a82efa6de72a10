"""django-allauth, fitted to the console (settings: ACCOUNT_ADAPTER, MFA_ADAPTER,
SOCIALACCOUNT_ADAPTER).

Who may sign up is SIGNUP (open or invite: invitees sign up on the
invitation's own page, accounts/views.invitation). TOTP keys are
encrypted at rest with the same Fernet keys as clusters' master keys
(recovery codes are kept as digests: accounts/recovery_codes.py). Single sign-on users are matched by
verified email; a new one joins OIDC_JOIN_ACCOUNT, if set, with OIDC_JOIN_ROLE.
"""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings

from clusters import crypto


class AccountAdapter(DefaultAccountAdapter):
    # The wording the login page had before allauth (Django's).
    error_messages = DefaultAccountAdapter.error_messages | {
        "username_password_mismatch": "Please enter a correct username and password. Note that both fields may be case-sensitive.",
    }

    def is_open_for_signup(self, request) -> bool:
        return settings.SIGNUP == "open"

    def add_message(self, request, level, message_template=None, *args, **kwargs) -> None:
        # Logging in or out lands on a page that shows it; no flash says so too.
        if message_template in ("account/messages/logged_in.txt", "account/messages/logged_out.txt"):
            return
        super().add_message(request, level, message_template, *args, **kwargs)

    def get_client_ip(self, request) -> str:
        # One rule for the client's address everywhere (keyset/client_address.py).
        from audit.services import client_ip

        return client_ip(request)


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return bool(settings.OIDC_JOIN_ACCOUNT) or settings.SIGNUP == "open"

    def save_user(self, request, sociallogin, form=None):
        from accounts.signin import sso_join

        user = super().save_user(request, sociallogin, form)
        sso_join(user=user, request=request)
        return user
