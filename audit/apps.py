from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        # Django announces logins only through these signals; the handlers
        # hand over to named services at once.
        # (Failed logins and lockouts are recorded by accounts.login_throttle,
        # which knows whether the attempt was refused by a lockout.)
        from django.contrib.auth.signals import user_logged_in

        from audit import services

        def logged_in(sender, request, user, **kwargs):
            services.login_record(user=user, request=request)

        user_logged_in.connect(logged_in, weak=False, dispatch_uid="audit.login")
