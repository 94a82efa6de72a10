from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed

        from accounts import login_throttle

        user_login_failed.connect(login_throttle.on_login_failed, dispatch_uid="accounts.login_failed")
        user_locked_out.connect(login_throttle.on_locked_out, dispatch_uid="accounts.locked_out")
