from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        # Django announces logins only through these signals; the handlers
        # hand over to named services at once.
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from audit import services

        def logged_in(sender, request, user, **kwargs):
            services.login_record(user=user, request=request)

        def login_failed(sender, credentials, request=None, **kwargs):
            services.login_failure_record(username=str(credentials.get("username", ""))[:150], request=request)

        user_logged_in.connect(logged_in, weak=False, dispatch_uid="audit.login")
        user_login_failed.connect(login_failed, weak=False, dispatch_uid="audit.login_failed")
