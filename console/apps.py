from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The project itself, as an app for its management commands."""

    name = "console"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from celery.signals import task_failure, task_retry, task_success
        from django.contrib.auth.signals import user_login_failed

        from console import metrics

        user_login_failed.connect(metrics.on_login_failed, dispatch_uid="console.metrics.login_failed")
        user_locked_out.connect(metrics.on_locked_out, dispatch_uid="console.metrics.locked_out")
        task_success.connect(metrics.on_task_success, dispatch_uid="console.metrics.task_success")
        task_failure.connect(metrics.on_task_failure, dispatch_uid="console.metrics.task_failure")
        task_retry.connect(metrics.on_task_retry, dispatch_uid="console.metrics.task_retry")
