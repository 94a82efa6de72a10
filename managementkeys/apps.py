from django.apps import AppConfig


class ManagementKeysConfig(AppConfig):
    name = "managementkeys"
    verbose_name = "Management keys"

    def ready(self):
        from apikeys import key_policy
        from apikeys.policy import MANAGEMENT
        from managementkeys.models import ManagementKey

        def management_keys(account, policy):
            return key_policy.candidates(ManagementKey.objects.filter(account=account), policy, MANAGEMENT)

        # The key policy page lists management keys that break the policy too.
        if management_keys.__qualname__ not in {f.__qualname__ for f in key_policy.KEY_SOURCES}:
            key_policy.KEY_SOURCES.append(management_keys)
