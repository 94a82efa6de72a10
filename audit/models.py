import uuid

from django.conf import settings
from django.db import models


class Action(models.TextChoices):
    ADMIN_KEY_CREATED = "admin_key.created", "Admin key created"
    ADMIN_KEY_DELETED = "admin_key.deleted", "Admin key deleted"
    DATABASE_KEY_CREATED = "database_key.created", "Database API key created"
    DATABASE_KEY_DELETED = "database_key.deleted", "Database API key deleted"
    MANAGEMENT_KEY_CREATED = "management_key.created", "Management key created"
    MANAGEMENT_KEY_DELETED = "management_key.deleted", "Management key deleted"
    GRANULAR_ACCESS_ENABLED = "cluster.granular_access_enabled", "Granular access enabled"
    RESTART_STARTED = "cluster.restart_started", "Restart started"
    RESTART_FINISHED = "cluster.restart_finished", "Restart finished"
    MEMBER_INVITED = "member.invited", "Member invited"
    INVITATION_REVOKED = "member.invitation_revoked", "Invitation revoked"
    MEMBER_JOINED = "member.joined", "Member joined"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member's role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"


# model_name of an audited object -> what the console calls it.
TARGET_LABELS = {
    "cluster": "Cluster",
    "adminkey": "Admin key",
    "databaseapikey": "Database API key",
    "managementkey": "Management key",
    "membership": "Member",
    "invitation": "Invitation",
}


class AuditEntry(models.Model):
    """Who did what to which object of an account, when, and from where."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="audit_entries")
    # Kept as text too, so the entry still says who after the user is deleted.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, choices=Action.choices)
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64)
    target_name = models.CharField(max_length=255, blank=True)
    # What changed, in words, where the action alone does not say (e.g. "Viewer → Admin").
    detail = models.CharField(max_length=255, blank=True, default="")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action} {self.target_name}"

    @property
    def target_label(self) -> str:
        """The object's kind in the words of the console, e.g. "Admin key"."""
        return TARGET_LABELS.get(self.target_type, self.target_type)
