from django.apps import AppConfig


class KeysetConfig(AppConfig):
    name = "keyset"
    verbose_name = "Key set"
