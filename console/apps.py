from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The project itself, as an app for its management commands."""

    name = "console"
