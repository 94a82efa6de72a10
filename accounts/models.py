import uuid

from django.conf import settings
from django.db import models

from accounts.roles import PERMISSIONS, ROLE_PERMISSIONS, Role


class Account(models.Model):
    """An organisation: it owns clusters, and users are its members."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=128, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by an owner: every member needs a second factor (TOTP or a security
    # key) and is sent to enrol one before anything else (accounts/middleware.py).
    require_second_factor = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


ROLE_CHOICES = [(role.value, role.label) for role in Role]


class CustomRole(models.Model):
    """An account's own role: a name, a description and a set of Qdrant
    Cloud permission strings (keys of accounts.roles.PERMISSIONS)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="custom_roles")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True, default="")
    # A JSON list, not PostgreSQL's ArrayField: the embedded default database is SQLite.
    permissions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("name"), "account", name="one_custom_role_name_per_account"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def permission_set(self) -> frozenset[str]:
        # Only known strings count, whatever the column holds.
        return frozenset(p for p in self.permissions if p in PERMISSIONS)


class HoldsRole(models.Model):
    """A member or an invitation: one role, a system role (`role`) or one of
    the account's custom roles (`custom_role`, with `role` empty)."""

    role = models.CharField(max_length=16, choices=ROLE_CHOICES, blank=True)
    custom_role = models.ForeignKey(
        CustomRole, null=True, blank=True, on_delete=models.PROTECT, related_name="%(class)ss"
    )

    class Meta:
        abstract = True

    @property
    def held_role(self) -> "AnyRole | None":
        """The role held (None: an invitation whose custom role was deleted since)."""
        if self.custom_role_id is not None:
            return self.custom_role
        return Role(self.role) if self.role else None

    def role_label(self) -> str:
        """The role's name as the console shows it."""
        return role_name(self.held_role)

    @property
    def permissions(self) -> frozenset[str]:
        role = self.held_role
        return role_permissions(role) if role is not None else frozenset()


# What a member or an invitation is given: a system role or one of the account's custom roles.
AnyRole = Role | CustomRole


def role_permissions(role: AnyRole) -> frozenset[str]:
    return role.permission_set if isinstance(role, CustomRole) else ROLE_PERMISSIONS[role]


def role_name(role: AnyRole | None) -> str:
    if role is None:
        return "a deleted role"
    return role.name if isinstance(role, CustomRole) else role.label


class Membership(HoldsRole):
    # Declared here: Django would otherwise give the `role` field's choices display
    # precedence over the inherited method, and templates call get_role_display.
    get_role_display = HoldsRole.role_label

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    # The member's public identifier, in URLs (the integer key never is).
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "user"], name="one_membership_per_account"),
            # Exactly one of the two: a system role or a custom role.
            models.CheckConstraint(
                condition=(models.Q(role="") & models.Q(custom_role__isnull=False))
                | (~models.Q(role="") & models.Q(custom_role__isnull=True)),
                name="membership_has_one_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} of {self.account}"

    @property
    def name(self) -> str:
        """What the audit log calls the member: their username."""
        return self.user.get_username()



class Invitation(HoldsRole):
    """An invitation to join an account, sent by email as a one-time link.

    The link carries `secret`, of which only an HMAC-SHA256 digest under a
    numbered pepper is stored (createonce/digests.py), like every secret here.
    The secret travels in the link's fragment (`#…`), which browsers never
    send to a server, so no access log or Referer header carries it.
    """

    get_role_display = HoldsRole.role_label

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    # A custom role that is deleted leaves the used and expired invitations
    # that named it (a pending one keeps it in use: accounts/services.py).
    custom_role = models.ForeignKey(
        CustomRole, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations"
    )
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
    # The invite form's one-time nonce (createonce/): a reload of "Invitation
    # sent" finds this invitation instead of sending a new link.
    nonce = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)

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
