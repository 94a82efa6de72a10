import uuid

from django.conf import settings
from django.db import models

from accounts.roles import ROLE_PERMISSIONS, Role


class Account(models.Model):
    """An organisation: it owns clusters, and users are its members."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=128, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    ROLE_CHOICES = [(role.value, role.label) for role in Role]

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="one_membership_per_account")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.account}"

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS[Role(self.role)]
