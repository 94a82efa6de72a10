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
    # The member's public identifier, in URLs (the integer key never is).
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "user"], name="one_membership_per_account")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.account}"

    @property
    def name(self) -> str:
        """What the audit log calls the member: their username."""
        return self.user.get_username()

    @property
    def permissions(self) -> frozenset[str]:
        return ROLE_PERMISSIONS[Role(self.role)]


class Invitation(models.Model):
    """An invitation to join an account, sent by email as a one-time link.

    The link carries `secret`, of which only an HMAC-SHA256 digest under a
    numbered pepper is stored (apikeys/tokens.py), like every secret here.
    The secret travels in the link's fragment (`#…`), which browsers never
    send to a server, so no access log or Referer header carries it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.ROLE_CHOICES)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    digest = models.CharField(max_length=64, editable=False)
    pepper_id = models.PositiveIntegerField(editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.account}"

    @property
    def name(self) -> str:
        """What the audit log calls the invitation."""
        return self.email

    def is_pending(self, now=None) -> bool:
        from django.utils import timezone

        return self.accepted_at is None and self.revoked_at is None and (now or timezone.now()) < self.expires_at
