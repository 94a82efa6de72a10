from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed

        from accounts import login_throttle

        user_login_failed.connect(login_throttle.on_login_failed, dispatch_uid="accounts.login_failed")
        user_locked_out.connect(login_throttle.on_locked_out, dispatch_uid="accounts.locked_out")

        from allauth.account.signals import password_changed, password_reset
        from allauth.mfa import signals as mfa
        from django.contrib.auth.signals import user_logged_in

        from accounts import recovery_codes, signin

        recovery_codes.install()

        user_logged_in.connect(signin.on_logged_in, dispatch_uid="accounts.logged_in")
        mfa.authenticator_added.connect(signin.on_authenticator_added, dispatch_uid="accounts.mfa_added")
        mfa.authenticator_removed.connect(signin.on_authenticator_removed, dispatch_uid="accounts.mfa_removed")
        mfa.authenticator_reset.connect(signin.on_authenticator_reset, dispatch_uid="accounts.mfa_reset")
        mfa.authenticator_used.connect(signin.on_authenticator_used, dispatch_uid="accounts.mfa_used")
        mfa.authentication_failed.connect(signin.on_authentication_failed, dispatch_uid="accounts.mfa_failed")
        password_changed.connect(signin.on_password_changed, dispatch_uid="accounts.password_changed")
        password_reset.connect(signin.on_password_changed, dispatch_uid="accounts.password_reset")
