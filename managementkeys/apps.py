from django.apps import AppConfig


class ManagementKeysConfig(AppConfig):
    name = "managementkeys"
    verbose_name = "Management keys"
